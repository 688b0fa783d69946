/**
 * The certificate authority (issue 7): a root and an issuing CA, templates, issuance from CSRs or
 * with server-generated keys (PKCS #12), revocation, full and delta CRLs, one-time SCEP
 * challenges, and the `ScepAuthority` the SCEP protocol (./scep/) enrolls devices through.
 */

export type {
  PkiCertificate as IssuedCertificate,
  PkiCertificateStatus,
  PkiCrl,
  PkiCrlKind,
} from '../store/index.ts';
export {
  type AuthorityInfo,
  CertificateAuthority,
  type CertificateAuthorityOptions,
  type CertificateListFilter,
  openCertificateAuthority,
} from './ca.ts';
export type { ChallengeRequest, CreatedChallenge } from './challenges.ts';
export type { CrlPublication } from './crl.ts';
export { CRL_LEASE, CrlScheduler } from './crl-scheduler.ts';
export { isPkiError, PKI_ERROR_STATUS, PkiError, type PkiErrorCode } from './errors.ts';
export { REVOCATION_REASONS, type RevocationReason } from './extensions.ts';
export { type AuthoritySource, type ImportResult, importAuthority } from './import.ts';
export type { GeneratedKeyResult, IssueFromCsrOptions, IssueWithGeneratedKeyOptions } from './issuance.ts';
export { type FilledNames, fillTemplate, LOOKUP_KEYS, type LookupKey, type LookupValues } from './names.ts';
export type { RevocationResult } from './revocation.ts';
export { normalizeSerial } from './serial.ts';
export { PKI_DEFAULTS, type PkiSettings } from './settings.ts';
export { type CertificateTemplate, KEY_SIZES, type TemplateInput } from './templates.ts';
export { toPem } from './x509.ts';
