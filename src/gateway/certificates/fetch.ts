/**
 * Downloading a CRL over HTTP(S) with undici: one deadline over the whole exchange, a size limit
 * checked against Content-Length and again while reading, and a few redirects (http/https only).
 * Errors carry a short reason and never the body.
 */
import { type Dispatcher, request } from 'undici';

export interface FetchCrlOptions {
  timeoutMs: number;
  maxBytes: number;
  dispatcher?: Dispatcher;
  /** Aborts the download (the cache's stop()). */
  signal?: AbortSignal;
}

export class CrlFetchError extends Error {
  /** One short word for logs and stats: `http_404`, `timeout`, `too_large`, `network:ECONNREFUSED`… */
  readonly reason: string;
  constructor(reason: string) {
    super(`CRL download failed: ${reason}`);
    this.name = 'CrlFetchError';
    this.reason = reason;
  }
}

const MAX_REDIRECTS = 3;

export async function fetchCrl(url: string, options: FetchCrlOptions): Promise<Buffer> {
  const signal = options.signal
    ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)])
    : AbortSignal.timeout(options.timeoutMs);
  let target = url;
  try {
    for (let hop = 0; ; hop++) {
      const response = await request(target, {
        method: 'GET',
        headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl;q=0.5, */*;q=0.1' },
        signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      });
      const location = response.headers.location;
      if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === 'string') {
        await response.body.dump();
        const next = new URL(location, target);
        if (hop >= MAX_REDIRECTS || !/^https?:$/.test(next.protocol)) throw new CrlFetchError('bad_redirect');
        target = next.href;
        continue;
      }
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new CrlFetchError(`http_${response.statusCode}`);
      }
      return await readBounded(response, options.maxBytes);
    }
  } catch (err) {
    if (err instanceof CrlFetchError) throw err;
    throw new CrlFetchError(transportReason(err));
  }
}

async function readBounded(response: Dispatcher.ResponseData, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw new CrlFetchError('too_large');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new CrlFetchError('too_large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function transportReason(err: unknown): string {
  const code = String((err as { code?: unknown })?.code ?? '');
  const name = String((err as { name?: unknown })?.name ?? '');
  if (name === 'TimeoutError' || /TIMEOUT/.test(code)) return 'timeout';
  if (name === 'AbortError') return 'aborted';
  return code === '' ? 'network' : `network:${code}`;
}
