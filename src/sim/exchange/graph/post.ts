/**
 * Outbound HTTP for the Graph simulator: the validation request (`POST url?validationToken=…`,
 * `text/plain`, empty body) and notification POSTs (`application/json`). One request per
 * connection (no pooling), a real-time timeout, the answer's status, type and body returned.
 */
import http from 'node:http';
import https from 'node:https';

export interface PostAnswer {
  status?: number;
  contentType?: string;
  body?: string;
  error?: string;
  durationMs: number;
}

export class Poster {
  readonly #requests = new Set<http.ClientRequest>();
  readonly #ca: string | Buffer | Array<string | Buffer> | undefined;

  constructor(ca?: string | Buffer | Array<string | Buffer>) {
    this.#ca = ca;
  }

  post(target: string, body: string, contentType: string, timeoutMs: number): Promise<PostAnswer> {
    const started = performance.now();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (answer: Omit<PostAnswer, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        resolve({ ...answer, durationMs: Math.round(performance.now() - started) });
      };
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        finish({ error: 'invalid URL' });
        return;
      }
      const bytes = Buffer.from(body, 'utf8');
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'POST',
        agent: false,
        ca: url.protocol === 'https:' ? this.#ca : undefined,
        headers: { 'Content-Type': contentType, 'Content-Length': bytes.length },
      });
      const timer = setTimeout(
        () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#requests.add(request);
      request.on('close', () => {
        clearTimeout(timer);
        this.#requests.delete(request);
      });
      request.on('error', (error) => finish({ error: error.message }));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => finish({ status: response.statusCode, error: error.message }));
        response.on('end', () =>
          finish({
            status: response.statusCode,
            contentType: response.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      request.end(bytes);
    });
  }

  close(): void {
    for (const request of this.#requests) request.destroy();
  }
}
