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
export { type AuthenticatedCallback, EventIntake, OUTBOX_KEY_PURPOSE } from './intake.ts';
export { LastSeenBatcher } from './last-seen.ts';
export {
  type CheckinInput,
  type CheckinState,
  type CreateRegistrationInput,
  RegistrationService,
} from './registrations.ts';
