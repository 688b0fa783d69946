/**
 * One outbound request for the token endpoint and Graph: undici with an injected dispatcher,
 * a bounded time (AbortSignal + headers/body timeouts), a bounded answer size, JSON decoding.
 * Transport failures become GraphRequestError with a GraphTransportCode.
 */
import { type Dispatcher, request } from 'undici';
import { GraphRequestError } from './errors.ts';

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

export interface HttpOptions {
  /** undici dispatcher (Agent, ProxyAgent, MockAgent); default undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Whole-request bound, milliseconds (default 15 000). */
  timeoutMs?: number;
  /** Largest answer body read, bytes (default 1 MiB). */
  maxResponseBytes?: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or undefined for an empty body. */
  json: unknown;
}

export function checkHttpOptions(options: HttpOptions): void {
  for (const [name, value] of [
    ['timeoutMs', options.timeoutMs],
    ['maxResponseBytes', options.maxResponseBytes],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
      throw new TypeError(`${name} must be a positive integer`);
    }
  }
}

/** Parse a base URL option: http(s), no query or fragment; returned without a trailing slash. */
export function baseUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} must be an absolute URL`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash) {
    throw new TypeError(`${name} must be an http(s) URL without query or fragment`);
  }
  return url.href.replace(/\/+$/, '');
}

function header(headers: HttpAnswer['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export { header as headerValue };

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3), as milliseconds. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export async function send(
  options: HttpOptions,
  init: { method: string; url: string; headers: Record<string, string>; body?: string },
): Promise<HttpAnswer> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let response: Dispatcher.ResponseData;
  const chunks: Buffer[] = [];
  try {
    response = await request(init.url, {
      method: init.method as Dispatcher.HttpMethod,
      headers: init.headers,
      body: init.body,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    let size = 0;
    const declared = Number(header(response.headers, 'content-length'));
    if (declared > maxBytes) size = declared;
    else {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) break;
        chunks.push(chunk);
      }
    }
    if (size > maxBytes) {
      response.body.on('error', () => {});
      response.body.destroy();
      throw new GraphRequestError('response_too_large', `the answer is over ${maxBytes} bytes`, {
        status: response.statusCode,
      });
    }
  } catch (error) {
    if (error instanceof GraphRequestError) throw error;
    const name = String((error as { name?: unknown })?.name ?? '');
    const code = String((error as { code?: unknown })?.code ?? '');
    const timeout = name === 'TimeoutError' || name === 'AbortError' || /TIMEOUT/.test(code);
    throw new GraphRequestError(
      timeout ? 'timeout' : 'network',
      timeout
        ? `no answer within ${timeoutMs} ms`
        : `the request failed (${code || name || 'network error'})`,
      { cause: error },
    );
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  if (text.trim()) {
    try {
      json = JSON.parse(text);
    } catch (cause) {
      json = undefined;
      if (response.statusCode < 300) {
        throw new GraphRequestError('invalid_response', 'the answer is not JSON', {
          status: response.statusCode,
          cause,
        });
      }
    }
  }
  return { status: response.statusCode, headers: response.headers, json };
}
