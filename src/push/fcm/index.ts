/** FCM: HTTP v1 API with service-account OAuth 2.0 (JWT bearer) tokens. */
export { FCM_MAX_DATA_BYTES, type FcmMessage, fcmMessage } from './message.ts';
export {
  AccessTokenError,
  createGoogleAccessTokens,
  FCM_SCOPE,
  type GoogleAccessTokens,
  type GoogleAccessTokensOptions,
  parseServiceAccount,
  type ServiceAccount,
  serviceAccountKey,
} from './oauth.ts';
export { createFcmSender, FCM_ENDPOINT, type FcmSenderOptions, fcmErrorCode } from './sender.ts';
