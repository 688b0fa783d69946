/** The gateway's compliance policy: rules compiled once, evaluated per request. */
export {
  type CompiledPolicy,
  compilePolicy,
  DEFAULT_POLICY_REASON,
  type GatewayRuleLike,
  MAX_USER_AGENT_LENGTH,
  type PolicyAction,
  type PolicyDecision,
  type PolicyProblem,
  type PolicySubject,
} from './evaluate.ts';
