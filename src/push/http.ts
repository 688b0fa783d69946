/**
 * The undici side shared by FCM and the relay: one Dispatcher with the operator's extra CAs and
 * proxy (as the EWS client builds it), and a bounded body reader.
 */
import { Agent, type Dispatcher, ProxyAgent, request } from 'undici';
import { withSystemRoots } from './proxy.ts';

export interface DispatcherOptions {
  ca?: readonly string[];
  proxyUrl?: string;
  connectTimeoutMs?: number;
}

export function createDispatcher(options: DispatcherOptions = {}): Dispatcher {
  const ca = withSystemRoots(options.ca);
  const connect = { ...(ca ? { ca } : {}), timeout: options.connectTimeoutMs ?? 10_000 };
  return options.proxyUrl
    ? new ProxyAgent({ uri: options.proxyUrl, requestTls: connect, proxyTls: connect })
    : new Agent({ connect });
}

/** Reads at most `max` bytes of a response body as text; the rest is dropped. */
export async function readText(body: Dispatcher.ResponseData['body'], max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size < max) chunks.push(chunk.subarray(0, max - size));
    size += chunk.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What a network failure was, in one word for the reason field (never a URL or a secret). */
export function transportReason(err: unknown): string {
  const code = String((err as { code?: unknown })?.code ?? '');
  const name = String((err as { name?: unknown })?.name ?? '');
  if (name === 'TimeoutError' || name === 'AbortError' || /TIMEOUT|ETIMEDOUT/.test(code)) return 'timeout';
  return code === '' ? 'network' : `network:${code}`;
}

export interface PostedResponse {
  status: number;
  /** The body as text, at most 64 KiB. */
  text: string;
  retryAfter: string | string[] | undefined;
}

/**
 * POST with one timeout over the whole exchange (connect, headers, body). Network failures and
 * timeouts reject; every HTTP status resolves, for the caller to sort.
 */
export async function post(
  url: string | URL,
  options: { headers: Record<string, string>; body: string; dispatcher: Dispatcher; timeoutMs: number },
): Promise<PostedResponse> {
  const response = await request(url, {
    method: 'POST',
    headers: options.headers,
    body: options.body,
    dispatcher: options.dispatcher,
    signal: AbortSignal.timeout(options.timeoutMs),
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  return {
    status: response.statusCode,
    retryAfter: response.headers['retry-after'],
    text: await readText(response.body),
  };
}
