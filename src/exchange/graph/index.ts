/**
 * Herald's Microsoft Graph adapter (Exchange Online): app-only tokens, the Graph client for
 * Inbox subscriptions and message reads, subscription lifetimes and renewal, and the codec for
 * what Graph POSTs back (validation handshake, change and lifecycle notifications, clientState,
 * encrypted resource data, validation tokens).
 */
export {
  type CreateSubscriptionInput,
  DEFAULT_GRAPH_URL,
  GraphClient,
  type GraphClientOptions,
  type GraphCredentials,
  type GraphMessage,
  type GraphSubscription,
  MESSAGE_SELECT,
} from './client.ts';
export {
  GraphAuthError,
  type GraphAuthReason,
  GraphNotificationError,
  type GraphNotificationErrorReason,
  GraphRequestError,
  type GraphTransportCode,
  toHeraldError,
} from './errors.ts';
export { type HandshakeResponse, handshakeFromUrl, handshakeResponse } from './handshake.ts';
export {
  DEFAULT_RENEWAL_POLICY,
  maxLifetimeMs,
  needsRenewal,
  OUTLOOK_MESSAGE_LIMITS,
  type RenewalPolicy,
  renewAt,
  type SubscriptionLimits,
  subscriptionExpiration,
} from './limits.ts';
export {
  type ChangeNotification,
  checkClientState,
  type EncryptedContent,
  hashClientState,
  type LifecycleEvent,
  type LifecycleNotification,
  type NotificationCollection,
  newClientState,
  parseNotifications,
} from './notifications.ts';
export {
  certificateThumbprint,
  createEncryptionCertificate,
  decryptContent,
  decryptMessage,
  type EncryptionCertificate,
  type EncryptionKey,
  EncryptionKeyRing,
} from './rich.ts';
export {
  type ClientCredential,
  type ClientCredentialsOptions,
  ClientCredentialsTokenSource,
  DEFAULT_AUTHORITY_HOST,
  GRAPH_DEFAULT_SCOPE,
  type GraphTokenProvider,
  staticToken,
} from './token.ts';
export {
  createValidationTokenVerifier,
  DEFAULT_JWKS_URL,
  NOTIFICATION_PUBLISHER_APP_ID,
  type ValidationTokenOptions,
  type ValidationTokenVerifier,
} from './validation-tokens.ts';
