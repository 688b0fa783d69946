/** APNs: HTTP/2 provider API, token (.p8) or certificate (PKCS#12) authentication. */
export {
  APNS_MAX_PAYLOAD_BYTES,
  type ApnsRequest,
  type ApnsRequestOptions,
  apnsCollapseId,
  apnsRequest,
} from './payload.ts';
export type { ApnsPoolStats } from './pool.ts';
export {
  APNS_PRODUCTION_ENDPOINT,
  APNS_SANDBOX_ENDPOINT,
  type ApnsAuth,
  type ApnsConnectionOptions,
  type ApnsConnections,
  type ApnsSenderOptions,
  createApnsConnections,
  createApnsSender,
} from './sender.ts';
export {
  type ApnsSigningKey,
  type ApnsTokenCache,
  type ApnsTokenCacheOptions,
  type ApnsTokenCacheStats,
  apnsTokenName,
  createApnsTokenCache,
  type SharedProviderToken,
  type SharedTokenStore,
} from './token.ts';
