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
  const expected = { ...full, createdAt: clock.now(), updatedAt: clock.now() };
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
