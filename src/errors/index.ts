/**
 * Herald's one error catalogue (STYLE habit 3): every error a client can see has a stable
 * snake_case code and an HTTP status. The internal cause is kept for the log, never sent.
 */

export const errorCatalogue = {
  // request shape and authentication
  invalid_request: { status: 400, message: 'The request is malformed.' },
  invalid_credentials_payload: {
    status: 400,
    message: 'The credentials JWE could not be decrypted or read.',
  },
  unauthorized: { status: 401, message: 'A valid API token is required.' },
  admin_unauthorized: { status: 401, message: 'A valid admin token is required.' },
  not_found: { status: 404, message: 'No such resource.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The request body must be JSON.' },
  rate_limited: { status: 429, message: 'Too many requests.' },
  // registrations
  registration_not_found: { status: 404, message: 'No such registration for this tenant.' },
  tenant_not_found: { status: 404, message: 'No such tenant.' },
  tenant_exists: { status: 409, message: 'A tenant with this id exists already.' },
  app_not_configured: { status: 422, message: 'The tenant has no push credentials for this app.' },
  ews_url_required: {
    status: 422,
    message: 'account.ewsUrl is required: Autodiscover is off here (exchange.autodiscover.enabled).',
  },
  autodiscover_failed: {
    status: 422,
    message: 'Autodiscover found no EWS URL for this mailbox; give account.ewsUrl.',
  },
  provider_not_supported: {
    status: 422,
    message: 'This mailbox provider is not supported by this Herald version.',
  },
  graph_not_configured: {
    status: 422,
    message: 'The tenant is not configured for Microsoft Graph (tenants[].graph).',
  },
  credentials_required: {
    status: 422,
    message: 'account.credentials is required for this mailbox.',
  },
  // gateway
  gateway_rule_not_found: { status: 404, message: 'No such gateway rule.' },
  // certificate authority (src/pki/errors.ts: a PkiError becomes the HeraldError of its code)
  pki_invalid_template: { status: 400, message: 'The certificate template is not valid.' },
  pki_template_exists: { status: 409, message: 'A certificate template with this name exists already.' },
  pki_template_not_found: { status: 404, message: 'No such certificate template.' },
  pki_invalid_values: {
    status: 400,
    message: 'The lookup values do not fill the certificate template.',
  },
  pki_invalid_csr: { status: 400, message: 'The certificate signing request is not valid.' },
  pki_key_rejected: { status: 400, message: 'The key does not meet the template or CA requirements.' },
  pki_certificate_not_found: { status: 404, message: 'No certificate with this serial was issued here.' },
  pki_invalid_reason: { status: 400, message: 'Unknown or refused revocation reason.' },
  pki_import_failed: { status: 400, message: 'The CA could not be imported.' },
  pki_unavailable: { status: 503, message: 'The certificate authority is not available.' },
  // Exchange
  exchange_auth_failed: { status: 502, message: 'Exchange refused the mailbox credentials.' },
  exchange_unreachable: { status: 502, message: 'Exchange could not be reached.' },
  exchange_busy: { status: 503, message: 'Exchange is busy; try again later.' },
  exchange_error: { status: 502, message: 'Exchange answered with an error.' },
  mailbox_blocked: {
    status: 403,
    message: "The secure email gateway's compliance policy blocks this mailbox or device.",
  },
  // server side
  unavailable: { status: 503, message: 'The service is not available right now.' },
  internal_error: { status: 500, message: 'An internal error occurred.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface HeraldErrorOptions {
  /** Public, human-readable text; defaults to the catalogue's message. Never put secrets here. */
  message?: string;
  /** Internal cause: logged, never sent to a client. */
  cause?: unknown;
  /** Extra public fields (e.g. retryAfterSeconds). */
  details?: Record<string, unknown>;
}

export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, options: HeraldErrorOptions = {}) {
    super(options.message ?? errorCatalogue[code].message, { cause: options.cause });
    this.name = 'HeraldError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.details = options.details;
  }

  /**
   * Fastify's name for the status, so an encapsulated plugin with its own error handler (SCEP,
   * which answers plain text) still answers a HeraldError from a shared hook (413) with its status.
   */
  get statusCode(): number {
    return this.status;
  }

  /** The JSON body the device API sends: `{"error": {"code", "message", ...details}}`. */
  toBody(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

export function isHeraldError(value: unknown): value is HeraldError {
  return value instanceof HeraldError;
}
