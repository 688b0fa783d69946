/**
 * The FCM sender against the FCM simulator (FCM HTTP v1 + Google's token endpoint), asserting on
 * the simulator's send and token-request records.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { type FcmSimulator, startFcmSimulator } from '../../sim/fcm/index.ts';
import { selfSignedIdentity } from '../../sim/tls.ts';
import { captureLogger, reasonOf, startConnectProxy, testClock } from '../testkit.ts';
import type { PushNotification, PushTarget } from '../types.ts';
import { fcmMessage } from './message.ts';
import { parseServiceAccount } from './oauth.ts';
import { createFcmSender, type FcmSenderOptions } from './sender.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function simulator(options: Parameters<typeof startFcmSimulator>[0] = {}): Promise<FcmSimulator> {
  const sim = await startFcmSimulator(options);
  cleanups.push(() => sim.close());
  return sim;
}

function sender(sim: FcmSimulator, options: Partial<FcmSenderOptions> = {}) {
  const s = createFcmSender({
    serviceAccount: parseServiceAccount(sim.createServiceAccount({ projectId: 'herald-test' })),
    endpoint: sim.url,
    ...options,
  });
  cleanups.push(() => s.close());
  return s;
}

function fcmToken(): string {
  return `${randomBytes(11).toString('base64url')}:APA91b${randomBytes(60).toString('base64url')}`;
}

const target = (token: string): PushTarget => ({
  platform: 'android',
  token,
  appId: 'com.example.mail',
  environment: 'production',
});

const mail = (i = 0): PushNotification => ({
  type: 'new_mail',
  registrationId: 'reg-1',
  itemId: `item-${i}`,
  alert: { title: 'Alice Example', body: 'Quarterly figures' },
  badge: 2,
  collapseId: `mail-${i}`,
});

test('fcm/send: the v1 message arrives as built; providerId is the message name', async () => {
  const sim = await simulator();
  const s = sender(sim);
  const token = fcmToken();
  const expiresAt = Date.now() + 3_600_000;
  const result = await s.send(target(token), { ...mail(), expiresAt });
  assert.equal(result.status, 'sent');
  const [record] = sim.received({ token });
  assert.equal(result.status === 'sent' && result.providerId, record!.name);
  const expected = fcmMessage(token, { ...mail(), expiresAt }, { now: Date.now() });
  const got = record!.message as typeof expected;
  assert.deepEqual(got.data, expected.data);
  assert.equal(got.android.priority, 'high');
  assert.equal(got.android.collapse_key, 'mail-0');
  assert.match(got.android.ttl!, /^(3600|3599)s$/);
});

test('fcm/token cache: one token for many sends (concurrent first ones share the fetch)', async () => {
  const sim = await simulator();
  const s = sender(sim);
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) => s.send(target(fcmToken()), mail(i))),
  );
  assert.ok(results.every((r) => r.status === 'sent'));
  for (let i = 0; i < 10; i++) assert.equal((await s.send(target(fcmToken()), mail(i))).status, 'sent');
  assert.equal(sim.tokenRequests().length, 1);
  assert.equal(sim.received().length, 50);
});

test('fcm/token expiry: reused until 5 minutes before expires_in, then fetched again', async () => {
  const clock = testClock();
  const sim = await simulator({ now: clock.now, accessTokenTtlSeconds: 3600 });
  const s = sender(sim, { now: clock.now });
  const token = fcmToken();
  assert.equal((await s.send(target(token), mail(1))).status, 'sent');
  clock.advance(54 * 60_000 + 59_000); // 54:59, the token lives 60:00
  assert.equal((await s.send(target(token), mail(2))).status, 'sent');
  assert.equal(sim.tokenRequests().length, 1);
  clock.advance(1000); // 55:00
  assert.equal((await s.send(target(token), mail(3))).status, 'sent');
  assert.equal(sim.tokenRequests().length, 2);
  assert.equal(sim.requests({ token }).length, 3, 'no send was refused');
});

test('fcm/token expiry: a short-lived token is refreshed at 90% of its life', async () => {
  const clock = testClock();
  const sim = await simulator({ now: clock.now, accessTokenTtlSeconds: 600 });
  const s = sender(sim, { now: clock.now });
  await s.send(target(fcmToken()), mail());
  clock.advance(539_000);
  await s.send(target(fcmToken()), mail());
  assert.equal(sim.tokenRequests().length, 1);
  clock.advance(1000);
  await s.send(target(fcmToken()), mail());
  assert.equal(sim.tokenRequests().length, 2);
});

test('fcm/401: revoked token → dropped, fetched again, the push resent once', async () => {
  const sim = await simulator();
  const s = sender(sim);
  await s.send(target(fcmToken()), mail());
  sim.revokeAccessTokens();
  const token = fcmToken();
  const result = await s.send(target(token), mail());
  assert.equal(result.status, 'sent');
  assert.deepEqual(
    sim.requests({ token }).map((r) => r.status),
    [401, 200],
  );
  assert.equal(sim.tokenRequests().length, 2);
});

test('fcm/errors: UNREGISTERED → unregistered; QUOTA_EXCEEDED/UNAVAILABLE/INTERNAL → retry; the rest → failed; each sent once', async () => {
  const sim = await simulator();
  const s = sender(sim);
  const cases = [
    [{ errorCode: 'QUOTA_EXCEEDED', retryAfterSeconds: 30 }, 'retry', 30_000],
    [{ errorCode: 'UNAVAILABLE', retryAfterSeconds: 5 }, 'retry', 5_000],
    [{ errorCode: 'INTERNAL' }, 'retry', undefined],
    [{ errorCode: 'INVALID_ARGUMENT' }, 'failed', undefined],
    [{ errorCode: 'SENDER_ID_MISMATCH' }, 'failed', undefined],
    [{ errorCode: 'THIRD_PARTY_AUTH_ERROR' }, 'failed', undefined],
  ] as const;
  for (const [fault, status, retryAfterMs] of cases) {
    const token = fcmToken();
    sim.fault(token, fault);
    const result = await s.send(target(token), mail());
    assert.equal(result.status, status, fault.errorCode);
    assert.equal(reasonOf(result), fault.errorCode);
    if (result.status === 'retry') assert.equal(result.retryAfterMs, retryAfterMs, fault.errorCode);
    assert.equal(sim.requests({ token }).length, 1, `${fault.errorCode}: sent exactly once`);
  }
  const gone = fcmToken();
  sim.unregister(gone);
  const result = await s.send(target(gone), mail());
  assert.deepEqual(
    [result.status, result.status !== 'sent' && result.reason],
    ['unregistered', 'UNREGISTERED'],
  );
  assert.equal(sim.requests({ token: gone }).length, 1);
  assert.equal(sim.tokenRequests().length, 1);
});

test('fcm/token endpoint: invalid_grant → failed with a clear reason; unreachable → retry', async () => {
  const sim = await simulator();
  const account = parseServiceAccount(sim.createServiceAccount());
  const unknown = createFcmSender({
    serviceAccount: { ...account, client_email: 'nobody@herald-test.iam.gserviceaccount.com' },
    endpoint: sim.url,
  });
  cleanups.push(() => unknown.close());
  const refused = await unknown.send(target(fcmToken()), mail());
  assert.deepEqual(
    [refused.status, refused.status !== 'sent' && refused.reason],
    ['failed', 'oauth_invalid_grant'],
  );
  assert.equal(sim.requests().length, 0, 'no send without a token');

  const down = await simulator();
  const downAccount = parseServiceAccount(down.createServiceAccount());
  await down.close();
  const unreachable = createFcmSender({ serviceAccount: downAccount, endpoint: sim.url });
  cleanups.push(() => unreachable.close());
  const result = await unreachable.send(target(fcmToken()), mail());
  assert.deepEqual(
    [result.status, result.status !== 'sent' && result.reason],
    ['retry', 'oauth_network:ECONNREFUSED'],
  );
});

test('fcm/unreachable FCM → retry; wrong platform or expired → failed without sending', async () => {
  const sim = await simulator();
  const s = sender(sim, { endpoint: 'http://127.0.0.1:9' });
  const result = await s.send(target(fcmToken()), mail());
  assert.equal(result.status, 'retry');
  const ios = await s.send({ ...target(fcmToken()), platform: 'ios' }, mail());
  assert.equal(ios.status === 'failed' && ios.reason, 'platform_not_android');
  const expired = await s.send(target(fcmToken()), { ...mail(), expiresAt: Date.now() - 1 });
  assert.equal(expired.status === 'failed' && expired.reason, 'expired');
});

test('fcm/proxy: over HTTPS, token and send requests go through the proxy’s CONNECT tunnel', async () => {
  const tls = await selfSignedIdentity();
  const sim = await simulator({ tls });
  const proxy = await startConnectProxy();
  cleanups.push(() => proxy.close());
  const s = sender(sim, { proxyUrl: proxy.url, ca: [tls.cert] });
  assert.equal((await s.send(target(fcmToken()), mail())).status, 'sent');
  assert.ok(proxy.tunnels.length >= 1);
  assert.ok(proxy.tunnels.every((t) => t === new URL(sim.url).host));
});

test('fcm/logs: no registration token, texts or access token', async () => {
  const sim = await simulator();
  const { logger, text } = captureLogger();
  const s = sender(sim, { logger });
  const token = fcmToken();
  await s.send(target(token), mail());
  const gone = fcmToken();
  sim.unregister(gone);
  await s.send(target(gone), mail());
  const log = text();
  assert.match(log, /"provider":"fcm"/);
  assert.match(log, /"reason":"UNREGISTERED"/);
  for (const secret of [token, gone, 'Alice Example', 'Quarterly figures', 'ya29.', 'Bearer']) {
    assert.equal(log.includes(secret), false, `log must not contain ${secret.slice(0, 12)}`);
  }
});
