/**
 * The APNs provider-token cache with an injected clock: one token per (team, key), reused,
 * replaced at 50 minutes and never before 20, refreshed once on ExpiredProviderToken.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { type ApnsSigningKey, createApnsTokenCache } from './token.ts';

const MINUTE = 60_000;

function signingKey(teamId = 'TEAM123456', keyId = 'KEY1234567') {
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key: ApnsSigningKey = { teamId, keyId, privateKey: pair.privateKey };
  return { key, publicKey: pair.publicKey };
}

function clock(start = Date.UTC(2030, 0, 1)) {
  const c = { t: start, now: () => c.t, advance: (ms: number) => (c.t += ms) };
  return c;
}

test('token/shape: ES256, kid = key id, iss = team id, iat in seconds, nothing else', async () => {
  const c = clock();
  const { key, publicKey } = signingKey();
  const jwt = await createApnsTokenCache({ now: c.now }).get(key);
  assert.deepEqual(decodeProtectedHeader(jwt), { alg: 'ES256', kid: 'KEY1234567' });
  assert.deepEqual(decodeJwt(jwt), { iss: 'TEAM123456', iat: c.t / 1000 });
  await jwtVerify(jwt, publicKey, { algorithms: ['ES256'], currentDate: new Date(c.t) });
});

test('token/reuse: one signature for many calls, concurrent ones included', async () => {
  const c = clock();
  const cache = createApnsTokenCache({ now: c.now });
  const { key } = signingKey();
  const first = await Promise.all(Array.from({ length: 50 }, () => cache.get(key)));
  assert.equal(new Set(first).size, 1);
  c.advance(30 * MINUTE);
  assert.equal(await cache.get(key), first[0]);
  assert.deepEqual(cache.stats(), { signed: 1, keys: 1 });
});

test('token/refresh: not before 20 minutes, replaced at 50, before it is 60', async () => {
  const c = clock();
  const cache = createApnsTokenCache({ now: c.now });
  const { key } = signingKey();
  const first = await cache.get(key);
  c.advance(19 * MINUTE);
  assert.equal(await cache.get(key), first);
  c.advance(30 * MINUTE + 59_000); // 49:59
  assert.equal(await cache.get(key), first);
  c.advance(1000); // 50:00
  const second = await cache.get(key);
  assert.notEqual(second, first);
  assert.equal(decodeJwt(second).iat, c.t / 1000);
  assert.equal(cache.stats().signed, 2);
});

test('token/keys: one token per (team, key); different teams or keys do not share', async () => {
  const cache = createApnsTokenCache({ now: clock().now });
  const a = signingKey('TEAMAAAAAA', 'KEYAAAAAAA');
  const b = signingKey('TEAMBBBBBB', 'KEYBBBBBBB');
  const [ta, tb] = await Promise.all([cache.get(a.key), cache.get(b.key)]);
  assert.notEqual(ta, tb);
  assert.equal(decodeJwt(tb).iss, 'TEAMBBBBBB');
  assert.deepEqual(cache.stats(), { signed: 2, keys: 2 });
});

test('token/expired: refreshed once per token, even young; a second answer for the old one changes nothing', async () => {
  const c = clock();
  const cache = createApnsTokenCache({ now: c.now });
  const { key } = signingKey();
  const first = await cache.get(key);
  c.advance(5 * MINUTE);
  assert.equal(cache.expired(key, first), true);
  // Many pushes saw the same answer: still one new token.
  assert.equal(cache.expired(key, first), true);
  const second = await cache.get(key);
  assert.notEqual(second, first);
  assert.equal(cache.expired(key, first), true, 'the old token is already replaced: resending helps');
  assert.equal(await cache.get(key), second);
  assert.equal(cache.stats().signed, 2);
});

test('token/expired: a token made by a forced refresh is not replaced early again (no churn on a skewed clock)', async () => {
  const c = clock();
  const cache = createApnsTokenCache({ now: c.now });
  const { key } = signingKey();
  const first = await cache.get(key);
  cache.expired(key, first);
  const second = await cache.get(key);
  c.advance(MINUTE);
  assert.equal(cache.expired(key, second), false, 'resending with the same token cannot help');
  assert.equal(await cache.get(key), second);
  c.advance(20 * MINUTE);
  assert.equal(cache.expired(key, second), true, 'once 20 minutes old it may be replaced');
  assert.notEqual(await cache.get(key), second);
  assert.equal(cache.stats().signed, 3);
});

test('token/options: refreshAfterMs must stay inside Apple\u2019s 20–60 minute window', () => {
  assert.throws(() => createApnsTokenCache({ refreshAfterMs: 10 * MINUTE }), RangeError);
  assert.throws(() => createApnsTokenCache({ refreshAfterMs: 60 * MINUTE }), RangeError);
  createApnsTokenCache({ refreshAfterMs: 20 * MINUTE });
});
