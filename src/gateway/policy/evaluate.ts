/**
 * The gateway's compliance policy: an ordered list of allow/block rules and a default
 * (store `GatewayRule`, operator.md "Gateway"). Compiled once per reload, evaluated per request
 * without allocation-heavy work:
 *
 * - rules run in `priority` order, lower first; equal priorities keep the order given (the store
 *   lists them oldest first); the first rule that matches decides;
 * - a rule matches when every matcher it sets matches, unset (null) matchers match anything:
 *   `deviceId` and `deviceType` equal the request's ActiveSync values ignoring case; `user`
 *   equals, ignoring case, any of the request's identities (certificate UPN, the Authorization
 *   names); a block rule's `user` also matches the names a request only claims (the ActiveSync
 *   query's `User`, the mailboxes an EWS request acts on), an allow rule's never does, so a
 *   claimed name can get a request blocked but never let in; `userAgent` is a JavaScript regular expression (source,
 *   no flags, unanchored) tested against the User-Agent header, '' when there is none;
 * - no rule matches: the default decides, with the reason `default policy`.
 *
 * A `userAgent` that does not compile makes its rule never match (so a broken allow rule cannot
 * let everyone in, and a broken block rule is reported instead of failing every request); it is
 * listed in `problems` for the operator.
 *
 * ReDoS bound: the User-Agent is truncated to MAX_USER_AGENT_LENGTH (512) characters before any
 * pattern runs, and patterns are at most 500 characters (store limit). That bounds patterns
 * whose cost is polynomial in the input; a pattern with nested quantifiers such as `(a+)+$` can
 * still backtrack exponentially within 512 characters, so such patterns must not be written
 * (V8's non-backtracking engine is not enabled by default in Node).
 */

export type PolicyAction = 'allow' | 'block';

/** The fields of the store's GatewayRule the policy reads. */
export interface GatewayRuleLike {
  readonly id: string;
  readonly action: PolicyAction;
  readonly priority: number;
  readonly deviceId: string | null;
  readonly deviceType: string | null;
  readonly user: string | null;
  /** Source of a JavaScript regular expression, compiled without flags. */
  readonly userAgent: string | null;
  readonly reason: string;
}

export interface PolicySubject {
  deviceId?: string;
  deviceType?: string;
  /** Names the request is authenticated as (certificate, Authorization): any rule may match them. */
  users: readonly string[];
  /**
   * Names the request only claims (ActiveSync `User=`, EWS mailboxes acted on, which a delegate or
   * an impersonating service account may name): only block rules match them.
   */
  claimedUsers?: readonly string[];
  userAgent?: string;
}

export interface PolicyDecision {
  action: PolicyAction;
  /** The rule that decided; undefined when the default did. */
  ruleId?: string;
  reason: string;
}

export interface PolicyProblem {
  ruleId: string;
  /** Safe to show an operator: names the rule and the compiler's message. */
  message: string;
}

export interface CompiledPolicy {
  readonly defaultAction: PolicyAction;
  /** Rules that can never match, and why. */
  readonly problems: readonly PolicyProblem[];
  evaluate(subject: PolicySubject): PolicyDecision;
}

/** User-Agent characters a pattern sees; the rest is cut off (see the ReDoS note above). */
export const MAX_USER_AGENT_LENGTH = 512;

export const DEFAULT_POLICY_REASON = 'default policy';

interface CompiledRule {
  id: string;
  action: PolicyAction;
  reason: string;
  deviceId: string | null;
  deviceType: string | null;
  user: string | null;
  userAgent: RegExp | null;
  /** False when its user-agent pattern did not compile: the rule is left out. */
  usable: boolean;
}

function lower(value: string | null): string | null {
  return value === null ? null : value.toLowerCase();
}

export function compilePolicy(
  rules: readonly GatewayRuleLike[],
  defaultAction: PolicyAction,
): CompiledPolicy {
  const problems: PolicyProblem[] = [];
  const compiled = rules.map((rule): CompiledRule & { priority: number } => {
    let userAgent: RegExp | null = null;
    let usable = true;
    if (rule.userAgent !== null) {
      try {
        userAgent = new RegExp(rule.userAgent);
      } catch (err) {
        usable = false;
        problems.push({
          ruleId: rule.id,
          message: `user agent pattern does not compile, the rule never matches: ${(err as Error).message}`,
        });
      }
    }
    return {
      id: rule.id,
      action: rule.action,
      reason: rule.reason,
      priority: rule.priority,
      deviceId: lower(rule.deviceId),
      deviceType: lower(rule.deviceType),
      user: lower(rule.user),
      userAgent,
      usable,
    };
  });
  // Array.prototype.sort is stable: equal priorities keep their given order.
  const ordered: readonly CompiledRule[] = compiled
    .filter((rule) => rule.usable)
    .sort((a, b) => a.priority - b.priority);

  return Object.freeze({
    defaultAction,
    problems: Object.freeze(problems),
    evaluate(subject: PolicySubject): PolicyDecision {
      const deviceId = subject.deviceId?.toLowerCase();
      const deviceType = subject.deviceType?.toLowerCase();
      const users = subject.users.map((u) => u.toLowerCase());
      const claimed = (subject.claimedUsers ?? []).map((u) => u.toLowerCase());
      // A request without the header is tested as '' (so `^$` can match it).
      const userAgent = (subject.userAgent ?? '').slice(0, MAX_USER_AGENT_LENGTH);
      for (const rule of ordered) {
        if (rule.deviceId !== null && rule.deviceId !== deviceId) continue;
        if (rule.deviceType !== null && rule.deviceType !== deviceType) continue;
        if (
          rule.user !== null &&
          !users.includes(rule.user) &&
          !(rule.action === 'block' && claimed.includes(rule.user))
        )
          continue;
        if (rule.userAgent !== null && !rule.userAgent.test(userAgent)) continue;
        return { action: rule.action, ruleId: rule.id, reason: rule.reason };
      }
      return { action: defaultAction, reason: DEFAULT_POLICY_REASON };
    },
  });
}
