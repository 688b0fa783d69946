import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { type Store, StoreConflictError } from './index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase } from './testing.ts';

async function seed(store: Store): Promise<void> {
  await store.tenants.create(exampleTenant());
  await store.tenants.create(exampleTenant({ id: 'other', apiTokenHash: 'o' }));
}

forEachDatabase('registrations/insert and get round-trip every field', async (store, { clock }) => {
  await seed(store);
  const full = exampleRegistration({
    id: 'full',
    platform: 'android',
    environment: 'sandbox',
    provider: 'graph',
    contentPolicy: 'badge',
    state: 'silent',
    subscriptionId: 'sub-1',
    watermark: 'AAAA',
    lastSeenAt: 1234,
    unreadCount: 7,
    badgeSent: 6,
    deactivatedReason: 'none yet',
    nextAccountEnc: 'next-ciphertext',
    nextKeyHash: 'n'.repeat(64),
  });
  const created = await store.registrations.insert(full);
  const expected = {
    ...full,
    silentSince: null,
    checkinSentAt: null,
    createdAt: clock.now(),
    updatedAt: clock.now(),
  };
  assert.deepEqual(created, expected);
  assert.deepEqual(await store.registrations.get('full'), expected);

  const minimal = await store.registrations.insert(exampleRegistration({ id: 'min', pushToken: 'p2' }));
  assert.equal(minimal.state, 'active');
  assert.equal(minimal.contentPolicy, null);
  assert.equal(minimal.subscriptionId, null);
  assert.equal(minimal.unreadCount, null);
  assert.equal(minimal.badgeSent, null);
  assert.equal(minimal.nextKeyHash, null);
  assert.equal(await store.registrations.get('missing'), undefined);
});

forEachDatabase('registrations/unique identity', async (store) => {
  await seed(store);
  await store.registrations.insert(exampleRegistration());
  // Same tenant, platform, push token and mailbox under another id: one device, one mailbox.
  await assert.rejects(store.registrations.insert(exampleRegistration({ id: 'reg-2' })), StoreConflictError);
  await assert.rejects(
    store.registrations.insert(exampleRegistration({ pushToken: 'other-token' })),
    StoreConflictError,
    'duplicate id',
  );
  // Any part of the identity that differs makes a new registration.
  const variants = [
    { id: 'r-mail', emailHash: 'f'.repeat(64) },
    { id: 'r-token', pushToken: 'push-token-2' },
    { id: 'r-platform', platform: 'android' as const },
    { id: 'r-tenant', tenantId: 'other' },
  ];
  for (const v of variants) await store.registrations.insert(exampleRegistration(v));
  assert.equal(await store.registrations.count(), 5);
});

forEachDatabase('registrations/tenant foreign key is enforced', async (store) => {
  await seed(store);
  await assert.rejects(store.registrations.insert(exampleRegistration({ tenantId: 'ghost' })));
  assert.equal(await store.registrations.count(), 0);
});

forEachDatabase('registrations/lookups by tenant, identity and subscription', async (store) => {
  await seed(store);
  await store.registrations.insert(exampleRegistration({ subscriptionId: 'sub-9' }));
  assert.equal((await store.registrations.getForTenant('acme', 'reg-1'))?.id, 'reg-1');
  assert.equal(await store.registrations.getForTenant('other', 'reg-1'), undefined);
  const r = exampleRegistration();
  assert.equal(
    (await store.registrations.findByIdentity('acme', 'ios', r.pushToken, r.emailHash))?.id,
    'reg-1',
  );
  assert.equal(
    await store.registrations.findByIdentity('acme', 'android', r.pushToken, r.emailHash),
    undefined,
  );
  assert.equal(await store.registrations.findByIdentity('other', 'ios', r.pushToken, r.emailHash), undefined);
  assert.equal((await store.registrations.findBySubscriptionId('sub-9'))?.id, 'reg-1');
  assert.equal(await store.registrations.findBySubscriptionId('sub-0'), undefined);
});

forEachDatabase('registrations/update patches given fields only', async (store, { clock }) => {
  await seed(store);
  const before = await store.registrations.insert(
    exampleRegistration({ subscriptionId: 'sub-1', watermark: 'w1', unreadCount: 3 }),
  );
  const at = clock.advance(5000);
  const after = await store.registrations.update('reg-1', {
    state: 'needs_credentials',
    watermark: 'w2',
    subscriptionId: null,
    deactivatedReason: 'auth failed',
    contentPolicy: 'silent',
  });
  assert.deepEqual(after, {
    ...before,
    state: 'needs_credentials',
    watermark: 'w2',
    subscriptionId: null,
    deactivatedReason: 'auth failed',
    contentPolicy: 'silent',
    updatedAt: at,
  });
  const again = await store.registrations.update('reg-1', {
    accountEnc: 'new-ciphertext',
    keyHash: 'n'.repeat(64),
    lastSeenAt: 99,
    unreadCount: 0,
    statusFrequencyMinutes: 60,
  });
  assert.equal(again?.accountEnc, 'new-ciphertext');
  assert.equal(again?.keyHash, 'n'.repeat(64));
  assert.equal(again?.lastSeenAt, 99);
  assert.equal(again?.unreadCount, 0);
  assert.equal(again?.statusFrequencyMinutes, 60);
  assert.equal(again?.watermark, 'w2', 'fields absent from the patch are kept');
  assert.equal(await store.registrations.update('missing', { state: 'dead' }), undefined);
});

forEachDatabase('registrations/delete removes its outbox rows', async (store) => {
  await seed(store);
  await store.registrations.insert(exampleRegistration());
  await store.registrations.insert(exampleRegistration({ id: 'reg-2', pushToken: 'p2' }));
  await store.outbox.enqueue([
    { registrationId: 'reg-1', kind: 'new_mail', dedupeKey: 'a', payload: {} },
    { registrationId: 'reg-1', kind: 'new_mail', dedupeKey: 'b', payload: {} },
    { registrationId: 'reg-2', kind: 'new_mail', dedupeKey: 'a', payload: {} },
  ]);
  await store.deliveries.record({
    registrationId: 'reg-1',
    itemId: 'i',
    provider: 'apns',
    status: 'sent',
    latencyMs: 5,
  });
  assert.equal(await store.registrations.delete('reg-1'), true);
  assert.equal(await store.registrations.get('reg-1'), undefined);
  assert.deepEqual(await store.outbox.listForRegistration('reg-1'), []);
  assert.deepEqual(await store.deliveries.listForRegistration('reg-1'), []);
  assert.equal(
    (await store.outbox.listForRegistration('reg-2')).length,
    1,
    'other registrations keep theirs',
  );
  assert.equal(await store.registrations.delete('reg-1'), false);
});

forEachDatabase('registrations/touchLastSeen batches and never moves backwards', async (store, { clock }) => {
  await seed(store);
  for (const id of ['r1', 'r2', 'r3']) {
    await store.registrations.insert(exampleRegistration({ id, pushToken: id }));
  }
  await store.registrations.update('r3', { lastSeenAt: 5000 });
  const updatedAt = (await store.registrations.get('r1'))?.updatedAt;
  clock.advance(1000);
  // 1,100 ids cross the batch size; r3 sits in the second batch. Unknown ids are ignored.
  const ids = ['r1', ...Array.from({ length: 1098 }, (_, i) => `ghost-${i}`), 'r3', 'r1'];
  assert.equal(await store.registrations.touchLastSeen(ids, 3000), 1, 'r3 was seen later already');
  assert.equal((await store.registrations.get('r1'))?.lastSeenAt, 3000);
  assert.equal((await store.registrations.get('r2'))?.lastSeenAt, null);
  assert.equal((await store.registrations.get('r3'))?.lastSeenAt, 5000);
  assert.equal((await store.registrations.get('r1'))?.updatedAt, updatedAt, 'a ping is not an update');
  assert.equal(await store.registrations.touchLastSeen(['r1', 'r2', 'r3'], 6000), 3);
  assert.equal(await store.registrations.touchLastSeen([], 7000), 0);
});

forEachDatabase('registrations/listByState pages by id in byte order', async (store) => {
  await seed(store);
  // Mixed case and punctuation: PostgreSQL's locale collation would order these differently
  // from SQLite; the schema's "C" collation makes both order by bytes.
  const active = ['b', 'B', '-1', 'Z1', '_x', 'a'];
  for (const id of active) await store.registrations.insert(exampleRegistration({ id, pushToken: id }));
  for (const id of ['dead-1', 'dead-2']) {
    await store.registrations.insert(exampleRegistration({ id, pushToken: id, state: 'dead' }));
  }
  const pages: string[][] = [];
  let afterId: string | undefined;
  for (;;) {
    const page = await store.registrations.listByState('active', { limit: 4, afterId });
    if (page.length === 0) break;
    pages.push(page.map((r) => r.id));
    afterId = page.at(-1)?.id;
  }
  assert.deepEqual(pages, [
    ['-1', 'B', 'Z1', '_x'],
    ['a', 'b'],
  ]);
  assert.deepEqual(
    (await store.registrations.listByState('dead', { limit: 10 })).map((r) => r.id),
    ['dead-1', 'dead-2'],
  );
  assert.deepEqual(await store.registrations.listByState('repairing', { limit: 10 }), []);
  assert.equal(await store.registrations.count(), 8);
  assert.equal(await store.registrations.count('active'), 6);
  assert.equal(await store.registrations.count('inactive'), 0);
  if (store.dialect === 'postgres') {
    // A test database created with the C locale would order these bytewise anyway; check the
    // column itself so the case fails wherever the collation is missing.
    const { rows } = await sql<{
      c: string | null;
    }>`select collation_name as c from information_schema.columns
      where table_schema = current_schema() and table_name = 'registrations' and column_name = 'id'`.execute(
      store.db,
    );
    assert.equal(rows[0]?.c, 'C');
  }
});

forEachDatabase(
  'registrations/a ping revives a silent or repairing registration, nothing else',
  async (store) => {
    await seed(store);
    const states = ['silent', 'repairing', 'needs_credentials', 'dead', 'active'] as const;
    for (const state of states) {
      await store.registrations.insert(exampleRegistration({ id: state, pushToken: state, state }));
      await store.registrations.update(state, { silentSince: 100, checkinSentAt: 200 });
    }
    assert.equal(await store.registrations.touchLastSeen([...states], 5000), 5);
    const after = Object.fromEntries(
      await Promise.all(states.map(async (id) => [id, await store.registrations.get(id)] as const)),
    );
    assert.equal(after.silent?.state, 'active');
    assert.equal(after.silent?.silentSince, null);
    assert.equal(after.silent?.checkinSentAt, null);
    assert.equal(after.repairing?.state, 'active');
    assert.equal(after.needs_credentials?.state, 'needs_credentials', 'a ping does not repair credentials');
    assert.equal(after.needs_credentials?.checkinSentAt, 200);
    assert.equal(after.dead?.state, 'dead');
    assert.equal(after.active?.lastSeenAt, 5000);
  },
);

forEachDatabase(
  "registrations/markSilent uses each row's own StatusFrequency, oldest first, bounded",
  async (store) => {
    await seed(store);
    const minute = 60_000;
    const now = 1_000 * minute;
    // [id, status frequency (min), last seen (minutes before now), state]
    const rows = [
      ['fresh', 5, 9, 'active'], // 2 × 5 = 10 min: not yet
      ['edge', 5, 10, 'active'], // exactly 10: not yet (strictly more than 2 periods)
      ['old', 5, 11, 'active'],
      ['older', 1, 30, 'active'],
      ['slow', 60, 100, 'active'], // 2 × 60 = 120 min: not yet
      ['dead', 1, 500, 'dead'],
    ] as const;
    for (const [id, frequency, ago, state] of rows) {
      await store.registrations.insert(
        exampleRegistration({
          id,
          pushToken: id,
          statusFrequencyMinutes: frequency,
          lastSeenAt: now - ago * minute,
          state,
        }),
      );
    }
    await store.registrations.insert(
      exampleRegistration({ id: 'never', pushToken: 'never', lastSeenAt: null }),
    );
    // Graph subscriptions send no status pings: a long-quiet one is not silent.
    await store.registrations.insert(
      exampleRegistration({
        id: 'graph',
        pushToken: 'graph',
        provider: 'graph',
        lastSeenAt: now - 900 * minute,
      }),
    );
    const first = await store.registrations.markSilent({ now, periods: 2, limit: 1 });
    assert.deepEqual(
      first.map((r) => [r.id, r.state, r.silentSince]),
      [['older', 'silent', now]],
      'the longest silent first',
    );
    const rest = await store.registrations.markSilent({ now, periods: 2, limit: 100 });
    assert.deepEqual(
      rest.map((r) => r.id),
      ['old'],
    );
    assert.deepEqual(await store.registrations.markSilent({ now, periods: 2, limit: 100 }), []);
    // fresh, edge, slow, never, and the Graph one.
    assert.deepEqual(await store.registrations.countByState(), { active: 5, silent: 2, dead: 1 });
    assert.equal((await store.registrations.get('graph'))?.state, 'active');
    assert.deepEqual(await store.registrations.countByState('other'), {});
  },
);

forEachDatabase('registrations/dueForCheckin, markDead and deleteStalePending', async (store, { clock }) => {
  await seed(store);
  const insert = (id: string, state: 'silent' | 'repairing' | 'needs_credentials' | 'active' | 'pending') =>
    store.registrations.insert(exampleRegistration({ id, pushToken: id, state }));
  await insert('s-never-asked', 'silent');
  await insert('r-asked-long-ago', 'repairing');
  await insert('r-asked-now', 'repairing');
  await insert('creds', 'needs_credentials');
  await insert('fine', 'active');
  await store.registrations.update('s-never-asked', { silentSince: 500 });
  await store.registrations.update('r-asked-long-ago', { silentSince: 100, checkinSentAt: 1000 });
  await store.registrations.update('r-asked-now', { silentSince: 2000, checkinSentAt: 5000 });
  await store.registrations.update('creds', { checkinSentAt: 1500 });

  const due = await store.registrations.dueForCheckin(4000, 10);
  assert.deepEqual(
    due.map((r) => r.id),
    ['s-never-asked', 'r-asked-long-ago', 'creds'],
    'never asked first, then the longest ago',
  );
  assert.deepEqual(
    (await store.registrations.dueForCheckin(4000, 1)).map((r) => r.id),
    ['s-never-asked'],
  );
  assert.equal(await store.registrations.markCheckinSent(['s-never-asked', 'creds', 'ghost'], 4500), 2);
  assert.deepEqual(
    (await store.registrations.dueForCheckin(4000, 10)).map((r) => r.id),
    ['r-asked-long-ago'],
  );
  assert.equal((await store.registrations.get('creds'))?.checkinSentAt, 4500);

  assert.equal(await store.registrations.markDead(1000, 'no check-in', 10), 2);
  assert.equal((await store.registrations.get('r-asked-long-ago'))?.state, 'dead');
  assert.equal((await store.registrations.get('r-asked-long-ago'))?.deactivatedReason, 'no check-in');
  assert.equal((await store.registrations.get('s-never-asked'))?.state, 'dead');
  assert.equal((await store.registrations.get('r-asked-now'))?.state, 'repairing');
  assert.equal(
    (await store.registrations.get('creds'))?.state,
    'needs_credentials',
    'not silent: never dead',
  );

  await insert('stale', 'pending');
  clock.advance(10_000);
  await insert('young', 'pending');
  assert.equal(await store.registrations.deleteStalePending(clock.now() - 5000, 10), 1);
  assert.equal(await store.registrations.get('stale'), undefined);
  assert.equal((await store.registrations.get('young'))?.state, 'pending');
});

forEachDatabase('registrations/list filters by tenant, state, mailbox and platform', async (store) => {
  await seed(store);
  await store.registrations.insert(exampleRegistration({ id: 'a1', pushToken: 'a1' }));
  await store.registrations.insert(exampleRegistration({ id: 'a2', pushToken: 'a2', state: 'silent' }));
  await store.registrations.insert(
    exampleRegistration({ id: 'a3', pushToken: 'a3', platform: 'android', emailHash: 'f'.repeat(64) }),
  );
  await store.registrations.insert(exampleRegistration({ id: 'o1', pushToken: 'o1', tenantId: 'other' }));
  const ids = async (filter: Parameters<Store['registrations']['list']>[0], afterId?: string) =>
    (await store.registrations.list(filter, { limit: 10, ...(afterId ? { afterId } : {}) })).map((r) => r.id);
  assert.deepEqual(await ids({}), ['a1', 'a2', 'a3', 'o1']);
  assert.deepEqual(await ids({ tenantId: 'acme' }), ['a1', 'a2', 'a3']);
  assert.deepEqual(await ids({ state: 'silent' }), ['a2']);
  assert.deepEqual(await ids({ emailHash: 'f'.repeat(64) }), ['a3']);
  assert.deepEqual(await ids({ platform: 'android' }), ['a3']);
  assert.deepEqual(await ids({ tenantId: 'acme', state: 'active', platform: 'ios' }), ['a1']);
  assert.deepEqual(await ids({}, 'a2'), ['a3', 'o1']);
});

forEachDatabase('registrations/update with ifState is a compare-and-set', async (store) => {
  await seed(store);
  await store.registrations.insert(exampleRegistration({ state: 'active' }));
  assert.equal(
    await store.registrations.update('reg-1', { state: 'repairing' }, { ifState: ['silent'] }),
    undefined,
  );
  assert.equal((await store.registrations.get('reg-1'))?.state, 'active');
  await store.registrations.update('reg-1', { state: 'silent' });
  const changed = await store.registrations.update(
    'reg-1',
    { state: 'repairing' },
    { ifState: ['silent', 'dead'] },
  );
  assert.equal(changed?.state, 'repairing');
});

forEachDatabase(
  'registrations/addUnread counts from 0, and concurrent additions all count',
  async (store) => {
    await seed(store);
    await store.registrations.insert(exampleRegistration({ id: 'u1', pushToken: 'u1' }));
    assert.equal((await store.registrations.get('u1'))?.unreadCount ?? null, null);
    assert.equal(await store.registrations.addUnread('u1', 2), 2);
    // Twenty notifications at once, each in its own transaction, as the Graph intake does.
    await Promise.all(
      Array.from({ length: 20 }, () => store.transaction((tx) => tx.registrations.addUnread('u1', 1))),
    );
    assert.equal((await store.registrations.get('u1'))?.unreadCount, 22);
    assert.equal(await store.registrations.addUnread('missing', 1), undefined);
  },
);
