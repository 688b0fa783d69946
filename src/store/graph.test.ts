/**
 * The Graph tables on both databases: one subscription per `graph` registration (cascade-deleted
 * with it), found by Graph's id, due for renewal in renew_at order; Herald's encryption keys,
 * current vs still usable after retirement.
 */
import assert from 'node:assert/strict';
import { type NewGraphSubscription, type Store, StoreConflictError } from './index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase } from './testing.ts';

const T = 1_700_000_000_000;

async function withRegistrations(store: Store, ids: string[]): Promise<void> {
  await store.tenants.create(exampleTenant());
  for (const [i, id] of ids.entries()) {
    await store.registrations.insert(exampleRegistration({ id, provider: 'graph', pushToken: `token-${i}` }));
  }
}

const subscription = (
  registrationId: string,
  extra: Partial<NewGraphSubscription> = {},
): NewGraphSubscription => ({
  registrationId,
  entraTenantId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
  auth: 'app',
  clientStateHash: 'hmac-sha256:abc',
  includeResourceData: false,
  ...extra,
});

forEachDatabase('graph/insert and get: defaults, every field, booleans', async (store, { clock }) => {
  await withRegistrations(store, ['r1', 'r2']);
  const created = await store.graphSubscriptions.insert(subscription('r1'));
  assert.deepEqual(created, {
    registrationId: 'r1',
    subscriptionId: null,
    entraTenantId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
    auth: 'app',
    clientStateHash: 'hmac-sha256:abc',
    nextClientStateHash: null,
    applicationId: null,
    includeResourceData: false,
    encryptionCertificateId: null,
    state: 'creating',
    expiresAt: null,
    renewAt: null,
    renewalFailures: 0,
    lastError: null,
    lastLifecycleEvent: null,
    lastLifecycleAt: null,
    createdAt: clock.now(),
    updatedAt: clock.now(),
  });
  const rich = await store.graphSubscriptions.insert(
    subscription('r2', {
      auth: 'delegated',
      includeResourceData: true,
      subscriptionId: 'sub-2',
      applicationId: 'app-2',
      encryptionCertificateId: 'cert-1',
      state: 'active',
      expiresAt: T + 1000,
      renewAt: T,
    }),
  );
  assert.equal(rich.includeResourceData, true);
  assert.deepEqual(await store.graphSubscriptions.get('r2'), rich);
  assert.deepEqual(await store.graphSubscriptions.findBySubscriptionId('sub-2'), rich);
  assert.equal(await store.graphSubscriptions.findBySubscriptionId('nope'), undefined);
});

forEachDatabase(
  'graph/one subscription per registration; Graph ids unique, many rows without one',
  async (store) => {
    await withRegistrations(store, ['r1', 'r2', 'r3']);
    await store.graphSubscriptions.insert(subscription('r1'));
    await assert.rejects(store.graphSubscriptions.insert(subscription('r1')), StoreConflictError);
    // Two rows still being created (no Graph id yet) do not collide.
    await store.graphSubscriptions.insert(subscription('r2'));
    await store.graphSubscriptions.update('r1', { subscriptionId: 'sub-x' });
    await assert.rejects(
      store.graphSubscriptions.update('r2', { subscriptionId: 'sub-x' }),
      StoreConflictError,
    );
    await assert.rejects(
      store.graphSubscriptions.insert(subscription('r3', { subscriptionId: 'sub-x' })),
      StoreConflictError,
    );
  },
);

forEachDatabase(
  'graph/update: undefined leaves, null clears, ifState guards; unknown registration → undefined',
  async (store, { clock }) => {
    await withRegistrations(store, ['r1']);
    await store.graphSubscriptions.insert(
      subscription('r1', { nextClientStateHash: 'hmac-sha256:next', renewAt: T }),
    );
    clock.advance(1000);
    const updated = await store.graphSubscriptions.update('r1', {
      state: 'active',
      nextClientStateHash: null,
      includeResourceData: true,
      renewalFailures: 2,
      lastError: '503:serviceUnavailable',
    });
    assert.equal(updated?.state, 'active');
    assert.equal(updated?.nextClientStateHash, null);
    assert.equal(updated?.includeResourceData, true);
    assert.equal(updated?.renewalFailures, 2);
    assert.equal(updated?.renewAt, T, 'left alone');
    assert.equal(updated?.updatedAt, clock.now());
    assert.equal(
      await store.graphSubscriptions.update('r1', { state: 'removed' }, { ifState: ['creating'] }),
      undefined,
    );
    assert.equal((await store.graphSubscriptions.get('r1'))?.state, 'active');
    assert.equal(await store.graphSubscriptions.update('nobody', { state: 'removed' }), undefined);
  },
);

forEachDatabase(
  'graph/due: renew_at reached, soonest first, limited; none and future ones left out',
  async (store) => {
    await withRegistrations(store, ['a', 'b', 'c', 'd', 'e']);
    await store.graphSubscriptions.insert(subscription('a', { renewAt: T + 10 }));
    await store.graphSubscriptions.insert(subscription('b', { renewAt: T - 10 }));
    await store.graphSubscriptions.insert(subscription('c', { renewAt: T }));
    await store.graphSubscriptions.insert(subscription('d', { renewAt: null }));
    await store.graphSubscriptions.insert(subscription('e', { renewAt: T - 10 }));
    const ids = async (limit: number) =>
      (await store.graphSubscriptions.due(T, limit)).map((s) => s.registrationId);
    assert.deepEqual(await ids(10), ['b', 'e', 'c']);
    assert.deepEqual(await ids(2), ['b', 'e']);
    assert.deepEqual(await store.graphSubscriptions.countByState(), { creating: 5 });
  },
);

forEachDatabase('graph/the subscription goes with its registration', async (store) => {
  await withRegistrations(store, ['r1']);
  await store.graphSubscriptions.insert(subscription('r1', { subscriptionId: 's1' }));
  assert.equal(await store.registrations.delete('r1'), true);
  assert.equal(await store.graphSubscriptions.get('r1'), undefined);
  assert.equal(await store.graphSubscriptions.findBySubscriptionId('s1'), undefined);
});

forEachDatabase(
  'graph/encryption keys: current is the newest live one; retired ones stay usable until they expire',
  async (store, { clock }) => {
    const key = (id: string, notAfter: number) => ({
      id,
      certificate: `der-${id}`,
      thumbprint: id.toUpperCase().padEnd(40, '0'),
      privateKeyEnc: `sealed-${id}`,
      notAfter,
    });
    const now = clock.now();
    assert.equal(await store.graphEncryptionKeys.current(now), undefined);
    await store.graphEncryptionKeys.add(key('old', now + 1000));
    clock.advance(10);
    await store.graphEncryptionKeys.add(key('new', now + 100_000));
    clock.advance(10);
    await store.graphEncryptionKeys.add(key('expired', now - 1));
    await assert.rejects(store.graphEncryptionKeys.add(key('new', now)), StoreConflictError);
    assert.equal((await store.graphEncryptionKeys.current(now))?.id, 'new');
    assert.equal(await store.graphEncryptionKeys.retire('new', now), true);
    assert.equal(await store.graphEncryptionKeys.retire('new', now), false, 'retired once');
    assert.equal((await store.graphEncryptionKeys.current(now))?.id, 'old');
    assert.deepEqual(
      (await store.graphEncryptionKeys.usable(now)).map((k) => k.id),
      ['new', 'old'],
    );
    // Past the old key's end only the retired new one still opens notifications.
    assert.deepEqual(
      (await store.graphEncryptionKeys.usable(now + 5000)).map((k) => k.id),
      ['new'],
    );
    assert.equal(await store.graphEncryptionKeys.current(now + 5000), undefined);
  },
);

forEachDatabase('graph/deletions: add once, due in order, retry later, remove', async (store, { clock }) => {
  const deletions = store.graphDeletions;
  await deletions.add({ subscriptionId: 'sub-b', tenantId: 'acme', nextAttemptAt: 2000, expiresAt: 9000 });
  await deletions.add({
    subscriptionId: 'sub-a',
    tenantId: 'acme',
    nextAttemptAt: 1000,
    expiresAt: null,
    lastError: 'exchange_unreachable',
  });
  // A second add keeps the first task as it was.
  await deletions.add({ subscriptionId: 'sub-a', tenantId: 'other', nextAttemptAt: 5000, expiresAt: 1 });
  assert.equal(await deletions.count(), 2);
  assert.deepEqual(
    (await deletions.due(1500, 10)).map((d) => [d.subscriptionId, d.tenantId, d.attempts, d.lastError]),
    [['sub-a', 'acme', 0, 'exchange_unreachable']],
  );
  assert.deepEqual(
    (await deletions.due(2000, 10)).map((d) => d.subscriptionId),
    ['sub-a', 'sub-b'],
  );
  assert.equal((await deletions.due(2000, 1)).length, 1);
  await deletions.retryLater('sub-a', 4000, 'x'.repeat(600));
  const [b, a] = await deletions.due(4000, 10);
  assert.equal(b?.subscriptionId, 'sub-b');
  assert.equal(a?.subscriptionId, 'sub-a');
  assert.equal(a?.attempts, 1);
  assert.equal(a?.lastError?.length, 500, 'errors are kept short');
  assert.equal(b?.expiresAt, 9000);
  assert.equal(b?.createdAt, clock.now());
  assert.equal(await deletions.remove('sub-a'), true);
  assert.equal(await deletions.remove('sub-a'), false);
  assert.equal(await deletions.count(), 1);
});
