/**
 * For this folder's tests: a notification receiver on 127.0.0.1 built from handshake.ts and
 * notifications.ts (as the HTTP layer will be), and a scripted stand-in for Graph error answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphNotificationError } from './errors.ts';
import { handshakeFromUrl } from './handshake.ts';
import { type NotificationCollection, parseNotifications } from './notifications.ts';

export interface Received {
  path: string;
  raw: string;
  parsed?: NotificationCollection;
  error?: GraphNotificationError;
}

export async function startReceiver() {
  const received: Received[] = [];
  const handshakes: string[] = [];
  let waiters: Array<() => void> = [];
  const wake = () => {
    const now = waiters;
    waiters = [];
    for (const w of now) w();
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const handshake = handshakeFromUrl(url);
      if (handshake) {
        handshakes.push(url.pathname);
        res.writeHead(handshake.status, { 'Content-Type': handshake.contentType });
        res.end(handshake.body);
        wake();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const entry: Received = { path: url.pathname, raw };
      try {
        entry.parsed = parseNotifications(Buffer.concat(chunks));
      } catch (error) {
        entry.error = error as GraphNotificationError;
      }
      received.push(entry);
      // Graph's guidance: answer 202 at once, validate afterwards.
      res.writeHead(202);
      res.end();
      wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    notificationUrl: `${base}/graph/notify`,
    lifecycleUrl: `${base}/graph/lifecycle`,
    received,
    handshakes,
    at: (path: string) => received.filter((r) => r.path === path),
    until(predicate: () => boolean): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const check = () => (predicate() ? resolve() : waiters.push(check));
        waiters.push(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A server that answers every request with the scripted status, headers and body; counts them. */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string | undefined>;
  body?: unknown;
}

export async function startScripted(answer: (n: number, req: http.IncomingMessage) => ScriptedAnswer) {
  let n = 0;
  const requests: Array<{ method: string; url: string; authorization?: string }> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
      });
      const a = answer(n, req);
      const text = a.body === undefined ? '' : JSON.stringify(a.body);
      const headers: Record<string, string> = text ? { 'Content-Type': 'application/json' } : {};
      for (const [k, v] of Object.entries(a.headers ?? {})) if (v !== undefined) headers[k] = v;
      res.writeHead(a.status, headers);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
