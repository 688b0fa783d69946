import assert from 'node:assert/strict';
import type { NewOutboxEvent, Store } from './index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase } from './testing.ts';

async function seed(store: Store): Promise<void> {
  await store.tenants.create(exampleTenant());
  await store.registrations.insert(exampleRegistration());
  await store.registrations.insert(exampleRegistration({ id: 'reg-2', pushToken: 'p2' }));
}

function mail(dedupeKey: string, extra: Partial<NewOutboxEvent> = {}): NewOutboxEvent {
  return {
    registrationId: 'reg-1',
    kind: 'new_mail',
    itemId: `item-${dedupeKey}`,
    dedupeKey,
    payload: {},
    ...extra,
  };
}

forEachDatabase('outbox/enqueue dedupes a retried notification', async (store) => {
  await seed(store);
  assert.equal(await store.outbox.enqueue([mail('n1'), mail('n2')]), 2);
  // Exchange retries the same notification (same key) together with a new one.
  assert.equal(await store.outbox.enqueue([mail('n1'), mail('n3')]), 1);
  assert.equal(await store.outbox.enqueue([mail('n1')]), 0);
  // The key is unique per registration, not globally.
  assert.equal(await store.outbox.enqueue([mail('n1', { registrationId: 'reg-2' })]), 1);
  assert.deepEqual(
    (await store.outbox.listForRegistration('reg-1')).map((e) => e.dedupeKey),
    ['n1', 'n2', 'n3'],
  );
  assert.equal(await store.outbox.enqueue([]), 0);
});

forEachDatabase('outbox/enqueue counts a key repeated within one call once', async (store) => {
  await seed(store);
  assert.equal(await store.outbox.enqueue([mail('n1'), mail('n1'), mail('n2')]), 2);
});

forEachDatabase('outbox/enqueue is all or nothing', async (store) => {
  await seed(store);
  // 600 rows span two insert statements; the bad last row must undo the first statement too.
  const events = Array.from({ length: 599 }, (_, i) => mail(`k${i}`));
  events.push(mail('bad', { registrationId: 'no-such-registration' }));
  await assert.rejects(store.outbox.enqueue(events));
  assert.deepEqual(await store.outbox.listForRegistration('reg-1'), []);
  assert.equal(await store.outbox.enqueue(events.slice(0, 599)), 599);
});

forEachDatabase('outbox/row fields and payload round-trip', async (store, { clock }) => {
  await seed(store);
  const payload = {
    events: [{ type: 'NewMail', itemId: 'AAMk=', when: '2025-01-01T00:00:00Z' }],
    n: 1.5,
    ok: true,
  };
  await store.outbox.enqueue([{ registrationId: 'reg-1', kind: 'badge_refresh', dedupeKey: 'b', payload }]);
  const [event] = await store.outbox.listForRegistration('reg-1');
  assert.deepEqual(event, {
    id: event?.id,
    registrationId: 'reg-1',
    kind: 'badge_refresh',
    itemId: null,
    dedupeKey: 'b',
    payload,
    status: 'pending',
    attempts: 0,
    availableAt: clock.now(),
    leaseOwner: null,
    leaseUntil: null,
    lastError: null,
    createdAt: clock.now(),
  });
});

forEachDatabase('outbox/claim leases due rows only, oldest first', async (store, { clock }) => {
  await seed(store);
  const now = clock.now();
  await store.outbox.enqueue([
    mail('later', { availableAt: now + 60_000 }),
    mail('due-2', { availableAt: now - 10 }),
    mail('due-1', { availableAt: now - 20 }),
    mail('due-3', { availableAt: now }),
  ]);
  const claimed = await store.outbox.claim({ owner: 'node-a', limit: 10, leaseMs: 30_000, now });
  assert.deepEqual(
    claimed.map((e) => e.dedupeKey),
    ['due-1', 'due-2', 'due-3'],
  );
  for (const e of claimed) {
    assert.equal(e.status, 'processing');
    assert.equal(e.leaseOwner, 'node-a');
    assert.equal(e.leaseUntil, now + 30_000);
    assert.equal(e.attempts, 1);
  }
  assert.deepEqual(await store.outbox.claim({ owner: 'node-b', limit: 10, leaseMs: 30_000, now }), []);
  assert.deepEqual(await store.outbox.countByStatus(), { pending: 1, processing: 3, done: 0, failed: 0 });
});

forEachDatabase('outbox/claim respects the limit', async (store, { clock }) => {
  await seed(store);
  await store.outbox.enqueue(['a', 'b', 'c', 'd', 'e'].map((k) => mail(k)));
  const now = clock.now();
  assert.equal((await store.outbox.claim({ owner: 'w', limit: 2, leaseMs: 1000, now })).length, 2);
  assert.equal((await store.outbox.claim({ owner: 'w', limit: 2, leaseMs: 1000, now })).length, 2);
  assert.equal((await store.outbox.claim({ owner: 'w', limit: 2, leaseMs: 1000, now })).length, 1);
  assert.deepEqual(await store.outbox.claim({ owner: 'w', limit: 0, leaseMs: 1000, now }), []);
});

forEachDatabase('outbox/expired lease is claimed again', async (store, { clock }) => {
  await seed(store);
  await store.outbox.enqueue([mail('n1')]);
  const t0 = clock.now();
  const [first] = await store.outbox.claim({ owner: 'dead-node', limit: 1, leaseMs: 1000, now: t0 });
  assert.equal(first?.attempts, 1);
  assert.deepEqual(await store.outbox.claim({ owner: 'node-b', limit: 1, leaseMs: 1000, now: t0 + 999 }), []);
  const [again] = await store.outbox.claim({ owner: 'node-b', limit: 1, leaseMs: 1000, now: t0 + 1000 });
  assert.equal(again?.id, first?.id);
  assert.equal(again?.leaseOwner, 'node-b');
  assert.equal(again?.attempts, 2);
  // The dead node's late completion must not count: node-b holds the lease now.
  assert.equal(await store.outbox.complete(first!.id, { owner: 'dead-node' }), false);
  assert.equal(await store.outbox.complete(first!.id, { owner: 'node-b' }), true);
});

forEachDatabase('outbox/claim does not hand one row to two owners', async (store, { clock }) => {
  await seed(store);
  const now = clock.now();
  // A race shows up only sometimes, so several rounds make a broken claim fail reliably.
  for (let round = 0; round < 5; round++) {
    await store.outbox.enqueue(Array.from({ length: 40 }, (_, i) => mail(`r${round}-${i}`)));
    // Concurrent claimers: on PostgreSQL each runs on its own pooled connection.
    const batches = await Promise.all(
      ['w1', 'w2', 'w3', 'w4'].map((owner) => store.outbox.claim({ owner, limit: 15, leaseMs: 60_000, now })),
    );
    const claimed = [
      ...batches.flat(),
      ...(await store.outbox.claim({ owner: 'w5', limit: 40, leaseMs: 60_000, now })),
    ];
    const ids = claimed.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `round ${round}: a row was handed out twice`);
    assert.equal(ids.length, 40, `round ${round}: every row claimed`);
    // The stored owner is the one the row was handed to.
    const stored = new Map(
      (await store.outbox.listForRegistration('reg-1')).map((e) => [e.id, e.leaseOwner]),
    );
    for (const e of claimed) assert.equal(stored.get(e.id), e.leaseOwner, `row ${e.id} owner`);
  }
});

forEachDatabase('outbox/complete and fail move a row on', async (store, { clock }) => {
  await seed(store);
  await store.outbox.enqueue([mail('ok'), mail('retry'), mail('give-up')]);
  const t0 = clock.now();
  const claimed = await store.outbox.claim({ owner: 'w', limit: 3, leaseMs: 1000, now: t0 });
  const id = (key: string) => claimed.find((e) => e.dedupeKey === key)!.id;

  assert.equal(await store.outbox.complete(id('ok')), true);
  assert.equal(await store.outbox.fail(id('retry'), 'APNs 503', { retryAt: t0 + 5000 }), true);
  assert.equal(await store.outbox.fail(id('give-up'), 'APNs 400 BadDeviceToken', { final: true }), true);
  assert.equal(await store.outbox.complete(999_999), false);

  const rows = new Map((await store.outbox.listForRegistration('reg-1')).map((e) => [e.dedupeKey, e]));
  assert.equal(rows.get('ok')?.status, 'done');
  assert.equal(rows.get('ok')?.leaseOwner, null);
  assert.equal(rows.get('retry')?.status, 'pending');
  assert.equal(rows.get('retry')?.availableAt, t0 + 5000);
  assert.equal(rows.get('retry')?.lastError, 'APNs 503');
  assert.equal(rows.get('retry')?.leaseUntil, null);
  assert.equal(rows.get('give-up')?.status, 'failed');
  assert.equal(rows.get('give-up')?.lastError, 'APNs 400 BadDeviceToken');
  assert.deepEqual(await store.outbox.countByStatus(), { pending: 1, processing: 0, done: 1, failed: 1 });

  // Done and failed rows are never claimed again; the retry waits for its time.
  assert.deepEqual(await store.outbox.claim({ owner: 'w', limit: 10, leaseMs: 1000, now: t0 + 4999 }), []);
  const [retried] = await store.outbox.claim({ owner: 'w', limit: 10, leaseMs: 1000, now: t0 + 10_000 });
  assert.equal(retried?.dedupeKey, 'retry');
  assert.equal(retried?.attempts, 2);
  assert.equal(
    await store.outbox.fail(retried!.id, 'late', { final: true }, { owner: 'someone-else' }),
    false,
  );
});

forEachDatabase('outbox/countByStatus of an empty outbox is all zeros', async (store) => {
  assert.deepEqual(await store.outbox.countByStatus(), { pending: 0, processing: 0, done: 0, failed: 0 });
});

forEachDatabase(
  'outbox/complete and fail can replace the payload (a sealed key is erased)',
  async (store, { clock }) => {
    await seed(store);
    await store.outbox.enqueue([
      mail('a', { payload: { events: ['NewMailEvent'], wrappedKey: 'sealed' } }),
      mail('b', { payload: { events: ['NewMailEvent'], wrappedKey: 'sealed' } }),
      mail('c', { payload: { events: ['NewMailEvent'], wrappedKey: 'sealed' } }),
    ]);
    const claimed = await store.outbox.claim({ owner: 'w', limit: 3, leaseMs: 1000, now: clock.now() });
    const id = (key: string) => claimed.find((e) => e.dedupeKey === key)!.id;
    const erased = { events: ['NewMailEvent'] };
    assert.equal(await store.outbox.complete(id('a'), { owner: 'w', payload: erased }), true);
    assert.equal(
      await store.outbox.fail(id('b'), 'x', { final: true }, { owner: 'w', payload: erased }),
      true,
    );
    // A retry keeps the key: the next try needs it.
    assert.equal(await store.outbox.fail(id('c'), 'x', { retryAt: clock.now() }, { owner: 'w' }), true);
    const rows = new Map((await store.outbox.listForRegistration('reg-1')).map((e) => [e.dedupeKey, e]));
    assert.deepEqual(rows.get('a')?.payload, erased);
    assert.deepEqual(rows.get('b')?.payload, erased);
    assert.deepEqual(rows.get('c')?.payload, { events: ['NewMailEvent'], wrappedKey: 'sealed' });
  },
);

forEachDatabase(
  'deliveries/record is idempotent per (registration, item) and find returns it',
  async (store) => {
    await seed(store);
    const sent = { registrationId: 'reg-1', itemId: 'item-1', provider: 'apns' as const, latencyMs: 12 };
    assert.equal(await store.deliveries.record({ ...sent, status: 'sent', providerId: 'apns-id-1' }), true);
    assert.equal(await store.deliveries.record({ ...sent, status: 'sent', providerId: 'apns-id-2' }), false);
    assert.equal((await store.deliveries.find('reg-1', 'item-1'))?.providerId, 'apns-id-1');
    assert.equal(await store.deliveries.find('reg-1', 'item-2'), undefined);
    assert.equal(await store.deliveries.find('reg-2', 'item-1'), undefined);
    // Deliveries without an item (badge updates, check-in requests) are history, never deduplicated.
    const badge = {
      registrationId: 'reg-1',
      provider: 'apns' as const,
      status: 'sent' as const,
      latencyMs: 3,
    };
    assert.equal(await store.deliveries.record(badge), true);
    assert.equal(await store.deliveries.record(badge), true);
    assert.equal((await store.deliveries.listForRegistration('reg-1')).length, 3);
  },
);

forEachDatabase(
  "outbox/release hands this owner's leased rows back at once, uncounted",
  async (store, { clock }) => {
    await seed(store);
    await store.outbox.enqueue([mail('n1'), mail('n2'), mail('n3', { registrationId: 'reg-2' })]);
    const t0 = clock.now();
    const mine = await store.outbox.claim({ owner: 'stopping', limit: 2, leaseMs: 60_000, now: t0 });
    const theirs = await store.outbox.claim({ owner: 'other', limit: 1, leaseMs: 60_000, now: t0 });
    assert.equal(mine.length, 2);
    const ids = [...mine, ...theirs].map((e) => e.id);
    assert.equal(await store.outbox.release(ids, 'stopping'), 2, 'only rows this owner holds');
    assert.deepEqual(await store.outbox.countByStatus('reg-1'), {
      pending: 2,
      processing: 0,
      done: 0,
      failed: 0,
    });
    assert.deepEqual(await store.outbox.countByStatus('reg-2'), {
      pending: 0,
      processing: 1,
      done: 0,
      failed: 0,
    });
    // Claimable by anyone now, long before the lease would have lapsed; the try did not count.
    const again = await store.outbox.claim({ owner: 'next', limit: 10, leaseMs: 60_000, now: t0 + 1 });
    assert.deepEqual(
      again.map((e) => [e.id, e.attempts]),
      mine.map((e) => [e.id, 1]),
    );
    assert.equal(await store.outbox.release([], 'next'), 0);
  },
);

forEachDatabase(
  'outbox/reclaim takes back what an earlier run of this node left leased',
  async (store, { clock }) => {
    await seed(store);
    await store.outbox.enqueue([mail('n1'), mail('n2'), mail('n3')]);
    const t0 = clock.now();
    await store.outbox.claim({ owner: 'node-1', limit: 2, leaseMs: 120_000, now: t0 });
    await store.outbox.claim({ owner: 'node-2', limit: 1, leaseMs: 120_000, now: t0 });
    assert.equal(await store.outbox.reclaim('node-1'), 2);
    assert.deepEqual(await store.outbox.countByStatus(), { pending: 2, processing: 1, done: 0, failed: 0 });
    const again = await store.outbox.claim({ owner: 'node-1', limit: 10, leaseMs: 120_000, now: t0 + 1 });
    assert.deepEqual(
      again.map((e) => e.attempts),
      [1, 1],
      'the interrupted tries do not count',
    );
    assert.equal(await store.outbox.reclaim('nobody'), 0);
  },
);
