/**
 * The engine's Microsoft Graph source (Exchange Online): access to Graph per tenant, the
 * subscription of each `graph` registration, the intake of what Graph POSTs back, the renewal
 * job, and the fields of pushes. docs/graph.md describes the whole.
 */
export { GraphAccess, type GraphAccessOptions, type TenantGraph, type TenantGraphConfig } from './access.ts';
export { GraphEncryptionKeys } from './encryption-keys.ts';
export { GraphFetcher } from './fetch.ts';
export {
  GraphIntake,
  type GraphIntakeAnswer,
  type GraphIntakeOptions,
  type GraphOutboxPayload,
} from './intake.ts';
export { type GraphCheckinState, GraphRegistrationFlows } from './registrations.ts';
export {
  GRAPH_RENEWAL_LEASE,
  GraphRenewalJob,
  type GraphRenewalPass,
  type GraphRenewalSettings,
} from './renewal.ts';
export {
  GRAPH_LIFECYCLE_PREFIX,
  GRAPH_NOTIFY_PREFIX,
  type GraphCaller,
  GraphSubscriptions,
} from './subscriptions.ts';
