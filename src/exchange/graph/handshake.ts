/**
 * The validation handshake (learn.microsoft.com/graph/change-notifications-delivery-webhooks,
 * "notificationUrl validation"): Graph POSTs `{url}?validationToken=…`; the endpoint answers
 * within 10 seconds with 200, Content-Type text/plain and the URL-decoded token as the body.
 * The HTTP layer writes what `handshakeResponse` returns; nothing else happens on a handshake.
 */

export interface HandshakeResponse {
  status: 200 | 400;
  contentType: 'text/plain; charset=utf-8';
  body: string;
}

/** Graph's tokens are about 100 characters; anything much longer is not Graph. */
export const MAX_VALIDATION_TOKEN_LENGTH = 1024;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;

const refuse = (why: string): HandshakeResponse => ({
  status: 400,
  contentType: 'text/plain; charset=utf-8',
  body: `invalid validationToken: ${why}`,
});

/**
 * For the (already URL-decoded) `validationToken` query value: undefined when the request has
 * none (it is a notification), else the answer to send.
 */
export function handshakeResponse(validationToken: unknown): HandshakeResponse | undefined {
  if (validationToken === undefined || validationToken === null) return undefined;
  const value = Array.isArray(validationToken) ? validationToken : [validationToken];
  if (value.length !== 1 || typeof value[0] !== 'string') return refuse('exactly one value expected');
  const token = value[0];
  if (!token) return refuse('empty');
  if (token.length > MAX_VALIDATION_TOKEN_LENGTH) return refuse('too long');
  if (CONTROL.test(token)) return refuse('control characters');
  return { status: 200, contentType: 'text/plain; charset=utf-8', body: token };
}

/** The same from a request URL (path and query), decoding the query as URLSearchParams does. */
export function handshakeFromUrl(url: string | URL): HandshakeResponse | undefined {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url, 'http://localhost') : url;
  } catch {
    return undefined;
  }
  const values = parsed.searchParams.getAll('validationToken');
  return handshakeResponse(values.length === 0 ? undefined : values.length === 1 ? values[0] : values);
}
