/**
 * Long-lived, multiplexed HTTP/2 connections to one APNs endpoint with one credential.
 *
 * Apple ("Sending notification requests to APNs"): keep connections open across many pushes
 * rather than opening one per push (rapid connect/disconnect is treated as a denial-of-service
 * attack), and respect the server's SETTINGS_MAX_CONCURRENT_STREAMS, which APNs changes during
 * a connection's life (it starts low until the first token is accepted). So:
 *
 * - up to `connections` sessions, opened lazily; a session takes pushes only after the server's
 *   first SETTINGS frame, and at most min(server limit, `maxConcurrentStreams`) at a time;
 * - excess pushes wait in one bounded FIFO queue;
 * - a GOAWAY drains its session (no new streams) and the next push opens a new one; streams the
 *   server never processed (id above the GOAWAY's last-stream-id, REFUSED_STREAM, or never given
 *   an id) are sent again once, transparently (RFC 9113 §6.8: they are safe to retry);
 * - a stream that was sent but got no answer (connection lost) is reported as such: whether
 *   Apple delivered it is unknown, and only the caller can decide to try again.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '../../log/index.ts';
import { openTunnel, withSystemRoots } from '../proxy.ts';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** APNs error bodies are a small JSON object; anything larger is not read further. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Sends of a stream the server refused without processing it. */
const MAX_REFUSED_RESENDS = 1;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** How long close() lets streams in flight finish before the sessions are destroyed. */
const CLOSE_GRACE_MS = 1000;

/** TLS alerts a server sends when it refuses the client certificate. */
const CLIENT_CERT_REFUSED =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|ACCESS_DENIED)/;

export interface ApnsTlsOptions {
  ca?: readonly string[];
  /** PKCS#12 client certificate (certificate-based authentication). */
  pfx?: Buffer;
  passphrase?: string;
}

export interface ApnsPoolOptions {
  /** `https://host[:port]`. */
  origin: string;
  tls: ApnsTlsOptions;
  proxyUrl?: string;
  connections: number;
  maxConcurrentStreams: number;
  maxQueue: number;
  connectTimeoutMs: number;
  /** 0 disables the keepalive PING. */
  pingIntervalMs: number;
  logger?: Logger;
  /** For logs: which endpoint and credential (never a secret). */
  label: string;
}

export interface ApnsStreamRequest {
  path: string;
  headers: Record<string, string>;
  payload: string;
  timeoutMs: number;
}

export type ApnsOutcome =
  | { kind: 'response'; status: number; headers: http2.IncomingHttpHeaders; body: string }
  /** Not processed by APNs (never sent, refused, queue full, connection failed): retry later. */
  | { kind: 'unavailable'; reason: string; retryAfterMs?: number; permanent?: boolean }
  | { kind: 'timeout' }
  /** Sent, but the connection ended before an answer: delivery unknown. */
  | { kind: 'unknown'; reason: string };

export interface ApnsPoolStats {
  sessionsOpened: number;
  openSessions: number;
  active: number;
  queued: number;
  goaways: number;
  resent: number;
  /** Most streams one session had open at once. */
  maxActiveSeen: number;
}

export interface ApnsPool {
  request(request: ApnsStreamRequest): Promise<ApnsOutcome>;
  close(): Promise<void>;
  stats(): ApnsPoolStats;
}

interface Conn {
  id: number;
  session?: ClientHttp2Session;
  ready: boolean;
  draining: boolean;
  active: number;
  limit: number;
  lastStreamId?: number;
  error?: unknown;
  timers: NodeJS.Timeout[];
}

interface Item {
  request: ApnsStreamRequest;
  resolve: (outcome: ApnsOutcome) => void;
  resends: number;
  settled: boolean;
  timer?: NodeJS.Timeout;
  stream?: ClientHttp2Stream;
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'ERROR';
}

/** The JSON `reason` APNs puts in a GOAWAY's debug data, if any. */
function goawayReason(opaque: Buffer | undefined): string | undefined {
  if (!opaque || opaque.length === 0) return undefined;
  try {
    const reason = (JSON.parse(opaque.toString('utf8')) as { reason?: unknown }).reason;
    return typeof reason === 'string' ? reason : undefined;
  } catch {
    return undefined;
  }
}

async function connectSession(options: ApnsPoolOptions): Promise<ClientHttp2Session> {
  const url = new URL(options.origin);
  const ca = withSystemRoots(options.tls.ca);
  const tls = {
    ...(ca ? { ca } : {}),
    ...(options.tls.pfx ? { pfx: options.tls.pfx, passphrase: options.tls.passphrase } : {}),
  };
  const settings = { enablePush: false };
  if (!options.proxyUrl) return connectChecked(() => http2.connect(url.origin, { ...tls, settings }));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? 443 : Number(url.port);
  const socket = await openTunnel(options.proxyUrl, host, port, {
    timeoutMs: options.connectTimeoutMs,
    ...(options.tls.ca ? { ca: options.tls.ca } : {}),
  });
  return connectChecked(() => {
    const secure = tlsConnect({
      socket,
      ALPNProtocols: ['h2'],
      ...(isIP(host) ? {} : { servername: host }),
      ...tls,
    });
    return http2.connect(url.origin, { createConnection: () => secure, settings });
  });
}

/**
 * A synchronous throw from connect is a TLS option Node refused (an unreadable PKCS#12, a wrong
 * passphrase): no retry will fix it.
 */
function connectChecked(connect: () => ClientHttp2Session): ClientHttp2Session {
  try {
    return connect();
  } catch (cause) {
    throw Object.assign(new Error('the TLS credential is unusable', { cause }), {
      code: 'TLS_CREDENTIAL_UNUSABLE',
    });
  }
}

export function createApnsPool(options: ApnsPoolOptions): ApnsPool {
  const conns = new Set<Conn>();
  const queue: Item[] = [];
  const closeWaiters: Array<() => void> = [];
  const log = options.logger;
  let closing = false;
  let nextId = 0;
  let failures = 0;
  let nextConnectAt = 0;
  const counters = { sessionsOpened: 0, goaways: 0, resent: 0, maxActiveSeen: 0 };

  function settle(item: Item, outcome: ApnsOutcome): void {
    if (item.settled) return;
    item.settled = true;
    clearTimeout(item.timer);
    item.resolve(outcome);
  }

  function failQueue(outcome: ApnsOutcome): void {
    for (const item of queue.splice(0)) settle(item, outcome);
  }

  function checkClosed(): void {
    if (closing && conns.size === 0) for (const resolve of closeWaiters.splice(0)) resolve();
  }

  function pick(): Conn | undefined {
    let best: Conn | undefined;
    for (const conn of conns) {
      if (conn.ready && !conn.draining && conn.active < conn.limit && (!best || conn.active < best.active)) {
        best = conn;
      }
    }
    return best;
  }

  function pump(): void {
    while (queue.length > 0) {
      const conn = pick();
      if (!conn) break;
      dispatch(queue.shift()!, conn);
    }
    if (queue.length > 0 && !closing) maybeOpen();
  }

  /** Opens one more session when every live one is busy, within `connections`. */
  function maybeOpen(): void {
    let live = 0;
    for (const conn of conns) {
      if (conn.draining) continue;
      live += 1;
      if (!conn.ready) return; // one connection attempt at a time
    }
    if (live >= options.connections) return;
    const wait = nextConnectAt - performance.now();
    if (wait > 0) {
      // Still backing off after failed connection attempts (Apple: rapid reconnects look like
      // an attack). Pushes no live session can take are handed back for later.
      if (live === 0)
        failQueue({ kind: 'unavailable', reason: 'connect_backoff', retryAfterMs: Math.ceil(wait) });
      return;
    }
    open();
  }

  function open(): void {
    nextId += 1;
    const conn: Conn = { id: nextId, ready: false, draining: false, active: 0, limit: 0, timers: [] };
    conns.add(conn);
    counters.sessionsOpened += 1;
    connectSession(options).then(
      (session) => attach(conn, session),
      (err: unknown) => connectFailed(conn, err),
    );
  }

  function connectFailed(conn: Conn, err: unknown): void {
    for (const timer of conn.timers) clearTimeout(timer);
    conns.delete(conn);
    failures += 1;
    nextConnectAt = performance.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
    const code = errorCode(err);
    log?.warn(
      { provider: 'apns', endpoint: options.label, code, connection: conn.id },
      'apns connect failed',
    );
    let serving = false;
    for (const other of conns) if (other.ready && !other.draining) serving = true;
    if (!serving) {
      failQueue({
        kind: 'unavailable',
        reason: `connect_failed:${code}`,
        permanent: CLIENT_CERT_REFUSED.test(code) || code === 'TLS_CREDENTIAL_UNUSABLE',
      });
    }
    checkClosed();
    pump();
  }

  function attach(conn: Conn, session: ClientHttp2Session): void {
    conn.session = session;
    if (closing) session.destroy();
    const connectTimer = setTimeout(() => {
      conn.error ??= Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' });
      session.destroy();
    }, options.connectTimeoutMs);
    conn.timers.push(connectTimer);
    session.on('remoteSettings', (settings) => {
      const remote = settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
      conn.limit = Math.min(remote, options.maxConcurrentStreams);
      if (!conn.ready) {
        conn.ready = true;
        clearTimeout(connectTimer);
        failures = 0;
        nextConnectAt = 0;
        if (options.pingIntervalMs > 0) {
          const ping = setInterval(() => {
            if (session.closed || session.destroyed) return;
            session.ping((err) => {
              if (err && !session.destroyed) session.destroy();
            });
          }, options.pingIntervalMs);
          ping.unref();
          conn.timers.push(ping);
        }
        log?.debug({ provider: 'apns', endpoint: options.label, connection: conn.id }, 'apns connected');
      }
      pump();
    });
    session.on('goaway', (code, lastStreamId, opaque) => {
      conn.draining = true;
      conn.lastStreamId = lastStreamId;
      counters.goaways += 1;
      log?.info(
        {
          provider: 'apns',
          endpoint: options.label,
          connection: conn.id,
          code,
          reason: goawayReason(opaque),
        },
        'apns goaway',
      );
      // Node closes the session itself (gracefully for NO_ERROR); new pushes go to a new one.
      pump();
    });
    session.on('error', (err) => {
      conn.error ??= err;
    });
    session.on('close', () => {
      for (const timer of conn.timers) clearTimeout(timer);
      conn.draining = true;
      if (!conn.ready) {
        connectFailed(
          conn,
          conn.error ?? Object.assign(new Error('closed before SETTINGS'), { code: 'ECONNRESET' }),
        );
        return;
      }
      conns.delete(conn);
      if (conn.error) {
        log?.warn(
          { provider: 'apns', endpoint: options.label, connection: conn.id, code: errorCode(conn.error) },
          'apns connection lost',
        );
      }
      checkClosed();
      pump();
    });
  }

  function refused(item: Item, reason: string): void {
    if (item.resends < MAX_REFUSED_RESENDS && !closing) {
      item.resends += 1;
      counters.resent += 1;
      queue.unshift(item);
    } else {
      settle(item, { kind: 'unavailable', reason });
    }
  }

  function dispatch(item: Item, conn: Conn): void {
    const session = conn.session!;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(
        { ':method': 'POST', ':path': item.request.path, ...item.request.headers },
        { endStream: false },
      );
    } catch {
      // The session closed or received GOAWAY between the checks and now: nothing was sent.
      conn.draining = true;
      refused(item, 'refused_stream');
      return;
    }
    conn.active += 1;
    counters.maxActiveSeen = Math.max(counters.maxActiveSeen, conn.active);
    item.stream = stream;
    let status: number | undefined;
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
    });
    // The outcome is decided on 'close'; an 'error' (RST_STREAM, session gone) only explains it.
    stream.on('error', () => {});
    stream.on('close', () => {
      conn.active -= 1;
      item.stream = undefined;
      if (!item.settled) {
        const id = stream.id;
        if (status !== undefined) {
          settle(item, { kind: 'response', status, headers, body: Buffer.concat(chunks).toString('utf8') });
        } else if (
          stream.rstCode === NGHTTP2_REFUSED_STREAM ||
          id === undefined ||
          (conn.lastStreamId !== undefined && id > conn.lastStreamId)
        ) {
          refused(item, 'refused_stream');
        } else {
          settle(item, { kind: 'unknown', reason: `stream_closed:${stream.rstCode ?? 'unknown'}` });
        }
      }
      pump();
    });
    stream.end(item.request.payload);
  }

  return {
    request(request) {
      return new Promise<ApnsOutcome>((resolve) => {
        if (closing) {
          resolve({ kind: 'unavailable', reason: 'sender_closed' });
          return;
        }
        if (queue.length >= options.maxQueue) {
          resolve({ kind: 'unavailable', reason: 'queue_full' });
          return;
        }
        const item: Item = { request, resolve, resends: 0, settled: false };
        item.timer = setTimeout(() => {
          const index = queue.indexOf(item);
          if (index >= 0) queue.splice(index, 1);
          settle(item, { kind: 'timeout' });
          // Apple may still deliver it; cancelling only frees the stream slot.
          item.stream?.close(NGHTTP2_CANCEL);
        }, request.timeoutMs);
        queue.push(item);
        pump();
      });
    },
    close() {
      closing = true;
      failQueue({ kind: 'unavailable', reason: 'sender_closed' });
      const done = new Promise<void>((resolve) => closeWaiters.push(resolve));
      for (const conn of conns) {
        conn.draining = true;
        // Graceful: streams in flight finish, then the session ends.
        if (conn.session && !conn.session.closed) conn.session.close();
      }
      checkClosed();
      // Bounded: a push still unanswered by then is abandoned (at shutdown its event was
      // already handed back to the outbox), so a slow APNs cannot hold a process open.
      const force = setTimeout(() => {
        for (const conn of conns) if (conn.session && !conn.session.destroyed) conn.session.destroy();
      }, CLOSE_GRACE_MS);
      force.unref();
      return done.finally(() => clearTimeout(force));
    },
    stats() {
      let active = 0;
      let openSessions = 0;
      for (const conn of conns) {
        active += conn.active;
        if (conn.session && !conn.session.destroyed) openSessions += 1;
      }
      return { ...counters, active, openSessions, queued: queue.length };
    },
  };
}
