/**
 * The typed errors of the Graph adapter. None of them ever carries an access token, a client
 * secret or a clientState in its message: callers may log them as they are.
 * `toHeraldError` maps each onto the error catalogue (exchange_auth_failed, exchange_busy,
 * exchange_unreachable, exchange_error) for the HTTP layer.
 */
import { HeraldError } from '../../errors/index.ts';

/** Why Entra ID (or the token exchange around it) refused or failed. */
export type GraphAuthReason =
  | 'invalid_secret'
  | 'expired_secret'
  | 'unknown_app'
  | 'unknown_tenant'
  | 'certificate_not_registered'
  | 'assertion_rejected'
  | 'invalid_scope'
  | 'invalid_request'
  | 'refused'
  | 'unreachable'
  | 'invalid_response';

export class GraphAuthError extends Error {
  override name = 'GraphAuthError';
  readonly reason: GraphAuthReason;
  /** HTTP status of the token endpoint's answer (undefined when none came). */
  readonly status: number | undefined;
  /** The OAuth 2.0 `error` code, e.g. invalid_client. */
  readonly error: string | undefined;
  /** The AADSTS numbers of `error_codes`, e.g. [7000215]. */
  readonly errorCodes: number[];
  readonly traceId: string | undefined;
  readonly correlationId: string | undefined;
  constructor(
    reason: GraphAuthReason,
    message: string,
    details: {
      status?: number;
      error?: string;
      errorCodes?: number[];
      traceId?: string;
      correlationId?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.status = details.status;
    this.error = details.error;
    this.errorCodes = details.errorCodes ?? [];
    this.traceId = details.traceId;
    this.correlationId = details.correlationId;
  }
}

/** Transport failures have these codes instead of a Graph error code. */
export type GraphTransportCode = 'network' | 'timeout' | 'invalid_response' | 'response_too_large';

/** A Microsoft Graph call failed: `{"error": {"code", "message"}}` with its status, or no answer at all. */
export class GraphRequestError extends Error {
  override name = 'GraphRequestError';
  /** HTTP status; undefined for transport failures. */
  readonly status: number | undefined;
  /** Graph's `error.code` (e.g. ResourceNotFound, ErrorAccessDenied) or a GraphTransportCode. */
  readonly code: string;
  /** From Retry-After on 429 and 503 (milliseconds). */
  readonly retryAfterMs: number | undefined;
  /** Graph's `request-id` (header or innerError), for support cases. */
  readonly requestId: string | undefined;
  constructor(
    code: string,
    message: string,
    details: { status?: number; retryAfterMs?: number; requestId?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.requestId = details.requestId;
  }

  /** 429 and 503 (and transport failures) are worth retrying later. */
  get retryable(): boolean {
    return this.status === 429 || this.status === 503 || this.status === undefined || this.status >= 500;
  }
}

export type GraphNotificationErrorReason =
  | 'too_large'
  | 'invalid_json'
  | 'invalid_shape'
  | 'unknown_certificate'
  | 'signature_mismatch'
  | 'decryption_failed'
  | 'invalid_content'
  | 'invalid_validation_token'
  | 'missing_validation_token';

/** A notification body (or its encrypted content, or its validation tokens) is not acceptable. */
export class GraphNotificationError extends Error {
  override name = 'GraphNotificationError';
  readonly reason: GraphNotificationErrorReason;
  constructor(reason: GraphNotificationErrorReason, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.reason = reason;
  }
}

/** The catalogue error the HTTP layer answers a device with. */
export function toHeraldError(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  if (error instanceof GraphAuthError) {
    if (error.reason === 'unreachable') {
      return new HeraldError('exchange_unreachable', {
        cause: error,
        details: { reason: 'entra_unreachable' },
      });
    }
    return new HeraldError('exchange_auth_failed', { cause: error, details: { reason: error.reason } });
  }
  if (error instanceof GraphRequestError) {
    const details: Record<string, unknown> = { graphCode: error.code };
    if (error.status !== undefined) details.httpStatus = error.status;
    if (error.status === undefined && (error.code === 'network' || error.code === 'timeout')) {
      return new HeraldError('exchange_unreachable', { cause: error, details: { reason: error.code } });
    }
    if (error.status === 401 || error.status === 403) {
      return new HeraldError('exchange_auth_failed', { cause: error, details });
    }
    if (error.status === 429 || error.status === 503) {
      if (error.retryAfterMs !== undefined) details.backOffMs = error.retryAfterMs;
      return new HeraldError('exchange_busy', { cause: error, details });
    }
    return new HeraldError('exchange_error', { cause: error, details });
  }
  return new HeraldError('exchange_error', { cause: error });
}
