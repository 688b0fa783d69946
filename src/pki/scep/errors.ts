/**
 * The two ways a SCEP request fails. A message Herald cannot read as SCEP (not CMS, no
 * transaction id, no nonce...) has nobody to answer in SCEP terms: HTTP 400 with a plain-text
 * reason. A message that can be read but not honoured (bad signature, unknown algorithm, a CSR
 * that does not verify) gets a signed CertRep FAILURE with the failInfo (RFC 8894 §3.3.2).
 * Both messages are public: they say what is wrong with the request, never why inside Herald.
 */
import type { ScepFailInfo } from './types.ts';

export class ScepMalformedError extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'ScepMalformedError';
  }
}

export class ScepRefusal extends Error {
  readonly failInfo: ScepFailInfo;

  constructor(failInfo: ScepFailInfo, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'ScepRefusal';
    this.failInfo = failInfo;
  }
}

/** The CA cannot take SCEP requests at all (no RSA issuing key): HTTP 503, and an error log. */
export class ScepUnavailableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ScepUnavailableError';
  }
}
