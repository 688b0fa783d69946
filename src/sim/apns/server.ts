/**
 * The TLS server: HTTP/2 for pushes (`POST /3/device/{token}`), HTTP/1.1 or HTTP/2 for the
 * control API under /sim/. Each HTTP/2 session has its own state: its id, the team of its first
 * token, the client certificate it presented, how many push streams it answered and has open.
 *
 * Hostile input never takes the server down: a session error destroys that session only, a
 * reset stream is dropped without an answer (and without a record: the client will resend).
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { CertInfo, ConnectionAuth, ProviderAuth } from './auth.ts';
import { readBody } from './body.ts';
import { type ApnsSim, isUuid } from './simulator.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Body bytes kept for the record (APNs payloads are ≤ 5 KB; more is answered 413). */
const KEEP_BYTES = 64 * 1024;
/** Past this, answer a push at once (and discard the rest of its body). */
const HARD_CAP_BYTES = 1024 * 1024;

export interface ApnsServerOptions {
  cert: string;
  key: string;
  clientCa?: string | string[];
  maxConcurrentStreams: number;
  responseDelayMs: number;
  log?: (line: string) => void;
  control: (
    req: IncomingMessage | http2.Http2ServerRequest,
    res: ServerResponse | http2.Http2ServerResponse,
    pathname: string,
    query: URLSearchParams,
  ) => Promise<number>;
}

interface SessionState {
  id: number;
  /** Push streams answered. */
  answered: number;
  /** Push streams open now. */
  open: number;
  maxAnsweredId: number;
  /** Set once GOAWAY went out: streams above it are refused. */
  goawayLast: number | undefined;
  conn: ConnectionAuth;
}

export interface ApnsServer {
  server: http2.Http2SecureServer;
  close(): Promise<void>;
}

function certInfo(socket: TLSSocket, trustClients: boolean): CertInfo {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0 || !peer.raw) {
    return { present: false, authorized: false, subject: '', uid: undefined };
  }
  let subject = '';
  try {
    subject = new X509Certificate(peer.raw).subject.split('\n').join(', ');
  } catch {
    // unparsable: leave the subject empty
  }
  const uid = (peer.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.UID;
  return {
    present: true,
    authorized: trustClients && socket.authorized === true,
    subject,
    uid: Array.isArray(uid) ? uid[0] : uid,
  };
}

function splitUrl(url: string): { pathname: string; query: URLSearchParams } {
  const at = url.indexOf('?');
  return at < 0
    ? { pathname: url, query: new URLSearchParams() }
    : { pathname: url.slice(0, at), query: new URLSearchParams(url.slice(at + 1)) };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** APNs answers the request's apns-id, or a new one. */
function echoedId(value: string | string[] | undefined): string {
  const given = single(value);
  return given !== undefined && isUuid(given) ? given : randomUUID();
}

export function createApnsServer(sim: ApnsSim, auth: ProviderAuth, options: ApnsServerOptions): ApnsServer {
  const log = options.log;
  const server = http2.createSecureServer({
    cert: options.cert,
    key: options.key,
    allowHTTP1: true,
    // Certificate-based provider auth: ask for a client certificate, judge it per request.
    requestCert: true,
    rejectUnauthorized: false,
    ...(options.clientCa ? { ca: options.clientCa } : {}),
    minVersion: 'TLSv1.2',
    settings: { maxConcurrentStreams: options.maxConcurrentStreams },
  });
  const trustClients = options.clientCa !== undefined && options.clientCa.length > 0;
  const sessions = new WeakMap<http2.ServerHttp2Session, SessionState>();
  const liveSessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<Socket>();
  const waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let connectionSeq = 0;
  let closing = false;

  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          waits.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      waits.add(entry);
    });

  const opened = (onClose: (listener: () => void) => void): number => {
    const id = ++connectionSeq;
    sim.stats.connections++;
    sim.stats.openConnections++;
    onClose(() => {
      sim.stats.openConnections--;
    });
    return id;
  };

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // HTTP/1.1 connections (the control API); HTTP/2 ones are counted as sessions.
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    opened((listener) => socket.once('close', listener));
  });

  server.on('session', (session: http2.ServerHttp2Session) => {
    const id = opened((listener) => session.once('close', listener));
    liveSessions.add(session);
    session.once('close', () => liveSessions.delete(session));
    session.on('error', (error: NodeJS.ErrnoException) => {
      // A peer that just hangs up is no news.
      if (error.code !== 'ECONNRESET') log?.(`connection ${id}: session error: ${error.message}`);
      session.destroy();
    });
    let cert: CertInfo;
    try {
      cert = certInfo(session.socket as TLSSocket, trustClients);
    } catch {
      cert = { present: false, authorized: false, subject: '', uid: undefined };
    }
    sessions.set(session, {
      id,
      answered: 0,
      open: 0,
      maxAnsweredId: 0,
      goawayLast: undefined,
      conn: { cert },
    });
    if (closing) session.destroy();
  });

  server.on('tlsClientError', (error) => log?.(`TLS handshake failed: ${error.message}`));

  function maybeGoaway(session: http2.ServerHttp2Session, state: SessionState): void {
    const after = sim.goawayAfterStreams;
    if (after === undefined || state.goawayLast !== undefined || state.answered < after) return;
    if (session.closed || session.destroyed) return;
    state.goawayLast = state.maxAnsweredId;
    session.goaway(NGHTTP2_NO_ERROR, state.goawayLast);
    sim.stats.goaways++;
    log?.(`connection ${state.id}: GOAWAY (NO_ERROR, last stream ${state.goawayLast})`);
    // Close once that GOAWAY is out: close() sends its own GOAWAY, which nghttp2 only clamps to
    // the first one's last-stream-id after the first was sent.
    setImmediate(() => {
      if (!session.closed && !session.destroyed) session.close();
    });
  }

  async function push(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, pathname: string) {
    const stream = req.stream;
    const session = stream.session;
    const state = session ? sessions.get(session as http2.ServerHttp2Session) : undefined;
    if (!session || !state) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const device = /^\/3\/device(?:\/(.*))?$/.exec(pathname);
    if (device) {
      state.open++;
      sim.stats.maxConcurrentStreamsSeen = Math.max(sim.stats.maxConcurrentStreamsSeen, state.open);
      stream.once('close', () => state.open--);
    }
    const body = await readBody(req, KEEP_BYTES, HARD_CAP_BYTES);
    if (body.aborted) return;
    if (device && options.responseDelayMs > 0) await delay(options.responseDelayMs);
    const authOutcome =
      device && req.method === 'POST'
        ? await auth.authenticate(single(req.headers.authorization), state.conn)
        : undefined;

    const streamId = stream.id ?? 0;
    // From here on, synchronous: decide, record and answer in one go.
    if (stream.destroyed || stream.closed || closing) return;
    if (state.goawayLast !== undefined && streamId > state.goawayLast) {
      // Beyond the GOAWAY's last-stream-id: not processed, the client must resend it.
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const answer = device
      ? sim.push({
          method: req.method,
          token: device[1] ?? '',
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: body.body,
          bodyBytes: body.bytes,
          auth: authOutcome,
          connectionId: state.id,
        })
      : undefined;
    const status = answer?.status ?? 404;
    const reason = answer ? answer.reason : 'BadPath';
    const text =
      reason === undefined
        ? ''
        : JSON.stringify(
            answer?.timestamp !== undefined ? { reason, timestamp: answer.timestamp } : { reason },
          );
    res.writeHead(status, {
      'apns-id': answer?.apnsId ?? echoedId(req.headers['apns-id']),
      ...(text
        ? { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }
        : {}),
    });
    res.end(text);
    if (device) {
      state.answered++;
      state.maxAnsweredId = Math.max(state.maxAnsweredId, streamId);
      maybeGoaway(session as http2.ServerHttp2Session, state);
    }
  }

  function http1Push(res: ServerResponse, pathname: string): void {
    // APNs speaks HTTP/2 only ("APNs requires HTTP/2 and TLS 1.2 or later"); there is no Apple
    // reason for an HTTP/1.1 request, so answer what an HTTP server says to a protocol it won't
    // serve, and record nothing: the request never reached the provider API.
    const text = JSON.stringify({ error: 'APNs requires HTTP/2 (h2 over TLS); HTTP/1.1 serves /sim/ only' });
    log?.(`refused HTTP/1.1 request for ${pathname}: 505`);
    res.writeHead(505, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      connection: 'close',
    });
    res.end(text);
  }

  server.on('request', (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => {
    // With allowHTTP1, HTTP/1.1 requests arrive here too, as node:http objects.
    const req = request as http2.Http2ServerRequest | IncomingMessage;
    req.on('error', () => {});
    response.on('error', () => {});
    const { pathname, query } = splitUrl(req.url ?? '/');
    let handled: Promise<unknown>;
    if (pathname === '/sim' || pathname.startsWith('/sim/')) {
      handled = options.control(req, response, pathname, query);
    } else if (req.httpVersionMajor !== 2) {
      handled = Promise.resolve().then(() => http1Push(response as unknown as ServerResponse, pathname));
    } else {
      handled = push(request, response, pathname);
    }
    handled.catch((error: unknown) => {
      log?.(`request failed: ${String(error)}`);
      try {
        if (!response.headersSent) response.writeHead(500);
        response.end();
      } catch {
        // the stream is gone
      }
    });
  });

  let closed: Promise<void> | undefined;
  return {
    server,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        for (const wait of waits) {
          clearTimeout(wait.timer);
          wait.resolve();
        }
        waits.clear();
        for (const session of liveSessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
