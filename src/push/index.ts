/**
 * push/: delivering one notification to one device through APNs, FCM or a relay.
 *
 * Callers (notify/) use `createPushSenders` once at start and `senderFor(...).send(...)` per
 * push, and act on the PushResult: sent, unregistered (deactivate the registration), retry
 * (reschedule, after retryAfterMs if given) or failed (give up). See docs/push.md.
 */
export {
  APNS_MAX_PAYLOAD_BYTES,
  APNS_PRODUCTION_ENDPOINT,
  APNS_SANDBOX_ENDPOINT,
  type ApnsAuth,
  type ApnsConnectionOptions,
  type ApnsConnections,
  type ApnsPoolStats,
  type ApnsRequest,
  type ApnsRequestOptions,
  type ApnsSenderOptions,
  type ApnsSigningKey,
  type ApnsTokenCache,
  type ApnsTokenCacheOptions,
  type ApnsTokenCacheStats,
  apnsCollapseId,
  apnsRequest,
  apnsTokenName,
  createApnsConnections,
  createApnsSender,
  createApnsTokenCache,
  type SharedProviderToken,
  type SharedTokenStore,
} from './apns/index.ts';
export {
  AccessTokenError,
  createFcmSender,
  createGoogleAccessTokens,
  FCM_ENDPOINT,
  FCM_MAX_DATA_BYTES,
  FCM_SCOPE,
  type FcmMessage,
  type FcmSenderOptions,
  fcmErrorCode,
  fcmMessage,
  type GoogleAccessTokens,
  type GoogleAccessTokensOptions,
  parseServiceAccount,
  type ServiceAccount,
} from './fcm/index.ts';
export {
  createRelaySender,
  DEFAULT_RELAY_TOLERANCE_SECONDS,
  RELAY_PROTOCOL_VERSION,
  RELAY_SIGNATURE_HEADER,
  RELAY_TIMESTAMP_HEADER,
  type RelayRequestBody,
  type RelaySenderOptions,
  relayRequestBody,
  signRelayBody,
  type VerifyRelaySignatureInput,
  verifyRelaySignature,
} from './relay/index.ts';
export {
  type ConfiguredTenantApps,
  type CreatePushSendersOptions,
  createPushSenders,
  type PushAppConfig,
  PushCredentialError,
  type PushSenders,
} from './senders.ts';
export type {
  PushNotification,
  PushProvider,
  PushResult,
  PushSender,
  PushStatus,
  PushTarget,
  PushType,
} from './types.ts';
