/**
 * Error shapes of the two Microsoft services the Graph simulator plays:
 * - Microsoft Graph: `{"error": {"code", "message", "innerError": {"date", "request-id",
 *   "client-request-id"}}}` with an HTTP 4xx status.
 * - Microsoft Entra ID token endpoint: `{"error", "error_description" ("AADSTS…: text\r\nTrace ID…"),
 *   "error_codes": [n], "timestamp", "trace_id", "correlation_id", "error_uri"}`.
 */
import { randomUUID } from 'node:crypto';

export class GraphError extends Error {
  override name = 'GraphError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** An Entra ID token-endpoint refusal: `error` is the OAuth 2.0 code, `aadsts` the number. */
export class EntraError extends Error {
  override name = 'EntraError';
  readonly status: number;
  readonly error: string;
  readonly aadsts: number;
  constructor(status: number, error: string, aadsts: number, description: string) {
    super(description);
    this.status = status;
    this.error = error;
    this.aadsts = aadsts;
  }
}

export function graphErrorBody(error: GraphError, now: number, clientRequestId?: string) {
  const requestId = randomUUID();
  return {
    error: {
      code: error.code,
      message: error.message,
      innerError: {
        date: new Date(now).toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': requestId,
        'client-request-id': clientRequestId ?? requestId,
      },
    },
  };
}

export function entraErrorBody(error: EntraError, now: number) {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date(now)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
  return {
    error: error.error,
    error_description: `AADSTS${error.aadsts}: ${error.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [error.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${error.aadsts}`,
  };
}

export const accessDenied = () =>
  new GraphError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
