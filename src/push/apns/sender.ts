/**
 * The APNs sender: one app's credentials (a .p8 token key or a PKCS#12 certificate), pushes over
 * the shared HTTP/2 connections, Apple's answers mapped onto PushResult (Apple, "Handling
 * notification responses from APNs").
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../../log/index.ts';
import { loggedSend, parseRetryAfter, retry, since } from '../common.ts';
import type { PushNotification, PushResult, PushSender, PushTarget } from '../types.ts';
import { APNS_MAX_PAYLOAD_BYTES, apnsRequest } from './payload.ts';
import { type ApnsPool, type ApnsPoolStats, createApnsPool } from './pool.ts';
import { type ApnsSigningKey, type ApnsTokenCache, createApnsTokenCache } from './token.ts';

export const APNS_PRODUCTION_ENDPOINT = 'https://api.push.apple.com';
export const APNS_SANDBOX_ENDPOINT = 'https://api.sandbox.push.apple.com';

export type ApnsAuth =
  | { kind: 'token'; key: ApnsSigningKey }
  | { kind: 'certificate'; pfx: Buffer; passphrase?: string };

export interface ApnsConnectionOptions {
  /** Extra trusted CAs (PEM), added to the system store. */
  ca?: readonly string[];
  /** Outbound HTTP proxy (CONNECT tunnel). */
  proxyUrl?: string;
  /** Sessions per endpoint and credential; default 1. */
  connections?: number;
  /** Upper bound on streams per session (the server's own limit applies too); default 100. */
  maxConcurrentStreams?: number;
  /** Pushes waiting for a free stream, per endpoint and credential; default 10 000. */
  maxQueue?: number;
  /** TCP + TLS + first SETTINGS; default 10 s. */
  connectTimeoutMs?: number;
  /** Keepalive PING interval; default 60 s; 0 disables. */
  pingIntervalMs?: number;
  logger?: Logger;
}

/**
 * Connections shared by every APNs sender of the process, one pool per (endpoint, credential):
 * two apps of one team share their sessions, as they share their token.
 */
export interface ApnsConnections {
  pool(origin: string, auth: ApnsAuth): ApnsPool;
  close(): Promise<void>;
  /** Per pool, keyed by origin and credential kind. */
  stats(): Record<string, ApnsPoolStats>;
}

function credentialKey(auth: ApnsAuth): string {
  if (auth.kind === 'token') return `token:${auth.key.teamId}:${auth.key.keyId}`;
  const digest = createHash('sha256')
    .update(auth.pfx)
    .update('\0')
    .update(auth.passphrase ?? '')
    .digest('hex');
  return `certificate:${digest.slice(0, 16)}`;
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new RangeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return value;
}

export function createApnsConnections(options: ApnsConnectionOptions = {}): ApnsConnections {
  const connections = positive('connections', options.connections, 1);
  const maxConcurrentStreams = positive('maxConcurrentStreams', options.maxConcurrentStreams, 100);
  const maxQueue = positive('maxQueue', options.maxQueue, 10_000, true);
  const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 10_000);
  const pingIntervalMs = positive('pingIntervalMs', options.pingIntervalMs, 60_000, true);
  const pools = new Map<string, ApnsPool>();
  let closed = false;
  return {
    pool(origin, auth) {
      if (closed) throw new Error('APNs connections are closed');
      const kind = credentialKey(auth);
      const key = `${origin} ${kind}`;
      let pool = pools.get(key);
      if (!pool) {
        pool = createApnsPool({
          origin,
          tls: {
            ...(options.ca ? { ca: options.ca } : {}),
            ...(auth.kind === 'certificate' ? { pfx: auth.pfx, passphrase: auth.passphrase } : {}),
          },
          ...(options.proxyUrl ? { proxyUrl: options.proxyUrl } : {}),
          connections,
          maxConcurrentStreams,
          maxQueue,
          connectTimeoutMs,
          pingIntervalMs,
          ...(options.logger ? { logger: options.logger } : {}),
          label: `${origin} (${auth.kind})`,
        });
        pools.set(key, pool);
      }
      return pool;
    },
    async close() {
      closed = true;
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    },
    stats() {
      return Object.fromEntries([...pools].map(([key, pool]) => [key, pool.stats()]));
    },
  };
}

export interface ApnsSenderOptions extends ApnsConnectionOptions {
  auth: ApnsAuth;
  /** Production endpoint; default https://api.push.apple.com. */
  endpoint?: string;
  /** Development endpoint, for targets whose environment is sandbox. */
  sandboxEndpoint?: string;
  /** One push, queueing included; default 10 s. */
  timeoutMs?: number;
  /** Share one token per (team, key) across senders; default: a cache of this sender's own. */
  tokenCache?: ApnsTokenCache;
  /** Share connections across senders; default: pools of this sender's own, closed with it. */
  connectionPools?: ApnsConnections;
  /** Epoch ms (token times, expiry); tests inject a clock. */
  now?: () => number;
}

/** Apple's answers that mean the token will never work again for this app. */
const UNREGISTERED_400 = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic']);

function originOf(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.protocol !== 'https:')
    throw new TypeError(`APNs endpoint must be https:// (HTTP/2 over TLS): ${endpoint}`);
  return url.origin;
}

function reasonOf(body: string, status: number): string {
  try {
    const reason = (JSON.parse(body) as { reason?: unknown }).reason;
    if (typeof reason === 'string' && reason !== '') return reason;
  } catch {
    // not JSON: fall through
  }
  return `HTTP ${status}`;
}

export function createApnsSender(options: ApnsSenderOptions): PushSender {
  const { auth, logger } = options;
  const now = options.now ?? Date.now;
  const timeoutMs = positive('timeoutMs', options.timeoutMs, 10_000);
  const production = originOf(options.endpoint ?? APNS_PRODUCTION_ENDPOINT);
  const sandbox = originOf(options.sandboxEndpoint ?? APNS_SANDBOX_ENDPOINT);
  const tokens = options.tokenCache ?? createApnsTokenCache({ now });
  const ownPools = options.connectionPools === undefined;
  const pools = options.connectionPools ?? createApnsConnections(options);
  let closed = false;

  async function deliver(target: PushTarget, n: PushNotification, start: number): Promise<PushResult> {
    const elapsed = () => since(start);
    if (closed) return retry('apns', 'sender_closed', elapsed());
    if (target.platform !== 'ios')
      return { status: 'failed', provider: 'apns', reason: 'platform_not_ios', latencyMs: elapsed() };
    if (n.expiresAt !== undefined && n.expiresAt <= now()) {
      return { status: 'failed', provider: 'apns', reason: 'expired', latencyMs: elapsed() };
    }
    const { headers, payload } = apnsRequest(n, { topic: target.appId, now: now(), id: randomUUID() });
    if (Buffer.byteLength(payload) > APNS_MAX_PAYLOAD_BYTES) {
      return { status: 'failed', provider: 'apns', reason: 'PayloadTooLarge', latencyMs: elapsed() };
    }
    const pool = pools.pool(target.environment === 'sandbox' ? sandbox : production, auth);
    const path = `/3/device/${encodeURIComponent(target.token)}`;
    let tokenRefreshed = false;
    let tokenReloaded = false;
    for (;;) {
      let jwt: string | undefined;
      if (auth.kind === 'token') {
        try {
          jwt = await tokens.get(auth.key);
        } catch {
          return { status: 'failed', provider: 'apns', reason: 'token_signing_failed', latencyMs: elapsed() };
        }
      }
      const outcome = await pool.request({
        path,
        headers: jwt === undefined ? headers : { ...headers, authorization: `bearer ${jwt}` },
        payload,
        timeoutMs,
      });
      switch (outcome.kind) {
        case 'timeout':
          return retry('apns', 'timeout', elapsed());
        case 'unknown':
          return retry('apns', outcome.reason, elapsed());
        case 'unavailable':
          if (outcome.permanent)
            return { status: 'failed', provider: 'apns', reason: outcome.reason, latencyMs: elapsed() };
          return retry('apns', outcome.reason, elapsed(), outcome.retryAfterMs);
        case 'response':
          break;
      }
      const { status, headers: answer, body } = outcome;
      if (status === 200) {
        const apnsId = answer['apns-id'];
        return typeof apnsId === 'string'
          ? { status: 'sent', provider: 'apns', providerId: apnsId, latencyMs: elapsed() }
          : { status: 'sent', provider: 'apns', latencyMs: elapsed() };
      }
      const reason = reasonOf(body, status);
      if (status === 410 || (status === 400 && UNREGISTERED_400.has(reason))) {
        return { status: 'unregistered', provider: 'apns', reason, latencyMs: elapsed() };
      }
      if (status === 403 && reason === 'ExpiredProviderToken' && auth.kind === 'token' && !tokenRefreshed) {
        // Refresh once (the cache makes that at most once per token, however many pushes saw the
        // same answer) and send this push once more.
        tokenRefreshed = true;
        if (jwt !== undefined && tokens.expired(auth.key, jwt)) continue;
      }
      if (
        status === 429 &&
        reason === 'TooManyProviderTokenUpdates' &&
        jwt !== undefined &&
        auth.kind === 'token' &&
        !tokenReloaded
      ) {
        // Another process's token is the team's current one (a restart, another node): take it
        // from the shared store and send this push once more; if there is none, retry later.
        tokenReloaded = true;
        if (await tokens.reload(auth.key, jwt)) continue;
      }
      if (status === 429 || status === 500 || status === 503) {
        return retry('apns', reason, elapsed(), parseRetryAfter(answer['retry-after'], now()));
      }
      if (status === 403 && reason !== 'ExpiredProviderToken') {
        logger?.error(
          { provider: 'apns', reason, appId: target.appId },
          'apns refused the provider credentials',
        );
      }
      return { status: 'failed', provider: 'apns', reason, latencyMs: elapsed() };
    }
  }

  return {
    send: loggedSend(logger, deliver),
    async close() {
      closed = true;
      if (ownPools) await pools.close();
    },
  };
}
