/**
 * Errors of the certificate authority. Each has a stable code (snake_case, as the HeraldError
 * catalogue) and a public message that names what is wrong without secrets, so the admin API and
 * the CLI can show it as is. Suggested catalogue entries (status):
 *
 *   pki_invalid_template 400, pki_template_exists 409, pki_template_not_found 404,
 *   pki_invalid_values 400, pki_invalid_csr 400, pki_key_rejected 400,
 *   pki_certificate_not_found 404, pki_invalid_reason 400, pki_import_failed 400,
 *   pki_unavailable 503.
 */

export type PkiErrorCode =
  | 'pki_invalid_template'
  | 'pki_template_exists'
  | 'pki_template_not_found'
  | 'pki_invalid_values'
  | 'pki_invalid_csr'
  | 'pki_key_rejected'
  | 'pki_certificate_not_found'
  | 'pki_invalid_reason'
  | 'pki_import_failed'
  | 'pki_unavailable';

/** HTTP status each code maps to, for the admin API. */
export const PKI_ERROR_STATUS: Readonly<Record<PkiErrorCode, number>> = {
  pki_invalid_template: 400,
  pki_template_exists: 409,
  pki_template_not_found: 404,
  pki_invalid_values: 400,
  pki_invalid_csr: 400,
  pki_key_rejected: 400,
  pki_certificate_not_found: 404,
  pki_invalid_reason: 400,
  pki_import_failed: 400,
  pki_unavailable: 503,
};

export class PkiError extends Error {
  readonly code: PkiErrorCode;
  readonly status: number;

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PkiError';
    this.code = code;
    this.status = PKI_ERROR_STATUS[code];
  }
}

export function isPkiError(value: unknown, code?: PkiErrorCode): value is PkiError {
  return value instanceof PkiError && (code === undefined || value.code === code);
}
