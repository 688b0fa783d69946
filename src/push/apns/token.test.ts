/**
 * The APNs provider-token cache with an injected clock: one token per (team, key), reused,
 * replaced at 50 minutes and never before 20, refreshed once on ExpiredProviderToken; and with a
 * shared store (in memory here; the database in the service), one token per (team, key) for
 * every process: a restart or a second node adopts it, a lost refresh race adopts the winner's.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { captureLogger } from '../testkit.ts';
import {
  type ApnsSigningKey,
  apnsTokenName,
  createApnsTokenCache,
  type SharedProviderToken,
  type SharedTokenStore,
} from './token.ts';

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
  assert.deepEqual(cache.stats(), { signed: 1, adopted: 0, keys: 1 });
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
  assert.deepEqual(cache.stats(), { signed: 2, adopted: 0, keys: 2 });
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

// ---------------------------------------------------------------- shared store

/** The shared store as the database behaves: a compare-and-set on issuedAt; counts its calls. */
function memoryStore() {
  const rows = new Map<string, SharedProviderToken>();
  const calls = { loads: 0, replaces: 0 };
  let failing = 0;
  /** Resolved before each load: tests hold loads back to line up a race. */
  let beforeLoad: () => Promise<void> = async () => {};
  const store: SharedTokenStore = {
    async load(name) {
      calls.loads++;
      await beforeLoad();
      if (failing > 0) {
        failing--;
        throw new Error('database unavailable');
      }
      const row = rows.get(name);
      return row && { ...row };
    },
    async replace(name, token, issuedAt, expectedIssuedAt) {
      calls.replaces++;
      if ((rows.get(name)?.issuedAt ?? null) !== expectedIssuedAt) return false;
      rows.set(name, { token, issuedAt });
      return true;
    },
  };
  return {
    store,
    rows,
    calls,
    /** The next `n` loads fail. */
    fail: (n: number) => (failing = n),
    holdLoads: (fn: () => Promise<void>) => (beforeLoad = fn),
  };
}

/** Resolves once `n` callers wait on it. */
function barrier(n: number): () => Promise<void> {
  let waiting = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    waiting++;
    if (waiting >= n) release();
    return all;
  };
}

test('token/shared: two caches (two nodes) on one store sign once; the store is read once per period, not per push', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const a = createApnsTokenCache({ now: c.now, shared: m.store });
  const b = createApnsTokenCache({ now: c.now, shared: m.store });
  const ta = await a.get(key);
  c.advance(MINUTE);
  const tb = await b.get(key);
  assert.equal(tb, ta);
  assert.equal(m.rows.get(apnsTokenName(key))?.token, ta);
  for (let i = 0; i < 100; i++) {
    c.advance(20_000); // up to 34:20
    assert.equal(await a.get(key), ta);
    assert.equal(await b.get(key), ta);
  }
  assert.deepEqual(a.stats(), { signed: 1, adopted: 0, keys: 1 });
  assert.deepEqual(b.stats(), { signed: 0, adopted: 1, keys: 1 });
  assert.deepEqual(m.calls, { loads: 2, replaces: 1 });
});

test('token/shared: a restarted process adopts the stored token, with its issue time', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const before = await createApnsTokenCache({ now: c.now, shared: m.store }).get(key);
  c.advance(30 * MINUTE);
  const restarted = createApnsTokenCache({ now: c.now, shared: m.store });
  assert.equal(await restarted.get(key), before);
  assert.deepEqual(restarted.stats(), { signed: 0, adopted: 1, keys: 1 });
  // Replaced when the token (not the process) is 50 minutes old.
  c.advance(19 * MINUTE);
  assert.equal(await restarted.get(key), before);
  c.advance(MINUTE);
  const next = await restarted.get(key);
  assert.notEqual(next, before);
  assert.equal(decodeJwt(next).iat, c.t / 1000);
  assert.equal(m.rows.get(apnsTokenName(key))?.token, next);
});

test('token/shared: of two processes refreshing at once one wins; the other adopts its token', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const a = createApnsTokenCache({ now: c.now, shared: m.store });
  const b = createApnsTokenCache({ now: c.now, shared: m.store });
  // Both find the store empty before either has written.
  m.holdLoads(barrier(2));
  const [ta, tb] = await Promise.all([a.get(key), b.get(key)]);
  assert.equal(ta, tb);
  assert.equal(m.rows.get(apnsTokenName(key))?.token, ta);
  assert.equal(a.stats().signed + b.stats().signed, 2, 'both signed');
  assert.equal(a.stats().adopted + b.stats().adopted, 1, 'the loser took the winner’s token');
  // The same at the 50-minute refresh: both find the old token due and replace it at once.
  c.advance(50 * MINUTE);
  m.holdLoads(barrier(2));
  const [ta2, tb2] = await Promise.all([a.get(key), b.get(key)]);
  assert.equal(ta2, tb2);
  assert.notEqual(ta2, ta);
  assert.equal(m.rows.get(apnsTokenName(key))?.token, ta2);
  assert.equal(m.calls.replaces, 4);
});

test('token/shared: a stored token due for replacement, expired or from the future is replaced, not used', async () => {
  const m = memoryStore();
  const { key } = signingKey();
  const name = apnsTokenName(key);
  for (const [ageMinutes, adopted] of [
    [49, true],
    [50, false],
    [75, false],
    [-4, true],
    [-10, false],
  ] as const) {
    const c = clock();
    const old = await createApnsTokenCache({ now: () => c.t - ageMinutes * MINUTE }).get(key);
    m.rows.set(name, { token: old, issuedAt: c.t - ageMinutes * MINUTE });
    const token = await createApnsTokenCache({ now: c.now, shared: m.store }).get(key);
    assert.equal(token === old, adopted, `${ageMinutes} minutes old`);
    if (!adopted) {
      assert.equal(decodeJwt(token).iat, c.t / 1000);
      assert.deepEqual(m.rows.get(name), { token, issuedAt: c.t }, 'and stored');
    }
  }
});

test('token/shared: a token this key did not sign, or one that cannot be read, is replaced with a warning', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const other = signingKey(key.teamId, key.keyId).key; // same ids, another .p8: a misconfigured node
  const name = apnsTokenName(key);
  const { logger, text } = captureLogger();
  const foreign = await createApnsTokenCache({ now: c.now }).get(other);
  m.rows.set(name, { token: foreign, issuedAt: c.t });
  const mine = await createApnsTokenCache({ now: c.now, shared: m.store, logger }).get(key);
  assert.notEqual(mine, foreign);
  assert.equal(m.rows.get(name)?.token, mine);
  assert.match(text(), /not signed with this key/);
  assert.doesNotMatch(text(), new RegExp(mine.split('.')[2]!), 'no token in the log');

  m.rows.set(name, { token: null, issuedAt: c.t });
  const again = await createApnsTokenCache({ now: c.now, shared: m.store, logger }).get(key);
  assert.equal(m.rows.get(name)?.token, again);
  assert.match(text(), /cannot be read here/);
});

test('token/shared: ExpiredProviderToken refreshes once for all processes; the others adopt the new token', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const a = createApnsTokenCache({ now: c.now, shared: m.store });
  const b = createApnsTokenCache({ now: c.now, shared: m.store });
  const first = await a.get(key);
  assert.equal(await b.get(key), first);
  c.advance(5 * MINUTE);
  assert.equal(a.expired(key, first), true);
  const second = await a.get(key);
  assert.notEqual(second, first);
  assert.equal(m.rows.get(apnsTokenName(key))?.token, second);
  // B saw the same answer for the same token: it takes A's new one rather than signing a third.
  assert.equal(b.expired(key, first), true);
  assert.equal(await b.get(key), second);
  assert.equal(a.stats().signed + b.stats().signed, 2);
  // The adopted token came from a forced refresh: not replaced early again (no churn).
  c.advance(MINUTE);
  assert.equal(b.expired(key, second), false);
});

test('token/shared: after 429 TooManyProviderTokenUpdates, reload takes the stored token if it differs', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const name = apnsTokenName(key);
  const a = createApnsTokenCache({ now: c.now, shared: m.store });
  const mine = await a.get(key);
  // Another node replaced it meanwhile (say, after ExpiredProviderToken).
  const theirs = await createApnsTokenCache({ now: () => c.t + MINUTE }).get(key);
  m.rows.set(name, { token: theirs, issuedAt: c.t + MINUTE });
  assert.equal(await a.reload(key, mine), true, 'a different token: resend');
  assert.equal(await a.get(key), theirs);
  assert.equal(a.stats().adopted, 1);
  // A second push refused with the old token: the current one differs already, no store read.
  const loads = m.calls.loads;
  assert.equal(await a.reload(key, mine), true);
  assert.equal(m.calls.loads, loads);
  // Refused with the stored token itself: nothing to learn, retry later.
  c.advance(10_000);
  assert.equal(await a.reload(key, theirs), false);
  // Many refusals at once read the store at most once per few seconds.
  const before = m.calls.loads;
  const many = await Promise.all(Array.from({ length: 20 }, () => a.reload(key, theirs)));
  assert.deepEqual(new Set(many), new Set([false]));
  assert.equal(m.calls.loads - before, 0, 'the store was just read: not again within 5 s');
  // Without a shared store there is nothing to reload.
  const alone = createApnsTokenCache({ now: c.now });
  assert.equal(await alone.reload(key, await alone.get(key)), false);
});

test('token/shared: the store unavailable: the current token is kept while valid, else one is signed here', async () => {
  const c = clock();
  const m = memoryStore();
  const { key } = signingKey();
  const { logger, text } = captureLogger();
  // At start: nothing to keep, so a token of this process's own.
  m.fail(1);
  const cache = createApnsTokenCache({ now: c.now, shared: m.store, logger });
  const first = await cache.get(key);
  assert.equal(m.rows.size, 0);
  assert.match(text(), /store unavailable/);
  // Due at 50 minutes while the store is down: the current token is still valid, kept; the
  // store is asked again 10 s later, not on every push.
  c.advance(50 * MINUTE);
  m.fail(1);
  assert.equal(await cache.get(key), first);
  const loads = m.calls.loads;
  c.advance(5_000);
  assert.equal(await cache.get(key), first);
  assert.equal(m.calls.loads, loads);
  c.advance(5_000);
  const second = await cache.get(key);
  assert.notEqual(second, first);
  assert.equal(m.rows.get(apnsTokenName(key))?.token, second, 'back: refreshed through the store');
});
