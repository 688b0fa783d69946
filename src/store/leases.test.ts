import assert from 'node:assert/strict';
import { exampleRegistration, exampleTenant, forEachDatabase } from './testing.ts';

const T = 1_700_000_000_000;

forEachDatabase('leases/free lease is acquired', async (store) => {
  assert.equal(await store.leases.acquire('watchdog', 'node-a', 30_000, T), true);
  assert.deepEqual(await store.leases.get('watchdog'), {
    name: 'watchdog',
    owner: 'node-a',
    expiresAt: T + 30_000,
  });
});

forEachDatabase('leases/held lease is refused to another owner', async (store) => {
  await store.leases.acquire('watchdog', 'node-a', 30_000, T);
  assert.equal(await store.leases.acquire('watchdog', 'node-b', 30_000, T + 29_999), false);
  assert.equal((await store.leases.get('watchdog'))?.owner, 'node-a');
  // Leases are independent by name.
  assert.equal(await store.leases.acquire('renewer', 'node-b', 30_000, T), true);
});

forEachDatabase('leases/owner renews its lease', async (store) => {
  await store.leases.acquire('watchdog', 'node-a', 30_000, T);
  assert.equal(await store.leases.acquire('watchdog', 'node-a', 30_000, T + 10_000), true);
  assert.equal((await store.leases.get('watchdog'))?.expiresAt, T + 40_000);
});

forEachDatabase('leases/expired lease can be taken over', async (store) => {
  await store.leases.acquire('watchdog', 'node-a', 30_000, T);
  assert.equal(await store.leases.acquire('watchdog', 'node-b', 30_000, T + 30_000), true);
  assert.deepEqual(await store.leases.get('watchdog'), {
    name: 'watchdog',
    owner: 'node-b',
    expiresAt: T + 60_000,
  });
  // The old owner lost it and cannot renew until it expires again.
  assert.equal(await store.leases.acquire('watchdog', 'node-a', 30_000, T + 30_001), false);
});

forEachDatabase('leases/only the owner releases', async (store) => {
  await store.leases.acquire('watchdog', 'node-a', 30_000, T);
  assert.equal(await store.leases.release('watchdog', 'node-b'), false);
  assert.equal((await store.leases.get('watchdog'))?.owner, 'node-a');
  assert.equal(await store.leases.release('watchdog', 'node-a'), true);
  assert.equal(await store.leases.get('watchdog'), undefined);
  // Released means free at once, no need to wait for expiry.
  assert.equal(await store.leases.acquire('watchdog', 'node-b', 30_000, T + 1), true);
});

forEachDatabase('leases/concurrent acquire has one winner', async (store) => {
  for (let round = 0; round < 5; round++) {
    const owners = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const won = await Promise.all(owners.map((o) => store.leases.acquire(`job-${round}`, o, 30_000, T)));
    assert.equal(won.filter(Boolean).length, 1, `round ${round}: ${won.join(',')}`);
    assert.equal((await store.leases.get(`job-${round}`))?.owner, owners[won.indexOf(true)]);
  }
});

forEachDatabase('deliveries/record is idempotent per (registration, item)', async (store, { clock }) => {
  await store.tenants.create(exampleTenant());
  await store.registrations.insert(exampleRegistration());
  await store.registrations.insert(exampleRegistration({ id: 'reg-2', pushToken: 'p2' }));
  await store.outbox.enqueue([{ registrationId: 'reg-1', kind: 'new_mail', dedupeKey: 'd', payload: {} }]);
  const [event] = await store.outbox.listForRegistration('reg-1');
  const sent = {
    registrationId: 'reg-1',
    outboxId: event!.id,
    itemId: 'AAMkItem',
    provider: 'apns' as const,
    status: 'sent' as const,
    providerId: 'apns-id-1',
    latencyMs: 42,
  };
  assert.equal(await store.deliveries.record(sent), true);
  assert.equal(await store.deliveries.record({ ...sent, providerId: 'apns-id-2' }), false);
  assert.equal(await store.deliveries.record({ ...sent, registrationId: 'reg-2', outboxId: null }), true);
  const list = await store.deliveries.listForRegistration('reg-1');
  assert.deepEqual(list, [{ ...sent, id: list[0]?.id, error: null, createdAt: clock.now() }]);
});

forEachDatabase('deliveries/without an item id every record is new', async (store) => {
  await store.tenants.create(exampleTenant());
  await store.registrations.insert(exampleRegistration());
  const checkin = {
    registrationId: 'reg-1',
    provider: 'fcm' as const,
    status: 'failed' as const,
    latencyMs: 1,
  };
  assert.equal(await store.deliveries.record({ ...checkin, error: 'UNAVAILABLE', createdAt: 1 }), true);
  assert.equal(await store.deliveries.record({ ...checkin, createdAt: 2 }), true);
  const list = await store.deliveries.listForRegistration('reg-1');
  assert.deepEqual(
    list.map((d) => [d.createdAt, d.error, d.itemId]),
    [
      [2, null, null],
      [1, 'UNAVAILABLE', null],
    ],
  );
});
