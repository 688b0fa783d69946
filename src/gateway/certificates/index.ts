/**
 * Client certificates at the gateway: the check the TLS server runs per request, the CRL cache
 * behind it, and parsing of a certificate's identity (for the CLI and tests).
 */
export {
  type CheckDeps,
  checkClientCertificate,
  failureForVerifyError,
} from './check.ts';
export { CrlCache, type CrlCacheOptions } from './crl-cache.ts';
export type { CrlStats, CrlUrlStats, RefreshOutcome, RefreshReport, UrlRefresh } from './crl-state.ts';
export { parseClientIdentity } from './identity.ts';
export type {
  CertificateCheck,
  CertificateFailure,
  ClientIdentity,
  OnUnavailable,
  RevocationStatus,
} from './types.ts';
