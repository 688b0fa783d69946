/**
 * A recording upstream for gateway tests: an HTTPS server standing where Exchange stands. It
 * records every request (method, path, headers, body size and SHA-256, never the body itself)
 * and its answer is steered by the test through request headers:
 *
 *   x-test-status: N              answer with this status (default 200)
 *   x-test-header: name: value    add a response header (repeatable)
 *   x-test-download-bytes: N      stream N bytes of body (generated, 64 KiB chunks)
 *   x-test-hold: ms | release     hold the answer this long, or until `release()` is called
 *
 * Without a download the body is JSON `{ bytes, sha256, headers }` of what it received.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { selfSignedIdentity } from '../../src/sim/tls.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string;
  /** The client's TCP connection (to see which requests shared one). */
  connection: number;
}

export interface RecordingUpstream {
  readonly url: string;
  /** PEM of its self-signed certificate, for the gateway's upstreamCaFiles. */
  readonly ca: string;
  readonly requests: RecordedRequest[];
  /** Requests being held (x-test-hold: release) right now. */
  readonly held: number;
  /** Answers every held request now. */
  release(): void;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const identity = await selfSignedIdentity(['127.0.0.1', 'localhost']);
  const requests: RecordedRequest[] = [];
  const waiting = new Set<() => void>();
  let connections = 0;
  const ids = new WeakMap<object, number>();
  const server: Server = createServer({ cert: identity.cert, key: identity.key }, (req, res) => {
    let id = ids.get(req.socket);
    if (id === undefined) {
      connections += 1;
      id = connections;
      ids.set(req.socket, id);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const record: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bytes,
        sha256: hash.digest('hex'),
        connection: id,
      };
      requests.push(record);
      const answer = () => {
        if (res.destroyed) return;
        const status = Number(req.headers['x-test-status'] ?? 200);
        for (const line of [req.headers['x-test-header'] ?? []]
          .flat()
          .flatMap((v) => v.split(/,(?=\s*[\w-]+:)/))) {
          const at = line.indexOf(':');
          if (at > 0) res.appendHeader(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
        const download = Number(req.headers['x-test-download-bytes'] ?? 0);
        if (download > 0) {
          res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': download });
          let left = download;
          const pump = () => {
            while (left > 0) {
              const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
              left -= piece.length;
              if (!res.write(piece)) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          pump();
          return;
        }
        const body = JSON.stringify({ bytes: record.bytes, sha256: record.sha256, headers: record.headers });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
      const hold = req.headers['x-test-hold'];
      if (hold === 'release') {
        const release = () => {
          waiting.delete(release);
          answer();
        };
        waiting.add(release);
        res.once('close', () => waiting.delete(release));
      } else if (hold !== undefined) {
        setTimeout(answer, Number(hold));
      } else {
        answer();
      }
    });
  });
  server.keepAliveTimeout = 120_000;
  server.requestTimeout = 0;
  server.timeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    ca: identity.cert,
    requests,
    get held() {
      return waiting.size;
    },
    release() {
      for (const release of [...waiting]) release();
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
