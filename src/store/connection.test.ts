import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { openStore, StoreConflictError } from './index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase } from './testing.ts';

const refusedUrls: Array<[string, string, RegExp]> = [
  [
    'connection/unknown scheme is refused',
    'mysql://root@localhost/herald',
    /Unsupported store URL scheme mysql:/,
  ],
  ['connection/url without scheme is refused', './herald.db', /Unsupported store URL scheme/],
  ['connection/sqlite url without path is refused', 'sqlite:', /names no SQLite file/],
  [
    'connection/postgres schema name is checked before use',
    'postgres://postgres@127.0.0.1:5432/test?schema=x;drop',
    /Invalid PostgreSQL schema name/,
  ],
];

for (const [name, url, message] of refusedUrls) {
  test(name, async () => {
    await assert.rejects(openStore(url), message);
  });
}

test('connection/sqlite file: parent directory created, WAL and pragmas set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-conn-'));
  try {
    const path = join(dir, 'nested', 'var', 'herald.db');
    const logs: string[] = [];
    const store = await openStore(`sqlite:${path}`, { log: (m) => logs.push(m) });
    try {
      assert.equal(existsSync(path), true);
      const pragma = async (name: string) =>
        Object.values((await sql.raw(`pragma ${name}`).execute(store.db)).rows[0] as object)[0];
      assert.equal(await pragma('journal_mode'), 'wal');
      assert.equal(await pragma('foreign_keys'), 1);
      assert.equal(await pragma('busy_timeout'), 5000);
      assert.equal(await pragma('synchronous'), 1); // NORMAL
      assert.match(logs.join('\n'), /journal_mode=wal/);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connection/sqlite relative path resolves against the working directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-rel-'));
  const cwd = process.cwd();
  // node --test runs each file in its own process, and tests within a file one at a time.
  process.chdir(dir);
  try {
    const store = await openStore('sqlite:./var/herald.db');
    await store.close();
    assert.equal(existsSync(join(dir, 'var', 'herald.db')), true);
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connection/sqlite in memory works and ping fails after close', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate();
  assert.equal(store.dialect, 'sqlite');
  assert.equal(await store.ping(), true);
  await store.close();
  assert.equal(await store.ping(), false);
});

forEachDatabase('store/ping answers', async (store) => {
  assert.equal(await store.ping(), true);
});

forEachDatabase('migrations/running migrate twice is a no-op', async (store) => {
  await store.tenants.create(exampleTenant());
  // Only this store's schema: other test files run in parallel in their own PostgreSQL schemas.
  const tables = async () =>
    store.dialect === 'postgres'
      ? (
          await sql<{ name: string }>`select table_name as name from information_schema.tables
            where table_schema = current_schema()`.execute(store.db)
        ).rows
          .map((r) => r.name)
          .sort()
      : (await store.db.introspection.getTables({ withInternalKyselyTables: true }))
          .map((t) => t.name)
          .sort();
  const before = await tables();
  await store.migrate();
  assert.deepEqual(await tables(), before);
  assert.deepEqual(
    before.filter((n) => !n.startsWith('kysely_')),
    [
      'deliveries',
      'gateway_rules',
      'graph_deletions',
      'graph_encryption_keys',
      'graph_subscriptions',
      'leases',
      'outbox',
      'pki_authorities',
      'pki_certificates',
      'pki_challenges',
      'pki_crls',
      'pki_templates',
      'provider_tokens',
      'registrations',
      'tenant_keys',
      'tenants',
    ],
  );
  // Data survives, and each migration was recorded once.
  assert.equal((await store.tenants.list()).length, 1);
  const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
    store.db,
  );
  assert.deepEqual(
    applied.rows.map((r) => r.name),
    [
      '0001_initial',
      '0002_subscription_health',
      '0003_provider_tokens',
      '0004_gateway_rules',
      '0005_pki',
      '0006_graph',
      '0007_graph_deletions',
    ],
  );
});

forEachDatabase('store/int8 columns come back as numbers', async (store, { clock }) => {
  // Beyond 2^31: a PostgreSQL bigint that pg would return as a string without our parser.
  clock.set(4_102_444_800_000);
  await store.tenants.create(exampleTenant());
  await store.registrations.insert(exampleRegistration({ lastSeenAt: 4_102_444_800_123 }));
  await store.outbox.enqueue([{ registrationId: 'reg-1', kind: 'checkin', dedupeKey: 'c', payload: {} }]);
  const raw = await sql<{
    created_at: unknown;
    n: unknown;
  }>`select created_at, (select count(*) from outbox) as n from tenants`.execute(store.db);
  assert.equal(raw.rows[0]?.created_at, 4_102_444_800_000);
  assert.equal(raw.rows[0]?.n, 1);
  const [event] = await store.outbox.listForRegistration('reg-1');
  assert.equal(typeof event?.id, 'number');
  assert.equal(event?.createdAt, 4_102_444_800_000);
  assert.equal((await store.registrations.get('reg-1'))?.lastSeenAt, 4_102_444_800_123);
  assert.equal(await store.registrations.count(), 1);
});

forEachDatabase('store/transaction rolls back when its function throws', async (store) => {
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.tenants.create(exampleTenant());
      await tx.registrations.insert(exampleRegistration());
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await store.tenants.get('acme'), undefined);
  assert.equal(await store.registrations.count(), 0);
});

forEachDatabase('store/transaction commits and composes repository calls', async (store) => {
  const result = await store.transaction(async (tx) => {
    await tx.tenants.create(exampleTenant());
    await tx.registrations.insert(exampleRegistration());
    // enqueue opens its own transaction when called outside one; inside it must join this one.
    return tx.outbox.enqueue([{ registrationId: 'reg-1', kind: 'new_mail', dedupeKey: 'i1', payload: {} }]);
  });
  assert.equal(result, 1);
  assert.equal((await store.outbox.listForRegistration('reg-1')).length, 1);
});

forEachDatabase('store/conflict inside a transaction is a StoreConflictError', async (store) => {
  await store.tenants.create(exampleTenant());
  await assert.rejects(
    store.transaction((tx) => tx.tenants.create(exampleTenant({ apiTokenHash: 'b'.repeat(64) }))),
    StoreConflictError,
  );
});
