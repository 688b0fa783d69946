import assert from 'node:assert/strict';
import { StoreConflictError, StoreInvalidError } from './index.ts';
import { exampleTenant, forEachDatabase } from './testing.ts';

const jwk = { kty: 'RSA', n: 'sXch', e: 'AQAB' };

forEachDatabase('tenants/create and get', async (store, { clock }) => {
  const created = await store.tenants.create(exampleTenant({ contentPolicy: 'badge' }));
  const expected = {
    id: 'acme',
    apiTokenHash: 'a'.repeat(64),
    contentPolicy: 'badge',
    createdAt: clock.now(),
    updatedAt: clock.now(),
  };
  assert.deepEqual(created, expected);
  assert.deepEqual(await store.tenants.get('acme'), expected);
  assert.equal(await store.tenants.get('nobody'), undefined);
});

forEachDatabase('tenants/content policy defaults to full', async (store) => {
  const created = await store.tenants.create({ id: 'acme', apiTokenHash: 'x' });
  assert.equal(created.contentPolicy, 'full');
});

forEachDatabase('tenants/duplicate id is a conflict', async (store) => {
  await store.tenants.create(exampleTenant());
  const error = await store.tenants.create(exampleTenant({ apiTokenHash: 'other' })).catch((e: unknown) => e);
  assert.ok(error instanceof StoreConflictError);
  assert.equal(error.code, 'conflict');
});

forEachDatabase('tenants/duplicate token hash is a conflict', async (store) => {
  await store.tenants.create(exampleTenant());
  await assert.rejects(store.tenants.create(exampleTenant({ id: 'other' })), StoreConflictError);
  await store.tenants.create(exampleTenant({ id: 'other', apiTokenHash: 'b'.repeat(64) }));
  await assert.rejects(store.tenants.setApiTokenHash('other', 'a'.repeat(64)), StoreConflictError);
});

forEachDatabase('tenants/invalid ids are refused', async (store) => {
  for (const id of ['Acme', '-acme', 'ac_me', '', 'a'.repeat(64), 'acme.example', 'ac me']) {
    await assert.rejects(store.tenants.create(exampleTenant({ id })), StoreInvalidError, id);
    await assert.rejects(store.tenants.upsert(exampleTenant({ id })), StoreInvalidError, id);
  }
  await store.tenants.create(exampleTenant({ id: `0${'a-'.repeat(31)}` }));
  assert.equal((await store.tenants.list()).length, 1);
});

forEachDatabase('tenants/list is ordered by id', async (store) => {
  for (const id of ['zeta', 'alpha', 'mid-1'])
    await store.tenants.create(exampleTenant({ id, apiTokenHash: id }));
  assert.deepEqual(
    (await store.tenants.list()).map((t) => t.id),
    ['alpha', 'mid-1', 'zeta'],
  );
});

forEachDatabase('tenants/findByApiTokenHash', async (store) => {
  await store.tenants.create(exampleTenant());
  assert.equal((await store.tenants.findByApiTokenHash('a'.repeat(64)))?.id, 'acme');
  assert.equal(await store.tenants.findByApiTokenHash('b'.repeat(64)), undefined);
});

forEachDatabase('tenants/setters update and report unknown tenants', async (store, { clock }) => {
  await store.tenants.create(exampleTenant());
  const later = clock.advance(1000);
  assert.equal(await store.tenants.setApiTokenHash('acme', 'c'.repeat(64)), true);
  assert.equal(await store.tenants.setContentPolicy('acme', 'silent'), true);
  const tenant = await store.tenants.get('acme');
  assert.equal(tenant?.apiTokenHash, 'c'.repeat(64));
  assert.equal(tenant?.contentPolicy, 'silent');
  assert.equal(tenant?.updatedAt, later);
  assert.equal(await store.tenants.setApiTokenHash('nobody', 'd'), false);
  assert.equal(await store.tenants.setContentPolicy('nobody', 'badge'), false);
});

forEachDatabase(
  'tenants/upsert inserts, updates, and leaves an unchanged tenant alone',
  async (store, { clock }) => {
    const start = clock.now();
    const inserted = await store.tenants.upsert(exampleTenant());
    assert.equal(inserted.createdAt, start);

    clock.advance(1000);
    const same = await store.tenants.upsert(exampleTenant());
    assert.equal(same.updatedAt, start, 'unchanged config does not touch updated_at');

    const changedAt = clock.advance(1000);
    const changed = await store.tenants.upsert(exampleTenant({ contentPolicy: 'badge', apiTokenHash: 'n' }));
    assert.deepEqual(changed, {
      id: 'acme',
      apiTokenHash: 'n',
      contentPolicy: 'badge',
      createdAt: start,
      updatedAt: changedAt,
    });
    assert.equal((await store.tenants.list()).length, 1);
  },
);

forEachDatabase('tenant_keys/current is the newest key not retired', async (store) => {
  await store.tenants.create(exampleTenant());
  await store.tenants.create(exampleTenant({ id: 'other', apiTokenHash: 'o' }));
  assert.equal(await store.tenantKeys.current('acme'), undefined);
  await store.tenantKeys.add({
    kid: 'k1',
    tenantId: 'acme',
    publicJwk: jwk,
    privateKeyEnc: 'enc1',
    createdAt: 100,
  });
  await store.tenantKeys.add({
    kid: 'k2',
    tenantId: 'acme',
    publicJwk: jwk,
    privateKeyEnc: 'enc2',
    createdAt: 200,
  });
  await store.tenantKeys.add({
    kid: 'k3',
    tenantId: 'other',
    publicJwk: jwk,
    privateKeyEnc: 'enc3',
    createdAt: 300,
  });

  const current = await store.tenantKeys.current('acme');
  assert.deepEqual(current, {
    kid: 'k2',
    tenantId: 'acme',
    publicJwk: jwk,
    privateKeyEnc: 'enc2',
    createdAt: 200,
    retiredAt: null,
  });
  assert.deepEqual(
    (await store.tenantKeys.listActive('acme')).map((k) => k.kid),
    ['k2', 'k1'],
  );

  assert.equal(await store.tenantKeys.retire('k2', 250), true);
  assert.equal(await store.tenantKeys.retire('k2', 260), false, 'retiring twice keeps the first time');
  assert.equal((await store.tenantKeys.current('acme'))?.kid, 'k1');
  assert.deepEqual(
    (await store.tenantKeys.listActive('acme')).map((k) => k.kid),
    ['k1'],
  );
  // A retired key is still found by kid: devices may hold the old public key for a while.
  assert.equal((await store.tenantKeys.get('acme', 'k2'))?.retiredAt, 250);
  assert.equal(await store.tenantKeys.get('other', 'k2'), undefined, 'kid of another tenant');
});

forEachDatabase('tenant_keys/duplicate kid is a conflict', async (store) => {
  await store.tenants.create(exampleTenant());
  await store.tenantKeys.add({ kid: 'k1', tenantId: 'acme', publicJwk: jwk, privateKeyEnc: 'e' });
  await assert.rejects(
    store.tenantKeys.add({ kid: 'k1', tenantId: 'acme', publicJwk: jwk, privateKeyEnc: 'e' }),
    StoreConflictError,
  );
});
