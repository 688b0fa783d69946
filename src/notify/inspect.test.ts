import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { masterKeyFromBytes } from '../crypto/index.ts';
import type { NewRegistration, RegistrationPatch, Store } from '../store/index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase, type ManualClock } from '../store/testing.ts';
import { RegistrationInspector, RegistrationService } from './index.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const TOKEN = 'a1b2c3d4'.repeat(8);
const ITEM_ID = `AAMkADk0${'x'.repeat(120)}Zz9yY8xX`;

function setup(store: Store, clock: ManualClock) {
  const master = masterKeyFromBytes(randomBytes(32));
  const inspector = new RegistrationInspector({
    store,
    master,
    now: clock.now,
    watchdog: { silentAfterPeriods: 2, deadAfterHours: 72 },
  });
  // The hash the registration service stores; the inspector must compute the same.
  const service = new RegistrationService({
    store,
    master,
    tenants: undefined as never,
    ews: undefined as never,
    logger: undefined as never,
    pushApps: undefined as never,
    publicUrl: 'http://127.0.0.1',
    statusFrequencyMinutes: 15,
  });
  const add = async (overrides: Partial<NewRegistration>, patch: RegistrationPatch = {}) => {
    await store.registrations.insert(exampleRegistration({ statusFrequencyMinutes: 15, ...overrides }));
    if (Object.keys(patch).length > 0) await store.registrations.update(overrides.id!, patch);
  };
  return { inspector, emailHash: (email: string) => service.emailHash(email), add };
}

const iso = (ms: number) => new Date(ms).toISOString();
const sec = (ms: number) => iso(ms).replace(/\.\d{3}Z$/, 'Z');

forEachDatabase('inspect/summary: masked token, ISO times, nothing secret', async (store, { clock }) => {
  const { inspector, add } = setup(store, clock);
  await store.tenants.create(exampleTenant());
  const t0 = clock.now();
  await add(
    {
      id: 'reg-a',
      pushToken: TOKEN,
      lastSeenAt: t0 - 3 * MINUTE,
      deactivatedReason: `note about ${TOKEN}`,
    },
    { checkinSentAt: t0 - HOUR },
  );
  const page = await inspector.list({}, { limit: 10 });
  assert.deepEqual(page, {
    registrations: [
      {
        id: 'reg-a',
        tenantId: 'acme',
        platform: 'ios',
        appId: 'com.example.mail',
        environment: 'production',
        provider: 'ews',
        state: 'active',
        pushToken: '…b2c3d4',
        statusFrequencyMinutes: 15,
        lastSeenAt: iso(t0 - 3 * MINUTE),
        silentSince: null,
        checkinSentAt: iso(t0 - HOUR),
        deactivatedReason: 'note about …b2c3d4',
        createdAt: iso(t0),
        updatedAt: iso(t0),
      },
    ],
    next: null,
  });
  const detail = await inspector.show('reg-a');
  const text = JSON.stringify([page, detail]);
  for (const secret of [TOKEN, 'sealed-mailbox', 'ciphertext', 'e'.repeat(64), 'k'.repeat(64)]) {
    assert.equal(text.includes(secret), false, `${secret.slice(0, 12)}… is never shown`);
  }
  for (const key of [
    'emailHash',
    'keyHash',
    'nextKeyHash',
    'accountEnc',
    'nextAccountEnc',
    'mailboxEnc',
    'watermark',
  ]) {
    assert.equal(text.includes(`"${key}"`), false, `${key} is not a field`);
  }
});

forEachDatabase(
  'inspect/list: filters by state, tenant, platform and email; keyset pages',
  async (store, { clock }) => {
    const { inspector, add, emailHash } = setup(store, clock);
    await store.tenants.create(exampleTenant());
    await store.tenants.create(exampleTenant({ id: 'globex', apiTokenHash: 'g'.repeat(64) }));
    const erin = emailHash('erin@fabrikam.example');
    await add({ id: 'r1', pushToken: 'token-0001', emailHash: erin });
    await add({ id: 'r2', pushToken: 'token-0002', platform: 'android', state: 'silent' });
    await add({ id: 'r3', pushToken: 'token-0003', tenantId: 'globex', state: 'silent', emailHash: erin });
    await add({ id: 'r4', pushToken: 'token-0004', state: 'dead' });
    await add({ id: 'r5', pushToken: 'token-0005', platform: 'android' });

    const ids = async (filter: Parameters<typeof inspector.list>[0]) =>
      (await inspector.list(filter, { limit: 100 })).registrations.map((r) => r.id).sort();
    assert.deepEqual(await ids({}), ['r1', 'r2', 'r3', 'r4', 'r5']);
    assert.deepEqual(await ids({ state: 'silent' }), ['r2', 'r3']);
    assert.deepEqual(await ids({ tenantId: 'globex' }), ['r3']);
    assert.deepEqual(await ids({ platform: 'android' }), ['r2', 'r5']);
    // The address is hashed the way the registration service stores it; case and spaces do not matter.
    assert.deepEqual(await ids({ email: '  Erin@Fabrikam.example ' }), ['r1', 'r3']);
    assert.deepEqual(await ids({ email: 'erin@fabrikam.example', state: 'silent' }), ['r3']);
    assert.deepEqual(await ids({ email: 'nobody@fabrikam.example' }), []);

    // Pages of 2: every registration once, in the store's order, `next` null on the last page.
    const all = (await inspector.list({}, { limit: 100 })).registrations.map((r) => r.id);
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await inspector.list({}, { limit: 2, ...(after ? { afterId: after } : {}) });
      pages++;
      seen.push(...page.registrations.map((r) => r.id));
      if (page.next === null) break;
      assert.equal(page.next, page.registrations.at(-1)!.id);
      after = page.next;
    }
    assert.deepEqual(seen, all);
    assert.equal(pages, 3);
    // A page that ends exactly at the last row says so: no empty extra page.
    assert.equal((await inspector.list({}, { limit: 5 })).next, null);
    assert.equal((await inspector.list({ state: 'silent' }, { limit: 1 })).registrations.length, 1);
    assert.notEqual((await inspector.list({ state: 'silent' }, { limit: 1 })).next, null);
  },
);

forEachDatabase(
  'inspect/show: outbox counts, the last 10 deliveries, tenant scope',
  async (store, { clock }) => {
    const { inspector, add } = setup(store, clock);
    await store.tenants.create(exampleTenant());
    const t0 = clock.now();
    await add({
      id: 'reg-d',
      pushToken: TOKEN,
      lastSeenAt: t0,
      unreadCount: 4,
      badgeSent: 3,
      subscriptionId: 'sub-1',
    });
    await store.outbox.enqueue(
      [1, 2, 3, 4].map((n) => ({
        registrationId: 'reg-d',
        kind: 'new_mail' as const,
        dedupeKey: `k${n}`,
        payload: {},
      })),
    );
    const claimed = await store.outbox.claim({ owner: 'w', limit: 3, leaseMs: MINUTE, now: t0 });
    await store.outbox.complete(claimed[0]!.id);
    await store.outbox.fail(claimed[1]!.id, 'gone', { final: true });
    for (let n = 0; n < 12; n++) {
      await store.deliveries.record({
        registrationId: 'reg-d',
        itemId: `${ITEM_ID}${n}`,
        provider: 'apns',
        status: n === 11 ? 'failed' : 'sent',
        latencyMs: 100 + n,
        error: n === 11 ? `BadDeviceToken for ${TOKEN}` : null,
        createdAt: t0 + n * 1000,
      });
    }
    clock.advance(20_000);

    const detail = await inspector.show('reg-d');
    assert.ok(detail);
    assert.deepEqual(detail.outbox, { pending: 1, processing: 1, done: 1, failed: 1 });
    assert.equal(detail.unreadCount, 4);
    assert.equal(detail.badgeSent, 3);
    assert.equal(detail.subscriptionId, 'sub-1');
    assert.equal(detail.contentPolicy, null);
    assert.equal(detail.deliveries.length, 10);
    assert.deepEqual(detail.deliveries[0], {
      at: iso(t0 + 11_000),
      status: 'failed',
      provider: 'apns',
      latencyMs: 111,
      error: 'BadDeviceToken for …b2c3d4',
      itemId: 'AAMkAD…9yY8xX11',
    });
    assert.equal(detail.deliveries[9]!.at, iso(t0 + 2000), 'newest first, the oldest two left out');
    assert.equal(
      detail.health,
      `Exchange last called less than a minute ago; it pings every 15 minutes. The last push (${sec(t0 + 11_000)}) failed: BadDeviceToken for …b2c3d4.`,
    );
    assert.equal(JSON.stringify(detail).includes(TOKEN), false);

    assert.equal((await inspector.show('reg-d', 'acme'))?.id, 'reg-d');
    assert.equal(await inspector.show('reg-d', 'globex'), undefined, 'another tenant sees nothing');
    assert.equal(await inspector.show('missing'), undefined);
  },
);

forEachDatabase('inspect/health explains every state in words', async (store, { clock }) => {
  const { inspector, add } = setup(store, clock);
  await store.tenants.create(exampleTenant());
  const t0 = clock.now();
  let n = 0;
  const health = async (overrides: Partial<NewRegistration>, patch: RegistrationPatch = {}) => {
    const id = `h${++n}`;
    await add({ id, pushToken: `token-${id}-abcdef`, ...overrides }, patch);
    return (await inspector.show(id))!.health;
  };

  assert.equal(
    await health({ lastSeenAt: t0 - 3 * MINUTE }),
    'Exchange last called 3 minutes ago; it pings every 15 minutes.',
  );
  assert.equal(
    await health({ lastSeenAt: t0 - 47 * MINUTE }),
    'Exchange last called 47 minutes ago although it pings every 15 minutes: overdue, the watchdog will mark it silent.',
  );
  assert.equal(
    await health({ lastSeenAt: null }),
    'Subscribed at Exchange; no callback yet (it pings every 15 minutes).',
  );
  assert.equal(
    await health({ state: 'pending' }),
    `Being created since ${sec(t0)} (less than a minute ago): Herald is waiting for Exchange to accept the subscription; a registration left here was interrupted and is removed.`,
  );
  assert.equal(
    await health({ state: 'silent' }, { silentSince: t0 - 5 * MINUTE }),
    `Silent since ${sec(t0 - 5 * MINUTE)} (5 minutes ago): no callback from Exchange for 2 × StatusFrequency (2 × 15 minutes); the device is about to be asked to check in; without a check-in it becomes dead at ${sec(t0 - 5 * MINUTE + 72 * HOUR)} (after 3 days).`,
  );
  assert.equal(
    await health({ state: 'silent' }, { silentSince: t0 - 3 * HOUR, checkinSentAt: t0 - 2 * HOUR }),
    `Silent since ${sec(t0 - 3 * HOUR)} (3 hours ago): no callback from Exchange for 2 × StatusFrequency (2 × 15 minutes); the device was asked to check in at ${sec(t0 - 2 * HOUR)} (2 hours ago); without a check-in it becomes dead at ${sec(t0 - 3 * HOUR + 72 * HOUR)} (after 3 days).`,
  );
  assert.match(
    await health({ state: 'repairing' }, { silentSince: t0 - 50 * HOUR, checkinSentAt: t0 - 10 * MINUTE }),
    new RegExp(
      `^Silent since ${sec(t0 - 50 * HOUR)} \\(2 days ago\\): .* the device was asked to check in at ${sec(t0 - 10 * MINUTE)} \\(10 minutes ago\\) and Herald waits for it to check in with fresh credentials, which resubscribes; without a check-in it becomes dead at `,
    ),
  );
  assert.equal(
    await health({ state: 'needs_credentials' }),
    'Exchange refused the credentials; waiting for the device to check in with new ones.',
  );
  assert.equal(
    await health({ state: 'needs_credentials' }, { checkinSentAt: t0 - 2 * MINUTE }),
    `Exchange refused the credentials; waiting for the device to check in with new ones (asked at ${sec(t0 - 2 * MINUTE)} (2 minutes ago)).`,
  );
  assert.equal(
    await health(
      { state: 'dead', deactivatedReason: 'watchdog: no check-in' },
      { silentSince: t0 - 80 * HOUR },
    ),
    `Dead: silent since ${sec(t0 - 80 * HOUR)} and no check-in within 3 days (watchdog: no check-in); Exchange's callbacks are refused and no pushes are sent until the device checks in with fresh credentials or registers again.`,
  );
  assert.equal(
    await health({ state: 'inactive', deactivatedReason: 'push_unregistered: Unregistered' }),
    'The push service no longer knows this device token (Unregistered); no pushes are sent until the app registers again with its current token.',
  );
  assert.equal(
    await health({ state: 'inactive', deactivatedReason: 'removed by an operator' }),
    'Deactivated (removed by an operator); no pushes are sent until the app registers again.',
  );
});

forEachDatabase('inspect/overview counts every state and outbox status', async (store, { clock }) => {
  const { inspector, add } = setup(store, clock);
  await store.tenants.create(exampleTenant());
  assert.deepEqual(await inspector.overview(), {
    registrations: {
      pending: 0,
      active: 0,
      silent: 0,
      repairing: 0,
      needs_credentials: 0,
      dead: 0,
      inactive: 0,
    },
    outbox: { pending: 0, processing: 0, done: 0, failed: 0 },
  });
  await add({ id: 'o1', pushToken: 'token-o1' });
  await add({ id: 'o2', pushToken: 'token-o2', state: 'silent' });
  await add({ id: 'o3', pushToken: 'token-o3', state: 'silent' });
  await store.outbox.enqueue([{ registrationId: 'o1', kind: 'checkin', dedupeKey: 'c', payload: {} }]);
  const overview = await inspector.overview();
  assert.equal(overview.registrations.active, 1);
  assert.equal(overview.registrations.silent, 2);
  assert.equal(overview.registrations.dead, 0);
  assert.deepEqual(overview.outbox, { pending: 1, processing: 0, done: 0, failed: 0 });
});
