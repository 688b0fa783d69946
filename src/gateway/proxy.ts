/**
 * The gateway's request path: route → client certificate → who and what the request is (ActiveSync
 * query, Authorization, EWS mailbox) → compliance policy → Exchange, streaming both bodies.
 *
 * Nothing is buffered but the first 64 KiB of an EWS request (to see which mailbox it acts on), so
 * a 50 MB attachment passes with flat memory; timeouts on both sides sit above ActiveSync's
 * 59-minute Ping/Sync (MS-ASCMD), so long polls are never cut by the gateway.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import {
  type ActiveSyncQuery,
  ActiveSyncQueryError,
  activeSyncCommandLabel,
  parseActiveSyncQuery,
} from './activesync/index.ts';
import type { CertificateCheck, ClientIdentity } from './certificates/index.ts';
import type { CredentialDelegate } from './delegation.ts';
import { EWS_INSPECT_BYTES, inspectEwsRequest } from './ews/index.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { identitiesFromAuthorization } from './identity/index.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { CompiledPolicy } from './policy/index.ts';
import { matchRoute } from './routes.ts';
import type { GatewayConfig } from './tls.ts';
import type { UpstreamPools } from './upstream.ts';

/** Requests that Exchange holds open until something happens (or the heartbeat ends). */
const LONG_POLLS = new Set(['Ping', 'Sync', 'GetStreamingEvents']);

export interface ProxyDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Checks the certificate of the request's connection; absent when client certificates are off. */
  certificates?: (socket: TLSSocket) => Promise<CertificateCheck>;
  /** The compliance policy as last loaded from the database. */
  policy: () => CompiledPolicy;
  pools: UpstreamPools;
  /** Kerberos constrained delegation, when enabled. */
  delegate?: CredentialDelegate;
}

interface RequestFacts {
  command: string;
  query?: ActiveSyncQuery;
  identity?: ClientIdentity;
  /** Authenticated names (certificate, Authorization). */
  users: string[];
  /** Names the request only claims (ActiveSync User=, EWS mailboxes): they can only block. */
  claimed: string[];
  authScheme?: string;
}

/** An HTTP error answer with the device API's JSON shape. */
function refuse(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/** A short, stable pseudonym for logs (device ids are personal data in the logs' sense). */
function pseudonym(value: string | undefined): string | undefined {
  return value === undefined ? undefined : createHash('sha256').update(value).digest('hex').slice(0, 12);
}

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID();
}

/** Reads up to `limit` bytes of the body, and gives a stream of the whole body to forward. */
async function peekBody(req: IncomingMessage, limit: number): Promise<{ prefix: Buffer; body: Readable }> {
  const iterator = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < limit) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    size += next.value.length;
  }
  const prefix = Buffer.concat(chunks);
  async function* all(): AsyncGenerator<Buffer> {
    if (prefix.length > 0) yield prefix;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { prefix: prefix.subarray(0, limit), body: Readable.from(all(), { objectMode: false }) };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Which connections to Exchange this request may share: IIS authenticates NTLM (and Kerberos with
 * authPersistNonNTLM) per connection, so never across users; a client's own NTLM/Negotiate
 * handshake keeps to its own downstream connection.
 */
function connectionKey(facts: RequestFacts, socketKey: () => string, delegated: boolean): string {
  const scheme = facts.authScheme;
  if (!delegated && (scheme === 'ntlm' || scheme === 'negotiate')) return socketKey();
  if (delegated && facts.identity) return `kcd:${facts.identity.upn ?? facts.identity.fingerprint256}`;
  if (facts.identity) return `cert:${facts.identity.fingerprint256}`;
  const user = facts.users[0];
  return user ? `user:${scheme ?? 'none'}:${user}` : 'anonymous';
}

function upstreamErrorKind(error: unknown): { kind: 'timeout' | 'tls' | 'unreachable'; status: number } {
  const code = String((error as { code?: unknown }).code ?? '');
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return { kind: 'timeout', status: 504 };
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|ALTNAME|VERIFY/.test(code)) return { kind: 'tls', status: 502 };
  return { kind: 'unreachable', status: 502 };
}

/** Bodies up to this size are held for a delegated request, so a 401 can be retried. */
const REPLAYABLE_BODY_BYTES = 64 * 1024;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Where the answer to a request that is sent again goes: nowhere. */
function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** A delegate's error may say what the device is told (KerberosDelegationError does). */
function delegationRefusal(error: unknown): { status: number; code: string; message: string } {
  const given = error as { status?: unknown; code?: unknown; publicMessage?: unknown } | null;
  if (
    typeof given?.status === 'number' &&
    typeof given.code === 'string' &&
    typeof given.publicMessage === 'string'
  ) {
    return { status: given.status, code: given.code, message: given.publicMessage };
  }
  return {
    status: 502,
    code: 'delegation_failed',
    message: 'The gateway could not obtain credentials for Exchange.',
  };
}

let socketCounter = 0;

export function createProxyHandler(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, metrics } = deps;
  const socketKeys = new WeakMap<object, string>();

  /** The pool key of one device connection; its pool is closed when the connection closes. */
  function socketKey(req: IncomingMessage): string {
    let key = socketKeys.get(req.socket);
    if (!key) {
      socketCounter += 1;
      const own = `socket:${socketCounter}`;
      key = own;
      socketKeys.set(req.socket, own);
      req.socket.once('close', () => deps.pools.discard(own));
    }
    return key;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'https://gateway.invalid');
    const route = matchRoute(url.pathname, config.upstreams);
    const facts: RequestFacts = {
      command: 'other',
      users: [],
      claimed: [],
    };
    const done = (status: number, extra: Record<string, unknown> = {}) => {
      metrics.requests.inc({ route: route?.name ?? 'none', command: facts.command, status: String(status) });
      if (!log.isLevelEnabled('info')) return;
      log.info(
        {
          route: route?.name ?? 'none',
          command: facts.command,
          status,
          ms: Math.round(performance.now() - started),
          device: pseudonym(facts.query?.deviceId),
          certSerial: facts.identity?.serialNumber,
          ...extra,
        },
        'gateway request',
      );
    };

    if (!route) {
      refuse(res, 404, 'not_found', 'The gateway proxies /Microsoft-Server-ActiveSync and /EWS only.');
      return done(404);
    }
    if (!route.upstream) {
      refuse(res, 404, 'route_not_configured', `This gateway has no upstream for ${route.name}.`);
      return done(404);
    }

    // 1. The client certificate.
    if (deps.certificates) {
      const check = await deps.certificates(req.socket as TLSSocket);
      if (check.ok) {
        facts.identity = check.identity;
      } else if (!(check.reason === 'no_certificate' && config.clientCertificates === 'optional')) {
        metrics.certificateFailures.inc({ reason: check.reason });
        log.warn({ reason: check.reason, detail: check.detail }, 'client certificate refused');
        refuse(res, 403, 'client_certificate_refused', `Client certificate refused: ${check.reason}.`, {
          'x-herald-gateway': `certificate; reason=${check.reason}`,
        });
        return done(403, { refused: check.reason });
      }
    }

    // 2. Who the request is for and what it does.
    const auth = identitiesFromAuthorization(req.headers.authorization);
    facts.authScheme = auth.scheme;
    let body: Readable | undefined = hasBody(req) ? req : undefined;
    if (route.name === 'activesync') {
      try {
        facts.query = parseActiveSyncQuery(url.search.replace(/^\?/, ''));
      } catch (error) {
        if (!(error instanceof ActiveSyncQueryError)) throw error;
        refuse(res, 400, 'invalid_activesync_query', `The ActiveSync query is malformed: ${error.reason}.`);
        return done(400);
      }
      facts.command =
        req.method === 'OPTIONS' && !facts.query.command
          ? 'OPTIONS'
          : activeSyncCommandLabel(facts.query.command);
      if (facts.query.user) facts.claimed.push(facts.query.user.toLowerCase());
    } else if (route.name === 'ews' && body) {
      let peeked: Awaited<ReturnType<typeof peekBody>>;
      try {
        peeked = await peekBody(req, EWS_INSPECT_BYTES);
      } catch {
        // The device went away while sending its request: nothing to answer.
        res.destroy();
        return done(499, { aborted: 'client' });
      }
      body = peeked.body;
      const inspected = inspectEwsRequest(peeked.prefix);
      facts.command = inspected.operation;
      facts.claimed.push(...inspected.mailboxes);
    }
    const users = new Set<string>();
    for (const value of [facts.identity?.upn, facts.identity?.email, ...auth.users]) {
      if (value) users.add(value.toLowerCase());
    }
    facts.users = [...users];

    // 3. The compliance policy.
    const decision = deps.policy().evaluate({
      deviceId: facts.query?.deviceId,
      deviceType: facts.query?.deviceType,
      users: facts.users,
      claimedUsers: facts.claimed,
      userAgent: req.headers['user-agent'],
    });
    if (decision.action === 'block') {
      metrics.blocked.inc({ route: route.name, by: decision.ruleId ? 'rule' : 'default' });
      log.warn(
        { rule: decision.ruleId, device: pseudonym(facts.query?.deviceId) },
        'request blocked by policy',
      );
      refuse(res, 403, 'device_blocked', decision.reason, { 'x-herald-gateway': 'blocked' });
      req.resume();
      return done(403, { blocked: decision.ruleId ?? 'default' });
    }

    // 4. Credentials towards Exchange: passed through, or delegated (Kerberos) for a certificate.
    const upstream = new URL(route.upstream);
    const headers = upstreamRequestHeaders(req.headers, {
      remoteAddress: req.socket.remoteAddress,
      host: req.headers.host,
    });
    headers['x-request-id'] = log.bindings().reqId as string;
    const delegate =
      deps.delegate && facts.identity && config.kerberos.routes.includes(route.name as never)
        ? { module: deps.delegate, identity: facts.identity }
        : undefined;
    const delegateFor = async (): Promise<boolean> => {
      if (!delegate) return true;
      try {
        headers.authorization = await delegate.module.authorization(delegate.identity, upstream);
        return true;
      } catch (error) {
        const refusal = delegationRefusal(error);
        log.warn({ err: error, code: refusal.code }, 'credential delegation failed');
        refuse(res, refusal.status, refusal.code, refusal.message);
        done(refusal.status, { delegation: refusal.code });
        return false;
      }
    };
    if (!(await delegateFor())) {
      req.resume();
      return;
    }
    // A delegated request whose ticket Exchange refuses (401) is sent once more with a fresh
    // ticket; that needs its body again, so small bodies are held (large ones are streamed and
    // the next request gets the fresh ticket instead).
    let replay: Buffer | undefined;
    let replayable = delegate !== undefined && body === undefined;
    if (delegate && body) {
      const declared = Number(req.headers['content-length'] ?? Number.NaN);
      if (declared <= REPLAYABLE_BODY_BYTES) {
        try {
          replay = await readAll(body);
          replayable = true;
        } catch {
          res.destroy();
          return done(499, { aborted: 'client' });
        }
      }
    }

    // 5. Forward, streaming both ways.
    const key = connectionKey(facts, () => socketKey(req), delegate !== undefined);
    const lease = deps.pools.acquire(key);
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    const longPoll = LONG_POLLS.has(facts.command) ? facts.command : undefined;
    if (longPoll) metrics.longPolls.inc({ command: longPoll });
    const basePath = upstream.pathname.replace(/\/+$/, '');
    let status = 0;
    try {
      const forward = async (retryOn401: boolean): Promise<'done' | 'retry'> => {
        const sent = performance.now();
        let outcome: 'done' | 'retry' = 'done';
        // undici writes the answer straight into `res` (with back-pressure), once the factory has
        // seen the status and headers: no intermediate stream, no buffering.
        await lease.dispatcher.stream(
          {
            origin: upstream.origin,
            path: `${basePath}${url.pathname}${url.search}`,
            method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
            headers,
            body: replay ?? body ?? null,
            signal: abort.signal,
          },
          ({ statusCode, headers: upstreamHeaders }) => {
            metrics.upstreamLatency.observe({ route: route.name }, (performance.now() - sent) / 1000);
            // The first 401 drops the user's credential and the request goes once more with a
            // fresh one; a 401 to that fresh one reaches the device, and the credential stays
            // (an Exchange that refuses Kerberos altogether must not cost KDC trips per request).
            if (delegate && statusCode === 401 && retryOn401) {
              delegate.module.invalidate?.(delegate.identity);
              outcome = 'retry';
              return discard();
            }
            status = statusCode;
            const responseHeaders = downstreamResponseHeaders(statusCode, upstreamHeaders, {
              publicOrigin: req.headers.host ? `https://${req.headers.host}` : undefined,
              ...(route.name === 'ews' && config.removeUnsupportedAuthForEws
                ? { stripAuth: { ntlm: true, negotiate: !facts.identity } }
                : {}),
            });
            res.writeHead(statusCode, responseHeaders);
            return res;
          },
        );
        return outcome;
      };
      if ((await forward(replayable)) === 'retry') {
        log.info('Exchange refused the delegated ticket (401); once more with a fresh one');
        if (!(await delegateFor())) return;
        await forward(false);
      }
      done(status);
    } catch (error) {
      if (abort.signal.aborted) return done(status || 499, { aborted: 'client' });
      if (status !== 0) {
        // Exchange broke off mid-body: nothing more can be sent.
        res.destroy();
        return done(status, { broken: (error as Error).message });
      }
      const { kind, status: answer } = upstreamErrorKind(error);
      metrics.upstreamErrors.inc({ route: route.name, kind });
      log.warn({ err: error, kind }, 'Exchange did not answer');
      refuse(
        res,
        answer,
        kind === 'timeout' ? 'upstream_timeout' : 'upstream_unreachable',
        kind === 'timeout' ? 'Exchange did not answer in time.' : 'Exchange could not be reached.',
      );
      return done(answer, { upstream: kind });
    } finally {
      if (longPoll) metrics.longPolls.dec({ command: longPoll });
      lease.release();
      res.off('close', onClose);
    }
  }

  return (req, res) => {
    const reqId = requestId(req);
    const log = deps.logger.child({ reqId });
    metrics.inflight.inc();
    res.once('close', () => metrics.inflight.dec());
    handle(req, res, log).catch((error: unknown) => {
      log.error({ err: error }, 'gateway request failed');
      refuse(res, 500, 'internal_error', 'An internal error occurred.');
    });
  };
}
