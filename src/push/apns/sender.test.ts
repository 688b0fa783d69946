/**
 * The APNs sender against the APNs simulator (its real peer here), asserting on what the
 * simulator recorded: token reuse and refresh, Apple's answers mapped to results, GOAWAY,
 * the stream bound, the payload limit; plus hand-made peers for what the simulator does not do
 * (Retry-After, a server that never answers, a refused connection) and a CONNECT proxy.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { after, test } from 'node:test';
import { type ApnsSimulator, startApnsSimulator } from '../../sim/apns/index.ts';
import { selfSignedIdentity } from '../../sim/tls.ts';
import {
  captureLogger,
  deviceToken,
  reasonOf,
  startConnectProxy,
  startH2Peer,
  testClock,
} from '../testkit.ts';
import type { PushNotification, PushResult, PushTarget } from '../types.ts';
import { type ApnsSenderOptions, createApnsConnections, createApnsSender } from './sender.ts';
import {
  type ApnsSigningKey,
  createApnsTokenCache,
  type SharedProviderToken,
  type SharedTokenStore,
} from './token.ts';

const MINUTE = 60_000;
const APP = 'com.example.mail';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function simulator(options: Parameters<typeof startApnsSimulator>[0] = {}): Promise<ApnsSimulator> {
  const sim = await startApnsSimulator(options);
  cleanups.push(() => sim.close());
  return sim;
}

function signingKey(sim: ApnsSimulator): ApnsSigningKey {
  const key = sim.generateKey();
  return { keyId: key.keyId, teamId: key.teamId, privateKey: createPrivateKey(key.privateKey) };
}

function sender(
  sim: { url: string; ca: string },
  options: Partial<ApnsSenderOptions> & Pick<ApnsSenderOptions, 'auth'>,
) {
  const s = createApnsSender({ endpoint: sim.url, sandboxEndpoint: sim.url, ca: [sim.ca], ...options });
  cleanups.push(() => s.close());
  return s;
}

/** For hand-made peers, which do not check the token. */
function anyKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { kind: 'token', key: { keyId: 'KEY0000000', teamId: 'TEAM000000', privateKey } } as const;
}

const target = (token: string, appId = APP): PushTarget => ({
  platform: 'ios',
  token,
  appId,
  environment: 'production',
});

const mail = (registrationId: string, itemId = 'item-1'): PushNotification => ({
  type: 'new_mail',
  registrationId,
  itemId,
  alert: { title: 'Alice Example', body: 'Quarterly figures' },
  badge: 4,
  collapseId: `${registrationId}:${itemId}`,
});

function statuses(results: PushResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

test('apns/token reuse: many pushes from two apps of one team use one token and one connection', async () => {
  const sim = await simulator();
  const key = signingKey(sim);
  const tokenCache = createApnsTokenCache();
  const connectionPools = createApnsConnections({ ca: [sim.ca] });
  cleanups.push(() => connectionPools.close());
  const auth = { kind: 'token', key } as const;
  const mailApp = sender(sim, { auth, tokenCache, connectionPools });
  const calendarApp = sender(sim, { auth, tokenCache, connectionPools });
  const tokens = Array.from({ length: 10 }, deviceToken);
  const results = await Promise.all([
    ...Array.from({ length: 60 }, (_, i) => mailApp.send(target(tokens[i % 10]!), mail(`m${i}`))),
    ...Array.from({ length: 60 }, (_, i) =>
      calendarApp.send(target(tokens[i % 10]!, 'com.example.calendar'), mail(`c${i}`)),
    ),
  ]);
  assert.deepEqual(statuses(results), { sent: 120 });
  const received = sim.received();
  assert.equal(received.length, 120);
  const issued = new Set(
    received.map((r) => (r.auth.kind === 'token' ? `${r.auth.keyId}/${r.auth.issuedAt}` : '-')),
  );
  assert.deepEqual(
    [...issued],
    [`${key.keyId}/${received[0]!.auth.kind === 'token' ? received[0]!.auth.issuedAt : 0}`],
  );
  assert.deepEqual(new Set(received.map((r) => r.topic)), new Set([APP, 'com.example.calendar']));
  assert.equal(tokenCache.stats().signed, 1, 'one token signed');
  assert.equal(sim.stats().connections, 1, 'one HTTP/2 connection for the team');
  const sent = results[0]!;
  assert.equal(sent.status === 'sent' && typeof sent.providerId, 'string', 'providerId is the apns-id');
});

test('apns/token refresh: same token at 19 minutes, a new one at 50 (accepted, no TooManyProviderTokenUpdates)', async () => {
  const clock = testClock();
  const sim = await simulator({ now: clock.now });
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, now: clock.now });
  const token = deviceToken();
  const iat = () => sim.received().map((r) => (r.auth.kind === 'token' ? r.auth.issuedAt : 0));
  assert.equal((await s.send(target(token), mail('r1'))).status, 'sent');
  clock.advance(19 * MINUTE);
  assert.equal((await s.send(target(token), mail('r1', 'i2'))).status, 'sent');
  clock.advance(30 * MINUTE);
  assert.equal((await s.send(target(token), mail('r1', 'i3'))).status, 'sent');
  const [first, second, third] = iat();
  assert.equal(first, second);
  assert.equal(second, third, 'not refreshed before 50 minutes');
  clock.advance(MINUTE);
  assert.equal((await s.send(target(token), mail('r1', 'i4'))).status, 'sent');
  const fourth = iat()[3]!;
  assert.equal(fourth - first!, 50 * 60, 'refreshed at 50 minutes');
  assert.equal(sim.requests().length, 4, 'every push accepted at the first try');
});

test('apns/ExpiredProviderToken: exactly one refresh and one resend', async () => {
  const heraldClock = testClock();
  const appleClock = testClock(heraldClock.t);
  const sim = await simulator({ now: appleClock.now });
  const tokenCache = createApnsTokenCache({ now: heraldClock.now });
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, tokenCache, now: heraldClock.now });
  const token = deviceToken();
  assert.equal((await s.send(target(token), mail('r1'))).status, 'sent');
  // Herald's clock lags Apple's: its 25-minute-old token is 61 minutes old to APNs.
  heraldClock.advance(25 * MINUTE);
  appleClock.advance(61 * MINUTE);
  const result = await s.send(target(token), mail('r1', 'i2'));
  assert.equal(result.status, 'sent');
  const requests = sim.requests({ token });
  assert.deepEqual(
    requests.map((r) => [r.status, r.reason ?? null]),
    [
      [200, null],
      [403, 'ExpiredProviderToken'],
      [200, null],
    ],
  );
  assert.equal(tokenCache.stats().signed, 2, 'one refresh');
  const [, rejected, resent] = requests.map((r) => (r.auth.kind === 'token' ? r.auth.issuedAt : 0));
  assert.equal(resent! - rejected!, 25 * 60);
});

test('apns/ExpiredProviderToken again after the refresh: failed, not looped', async () => {
  const heraldClock = testClock();
  const sim = await simulator({ now: () => heraldClock.t + 2 * 60 * MINUTE });
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, now: heraldClock.now });
  const token = deviceToken();
  const result = await s.send(target(token), mail('r1'));
  assert.equal(result.status, 'failed');
  assert.equal(result.status === 'failed' && result.reason, 'ExpiredProviderToken');
  assert.equal(sim.requests({ token }).length, 2, 'the push and its one resend');
});

const issuedAt = (r: { auth: { kind: string } }) => (r.auth as { issuedAt?: number }).issuedAt;

/** A shared provider-token store in memory (the database in the service); fails its first `failLoads` loads. */
function sharedStore(failLoads = 0): SharedTokenStore {
  const rows = new Map<string, SharedProviderToken>();
  return {
    async load(name) {
      if (failLoads-- > 0) throw new Error('database unavailable');
      return rows.get(name);
    },
    async replace(name, token, issuedAt, expected) {
      if ((rows.get(name)?.issuedAt ?? null) !== expected) return false;
      rows.set(name, { token, issuedAt });
      return true;
    },
  };
}

test('apns/shared token: two processes on one store push with one token, no TooManyProviderTokenUpdates', async () => {
  const sim = await simulator();
  const key = signingKey(sim);
  const shared = sharedStore();
  const token = deviceToken();
  // Each "process" has its own cache and connections; a second later, its own clock.
  const first = sender(sim, { auth: { kind: 'token', key }, tokenCache: createApnsTokenCache({ shared }) });
  assert.equal((await first.send(target(token), mail('r1'))).status, 'sent');
  const second = sender(sim, {
    auth: { kind: 'token', key },
    tokenCache: createApnsTokenCache({ shared, now: () => Date.now() + 60_000 }),
  });
  assert.equal((await second.send(target(token), mail('r1', 'i2'))).status, 'sent');
  const requests = sim.requests({ token });
  assert.deepEqual(
    requests.map((r) => r.status),
    [200, 200],
  );
  assert.equal(
    issuedAt(requests[1]!),
    issuedAt(requests[0]!),
    'the second process used the first one’s token',
  );
});

test('apns/TooManyProviderTokenUpdates: the shared store’s token is taken and the push resent once; without a store, retry', async () => {
  const sim = await simulator();
  const key = signingKey(sim);
  const shared = sharedStore();
  const token = deviceToken();
  const first = sender(sim, { auth: { kind: 'token', key }, tokenCache: createApnsTokenCache({ shared }) });
  assert.equal((await first.send(target(token), mail('r1'))).status, 'sent');
  // A process that could not reach the store at start signed a token of its own, a minute later.
  const flaky: SharedTokenStore = { ...shared };
  let down = true;
  flaky.load = async (name) => {
    if (down) throw new Error('database unavailable');
    return shared.load(name);
  };
  const tokenCache = createApnsTokenCache({ shared: flaky, now: () => Date.now() + 60_000 });
  const late = sender(sim, { auth: { kind: 'token', key }, tokenCache });
  await tokenCache.get(key);
  down = false;
  const result = await late.send(target(token), mail('r1', 'i2'));
  assert.equal(result.status, 'sent');
  const requests = sim.requests({ token });
  assert.deepEqual(
    requests.map((r) => [r.status, r.reason ?? null]),
    [
      [200, null],
      [429, 'TooManyProviderTokenUpdates'],
      [200, null],
    ],
  );
  assert.equal(issuedAt(requests[2]!), issuedAt(requests[0]!), 'resent with the first process’s token');
  assert.equal(tokenCache.stats().adopted, 1);

  // No shared store (tests, benchmarks): as before, a retry, sent once.
  const alone = sender(sim, {
    auth: { kind: 'token', key },
    tokenCache: createApnsTokenCache({ now: () => Date.now() + 2 * 60_000 }),
  });
  const other = deviceToken();
  const retried = await alone.send(target(other), mail('r2'));
  assert.equal(retried.status === 'retry' && retried.reason, 'TooManyProviderTokenUpdates');
  assert.equal(sim.requests({ token: other }).length, 1);
});

test('apns/410 Unregistered, 400 BadDeviceToken and DeviceTokenNotForTopic → unregistered', async () => {
  const sim = await simulator();
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) } });
  const gone = deviceToken();
  sim.unregister(gone);
  const bad = deviceToken();
  sim.fault(bad, { status: 400, reason: 'BadDeviceToken' });
  const other = deviceToken();
  sim.registerDevice(other, 'com.example.other');
  const results = await Promise.all([gone, bad, other].map((t) => s.send(target(t), mail('r'))));
  assert.deepEqual(
    results.map((r) => [r.status, r.status === 'sent' ? '' : r.reason]),
    [
      ['unregistered', 'Unregistered'],
      ['unregistered', 'BadDeviceToken'],
      ['unregistered', 'DeviceTokenNotForTopic'],
    ],
  );
  for (const t of [gone, bad, other]) assert.equal(sim.requests({ token: t }).length, 1);
});

test('apns/429, 500 and 503 → retry; 400 BadTopic and InvalidProviderToken → failed, each sent exactly once', async () => {
  const sim = await simulator();
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) } });
  const cases = [
    [{ status: 429 }, 'retry', 'TooManyRequests'],
    [{ status: 500 }, 'retry', 'InternalServerError'],
    [{ status: 503 }, 'retry', 'ServiceUnavailable'],
    [{ status: 400, reason: 'BadTopic' }, 'failed', 'BadTopic'],
    [{ status: 400, reason: 'BadExpirationDate' }, 'failed', 'BadExpirationDate'],
  ] as const;
  for (const [fault, status, reason] of cases) {
    const token = deviceToken();
    sim.fault(token, fault);
    const result = await s.send(target(token), mail('r'));
    assert.equal(result.status, status, reason);
    assert.equal(reasonOf(result), reason);
    assert.equal(
      result.status === 'retry' && result.retryAfterMs,
      result.status === 'retry' ? undefined : false,
    );
    assert.equal(sim.requests({ token }).length, 1, `${reason}: sent exactly once`);
  }
  // A key APNs does not know: InvalidProviderToken, permanent.
  const stranger = await simulator();
  const other = sender(sim, { auth: { kind: 'token', key: signingKey(stranger) } });
  const token = deviceToken();
  const result = await other.send(target(token), mail('r'));
  assert.equal(result.status, 'failed');
  assert.equal(result.status === 'failed' && result.reason, 'InvalidProviderToken');
  assert.equal(sim.requests({ token }).length, 1);
});

test('apns/Retry-After on 429 and 503 becomes retryAfterMs (hand-made peer)', async () => {
  const peer = await startH2Peer((stream, headers) => {
    const status = headers[':path']?.endsWith('aa'.repeat(32)) ? 429 : 503;
    stream.respond({ ':status': status, 'retry-after': status === 429 ? '120' : '7' });
    stream.end(JSON.stringify({ reason: status === 429 ? 'TooManyRequests' : 'ServiceUnavailable' }));
  });
  cleanups.push(() => peer.close());
  const s = sender(peer, { auth: anyKey() });
  const [busy, down] = await Promise.all([
    s.send(target('aa'.repeat(32)), mail('r')),
    s.send(target('bb'.repeat(32)), mail('r')),
  ]);
  assert.deepEqual(
    [busy, down].map((r) => r.status === 'retry' && [r.reason, r.retryAfterMs]),
    [
      ['TooManyRequests', 120_000],
      ['ServiceUnavailable', 7_000],
    ],
  );
});

test('apns/GOAWAY every 60 streams: 500 pushes, all arrive exactly once', async () => {
  const sim = await simulator();
  sim.goawayAfter(60);
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, maxConcurrentStreams: 50 });
  const token = deviceToken();
  const results = await Promise.all(
    Array.from({ length: 500 }, (_, i) => s.send(target(token), mail('r', `item-${i}`))),
  );
  assert.deepEqual(statuses(results), { sent: 500 });
  const items = sim
    .received({ token })
    .map((r) => (r.payload as { herald: { itemId: string } }).herald.itemId);
  assert.equal(items.length, 500);
  assert.equal(new Set(items).size, 500, 'no push twice');
  assert.ok(sim.stats().goaways >= 8, `${sim.stats().goaways} GOAWAYs`);
  assert.ok(sim.stats().connections >= 9);
});

test('apns/stream bound: 500 at once never exceed maxConcurrentStreams (ours, or the server’s if lower)', async () => {
  const sim = await simulator({ responseDelayMs: 5 });
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, maxConcurrentStreams: 20 });
  const token = deviceToken();
  const results = await Promise.all(
    Array.from({ length: 500 }, (_, i) => s.send(target(token), mail('r', `i${i}`))),
  );
  assert.deepEqual(statuses(results), { sent: 500 });
  assert.equal(sim.stats().maxConcurrentStreamsSeen, 20);
  assert.equal(sim.stats().connections, 1);

  const strict = await simulator({ maxConcurrentStreams: 8, responseDelayMs: 5 });
  const t = sender(strict, { auth: { kind: 'token', key: signingKey(strict) } });
  const more = await Promise.all(
    Array.from({ length: 200 }, (_, i) => t.send(target(token), mail('r', `i${i}`))),
  );
  assert.deepEqual(statuses(more), { sent: 200 });
  assert.ok(
    strict.stats().maxConcurrentStreamsSeen <= 8,
    `${strict.stats().maxConcurrentStreamsSeen} streams`,
  );
});

test('apns/queue: beyond maxQueue waiting pushes, a push is handed back as retry (queue_full)', async () => {
  const sim = await simulator({ responseDelayMs: 30 });
  const s = sender(sim, {
    auth: { kind: 'token', key: signingKey(sim) },
    maxConcurrentStreams: 2,
    maxQueue: 5,
  });
  const token = deviceToken();
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => s.send(target(token), mail('r', `i${i}`))),
  );
  const counts = statuses(results);
  assert.ok((counts.sent ?? 0) >= 5 && (counts.sent ?? 0) <= 7, JSON.stringify(counts));
  assert.equal(counts.sent! + counts.retry!, 20);
  assert.ok(results.every((r) => r.status === 'sent' || (r.status === 'retry' && r.reason === 'queue_full')));
  assert.equal(sim.received().length, counts.sent);
});

test('apns/timeout: no answer within timeoutMs → retry (timeout)', async () => {
  const peer = await startH2Peer(() => {
    // never answers
  });
  cleanups.push(() => peer.close());
  const s = sender(peer, { auth: anyKey(), timeoutMs: 200 });
  const result = await s.send(target(deviceToken()), mail('r'));
  assert.equal(result.status, 'retry');
  assert.equal(result.status === 'retry' && result.reason, 'timeout');
  assert.ok(result.latencyMs >= 190 && result.latencyMs < 2000, `${result.latencyMs} ms`);
});

test('apns/connection refused → retry with the network code; the next push backs off', async () => {
  const peer = await startH2Peer(() => {});
  const url = peer.url;
  await peer.close();
  const s = sender({ url, ca: peer.ca }, { auth: anyKey() });
  const first = await s.send(target(deviceToken()), mail('r'));
  assert.equal(first.status === 'retry' && first.reason, 'connect_failed:ECONNREFUSED');
  const second = await s.send(target(deviceToken()), mail('r'));
  assert.equal(second.status === 'retry' && second.reason, 'connect_backoff');
  assert.ok(second.status === 'retry' && (second.retryAfterMs ?? 0) > 0);
});

test('apns/payloads: each content policy’s shape is accepted by APNs; a huge subject stays ≤ 4096 bytes', async () => {
  const sim = await simulator();
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) } });
  const token = deviceToken();
  const notifications: PushNotification[] = [
    { ...mail('r'), alert: { title: 'Zoë 🐙', body: `${'Ünïcödé 😀 漢字 '.repeat(2000)}` } },
    { type: 'badge', registrationId: 'r', badge: 7 },
    { type: 'new_mail', registrationId: 'r', itemId: 'i' },
    { type: 'checkin', registrationId: 'r', expiresAt: Date.now() + 3_600_000, collapseId: 'x'.repeat(200) },
  ];
  for (const n of notifications) assert.equal((await s.send(target(token), n)).status, 'sent');
  const [full, badge, silent, checkin] = sim.received({ token });
  assert.ok(full!.payloadBytes <= 4096 && full!.payloadBytes > 4000, `${full!.payloadBytes} bytes`);
  assert.deepEqual([full!.pushType, full!.priority], ['alert', 10]);
  assert.deepEqual(badge!.payload, { aps: { badge: 7 } });
  assert.deepEqual([badge!.pushType, badge!.priority], ['alert', 5]);
  assert.deepEqual([silent!.pushType, silent!.priority], ['background', 5]);
  assert.ok(checkin!.expiration! > Date.now() / 1000);
  assert.ok(Buffer.byteLength(checkin!.collapseId!) <= 64);
});

test('apns/environment: sandbox targets go to the sandbox endpoint', async () => {
  // One identity for both: two self-signed certificates with the same subject confuse OpenSSL's
  // trust lookup (it picks the first of that name).
  const tls = await selfSignedIdentity();
  const production = await simulator({ tls });
  const sandbox = await simulator({ tls });
  const key = production.generateKey();
  sandbox.addKey(key);
  const s = createApnsSender({
    auth: {
      kind: 'token',
      key: { keyId: key.keyId, teamId: key.teamId, privateKey: createPrivateKey(key.privateKey) },
    },
    endpoint: production.url,
    sandboxEndpoint: sandbox.url,
    ca: [tls.cert],
  });
  cleanups.push(() => s.close());
  const token = deviceToken();
  const result = await s.send({ ...target(token), environment: 'sandbox' }, mail('r'));
  assert.equal(result.status, 'sent', JSON.stringify(result));
  assert.equal((await s.send(target(token), mail('r'))).status, 'sent');
  assert.equal(sandbox.received().length, 1);
  assert.equal(production.received().length, 1);
});

test('apns/unusable certificate: failed at once, no retry loop', async () => {
  const s = createApnsSender({
    endpoint: 'https://127.0.0.1:9',
    auth: { kind: 'certificate', pfx: Buffer.from('not a pkcs12'), passphrase: 'x' },
  });
  cleanups.push(() => s.close());
  const result = await s.send(target(deviceToken()), mail('r'));
  assert.equal(result.status === 'failed' && result.reason, 'connect_failed:TLS_CREDENTIAL_UNUSABLE');
});

test('apns/expired or misrouted: not sent at all', async () => {
  const sim = await simulator();
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) } });
  const token = deviceToken();
  const expired = await s.send(target(token), { ...mail('r'), expiresAt: Date.now() - 1 });
  assert.equal(expired.status === 'failed' && expired.reason, 'expired');
  const android = await s.send({ ...target(token), platform: 'android' }, mail('r'));
  assert.equal(android.status, 'failed');
  assert.equal(sim.requests().length, 0);
});

test('apns/proxy: pushes go through an HTTP CONNECT tunnel', async () => {
  const sim = await simulator();
  const proxy = await startConnectProxy();
  cleanups.push(() => proxy.close());
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, proxyUrl: proxy.url });
  assert.equal((await s.send(target(deviceToken()), mail('r'))).status, 'sent');
  assert.deepEqual(proxy.tunnels, [new URL(sim.url).host]);
});

test('apns/logs: outcome, reason, latency and registration id; never the token, texts or JWT', async () => {
  const sim = await simulator();
  const { logger, text } = captureLogger();
  const s = sender(sim, { auth: { kind: 'token', key: signingKey(sim) }, logger });
  const token = deviceToken();
  const gone = deviceToken();
  sim.unregister(gone);
  await s.send(target(token), mail('reg-visible'));
  await s.send(target(gone), mail('reg-gone'));
  const log = text();
  assert.match(log, /"registrationId":"reg-visible"/);
  assert.match(
    log,
    /"status":"unregistered".*"reason":"Unregistered"|"reason":"Unregistered".*"status":"unregistered"/,
  );
  assert.match(log, /"latencyMs":\d+/);
  for (const secret of [token, gone, 'Alice Example', 'Quarterly figures', 'bearer', 'eyJ']) {
    assert.equal(log.includes(secret), false, `log must not contain ${secret.slice(0, 12)}`);
  }
});

test('apns/close: graceful; resolves when the connections are closed; later sends are handed back', async () => {
  const sim = await simulator({ responseDelayMs: 100 });
  const s = createApnsSender({
    endpoint: sim.url,
    ca: [sim.ca],
    auth: { kind: 'token', key: signingKey(sim) },
  });
  const inFlight = s.send(target(deviceToken()), mail('r'));
  // Wait until APNs holds the stream (not a fixed sleep: a slow machine connects later).
  while (sim.stats().maxConcurrentStreamsSeen === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await s.close();
  assert.equal((await inFlight).status, 'sent', 'the push in flight finished');
  const later = await s.send(target(deviceToken()), mail('r'));
  assert.equal(later.status === 'retry' && later.reason, 'sender_closed');
  for (let i = 0; i < 50 && sim.stats().openConnections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(sim.stats().openConnections, 0);
});
