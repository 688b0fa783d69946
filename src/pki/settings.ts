/**
 * Every tuning constant of the CA in one place. The lead maps config keys onto `PkiSettings`
 * (see the report for the proposed `pki.*` keys); until then the defaults apply.
 */

export interface PkiSettings {
  /** Key sizes and lifetimes of the CAs Herald creates on its first start. */
  rootKeyBits: 3072 | 4096;
  issuingKeyBits: 2048 | 3072 | 4096;
  rootDays: number;
  issuingDays: number;
  rootCommonName: string;
  issuingCommonName: string;
  /** Lifetime (nextUpdate − thisUpdate) of the issuing CA's full and delta CRLs, and of the root's CRL. */
  fullCrlHours: number;
  deltaCrlHours: number;
  rootCrlHours: number;
  /**
   * A CRL is regenerated when less than this fraction of its lifetime is left before nextUpdate
   * (at start and on every scheduler tick), so relying parties never hold an expired one.
   */
  crlRefreshFraction: number;
  /** How often the scheduler checks the CRLs and deletes expired challenges. */
  schedulerIntervalMinutes: number;
  /**
   * A delta CRL lists revocations since its base's thisUpdate minus this margin, so a revocation
   * another node committed while the base was being made is never missed (RFC 5280 §5.2.4 lets a
   * delta repeat what the base has).
   */
  deltaOverlapMinutes: number;
  /** Cache-Control max-age of the published CRLs (never beyond their nextUpdate). */
  fullCrlMaxAgeSeconds: number;
  deltaCrlMaxAgeSeconds: number;
  /** One-time SCEP challenges are valid this long (NDES: 60 minutes). */
  challengeMinutes: number;
  /** notBefore of issued certificates lies this far in the past, for devices with a slow clock. */
  backdateMinutes: number;
  /** PKCS #12 for server-generated keys: PBKDF2-SHA256 iterations (PBES2) and MAC iterations. */
  pkcs12Pbkdf2Iterations: number;
  pkcs12MacIterations: number;
}

export const PKI_DEFAULTS: Readonly<PkiSettings> = Object.freeze({
  rootKeyBits: 4096,
  issuingKeyBits: 3072,
  rootDays: 20 * 365 + 5,
  issuingDays: 10 * 365 + 2,
  rootCommonName: 'Herald Root CA',
  issuingCommonName: 'Herald Issuing CA',
  fullCrlHours: 7 * 24,
  deltaCrlHours: 24,
  rootCrlHours: 90 * 24,
  crlRefreshFraction: 0.25,
  schedulerIntervalMinutes: 15,
  deltaOverlapMinutes: 10,
  fullCrlMaxAgeSeconds: 3600,
  deltaCrlMaxAgeSeconds: 300,
  challengeMinutes: 60,
  backdateMinutes: 5,
  // OpenSSL 3's `pkcs12 -export` default is 2048 for both; PBKDF2 runs natively, so more is cheap.
  pkcs12Pbkdf2Iterations: 100_000,
  // The MAC key derivation (RFC 7292 Appendix B) runs in JavaScript inside pkijs: keep it modest.
  pkcs12MacIterations: 2048,
});

export function pkiSettings(overrides: Partial<PkiSettings> = {}): PkiSettings {
  const settings = { ...PKI_DEFAULTS, ...overrides };
  if (!(settings.crlRefreshFraction > 0 && settings.crlRefreshFraction < 1)) {
    throw new RangeError('crlRefreshFraction must lie between 0 and 1');
  }
  if (settings.deltaCrlHours > settings.fullCrlHours) {
    throw new RangeError('a delta CRL must not outlive its base (deltaCrlHours > fullCrlHours)');
  }
  return settings;
}
