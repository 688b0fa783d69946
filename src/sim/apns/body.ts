import type { Readable } from 'node:stream';

export interface ReadBody {
  /** The first `keep` bytes. */
  body: Buffer;
  /** Bytes received (reading stops past `hardCap`). */
  bytes: number;
  /** The whole body arrived (false: cut at hardCap; the rest is discarded). */
  complete: boolean;
  /** The request was reset or the connection dropped before the body ended. */
  aborted: boolean;
}

/**
 * Reads a request body without trusting its size: keeps `keep` bytes, counts the rest and resolves
 * once more than `hardCap` bytes came (discarding what follows), so the caller can answer (e.g.
 * 413) without waiting for the whole body.
 */
export function readBody(req: Readable, keep: number, hardCap: number): Promise<ReadBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let bytes = 0;
    let done = false;
    const finish = (complete: boolean, aborted: boolean) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      req.off('aborted', onAbort);
      // Cut: discard the rest (flowing, no listener) so the client can finish sending. A reset
      // would be the HTTP/2 way (RFC 9113 §8.1), but node's client never settles a stream reset
      // with NO_ERROR while it still has data to write.
      if (!complete && !aborted) req.resume();
      resolve({ body: Buffer.concat(chunks), bytes, complete, aborted });
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (kept < keep) {
        const part = chunk.length > keep - kept ? chunk.subarray(0, keep - kept) : chunk;
        chunks.push(part);
        kept += part.length;
      }
      if (bytes > hardCap) finish(false, false);
    };
    const onEnd = () => finish(true, false);
    const onAbort = () => finish(false, true);
    const onClose = () => finish(req.readableEnded, !req.readableEnded);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onAbort);
    req.once('close', onClose);
    req.once('aborted', onAbort);
    if (req.readableEnded) finish(true, false);
  });
}
