export { type Account, decryptCredentials } from './account.ts';
export { EWS_NOTIFY_PREFIX, ewsCallbackUrl, parseCallbackSegment } from './callback-url.ts';
export { type ComposeInput, collapseId, compose } from './compose.ts';
export {
  type DeliverySettings,
  DeliveryWorker,
  type DeliveryWorkerOptions,
  type EventOutcome,
  type PushSenderLookup,
} from './delivery.ts';
export {
  GRAPH_LIFECYCLE_PREFIX,
  GRAPH_NOTIFY_PREFIX,
  GRAPH_RENEWAL_LEASE,
  GraphAccess,
  GraphEncryptionKeys,
  GraphFetcher,
  GraphIntake,
  type GraphIntakeAnswer,
  GraphRegistrationFlows,
  GraphRenewalJob,
  type GraphRenewalPass,
  GraphSubscriptions,
} from './graph/index.ts';
export {
  type DeliverySummary,
  type HealthOverview,
  type InspectFilter,
  type InspectPage,
  MAX_PAGE,
  PLATFORMS,
  REGISTRATION_STATES,
  type RegistrationDetail,
  RegistrationInspector,
  type RegistrationInspectorOptions,
  type RegistrationPage,
  type RegistrationSummary,
} from './inspect.ts';
export { type AuthenticatedCallback, EventIntake, OUTBOX_KEY_PURPOSE } from './intake.ts';
export { LastSeenBatcher } from './last-seen.ts';
export {
  type CheckinInput,
  type CheckinState,
  type CreateRegistrationInput,
  RegistrationService,
} from './registrations.ts';
export { WATCHDOG_LEASE, Watchdog, type WatchdogPass, type WatchdogSettings } from './watchdog.ts';
