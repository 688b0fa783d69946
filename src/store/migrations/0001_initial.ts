/**
 * The initial schema. Timestamps are epoch milliseconds, booleans (none yet) would be 0/1;
 * enumerations are plain text checked by the TypeScript types, not CHECK constraints, because
 * SQLite can only change a constraint by rebuilding the table.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('tenants')
    .addColumn('id', t.key, (c) => c.primaryKey())
    .addColumn('api_token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('content_policy', 'text', (c) => c.notNull().defaultTo('full'))
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_at', t.epochMs, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('tenant_keys')
    .addColumn('kid', t.key, (c) => c.primaryKey())
    .addColumn('tenant_id', t.key, (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_key_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('retired_at', t.epochMs)
    .execute();
  await db.schema
    .createIndex('tenant_keys_tenant')
    .on('tenant_keys')
    .columns(['tenant_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('registrations')
    .addColumn('id', t.key, (c) => c.primaryKey())
    .addColumn('tenant_id', t.key, (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('push_token', 'text', (c) => c.notNull())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('email_hash', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('content_policy', 'text')
    .addColumn('mailbox_enc', 'text', (c) => c.notNull())
    .addColumn('account_enc', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull())
    .addColumn('next_account_enc', 'text')
    .addColumn('next_key_hash', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('subscription_id', 'text')
    .addColumn('watermark', 'text')
    .addColumn('status_frequency_minutes', 'integer', (c) => c.notNull())
    .addColumn('last_seen_at', t.epochMs)
    .addColumn('unread_count', 'integer')
    // The badge the device was last sent, so a change that leaves the count alone pushes nothing.
    .addColumn('badge_sent', 'integer')
    .addColumn('deactivated_reason', 'text')
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_at', t.epochMs, (c) => c.notNull())
    .addUniqueConstraint('registrations_identity', ['tenant_id', 'platform', 'push_token', 'email_hash'])
    .execute();
  await db.schema
    .createIndex('registrations_subscription')
    .on('registrations')
    .column('subscription_id')
    .execute();
  // listByState pages through one state in id order.
  await db.schema.createIndex('registrations_state').on('registrations').columns(['state', 'id']).execute();

  await t
    .addAutoId(db.schema.createTable('outbox'))
    .addColumn('registration_id', t.key, (c) =>
      c.notNull().references('registrations.id').onDelete('cascade'),
    )
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('item_id', 'text')
    .addColumn('dedupe_key', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('available_at', t.epochMs, (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', t.epochMs)
    .addColumn('last_error', 'text')
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    // A retried Exchange notification carries the same dedupe key: one row (DESIGN decision 2).
    .addUniqueConstraint('outbox_dedupe', ['registration_id', 'dedupe_key'])
    .execute();
  await db.schema.createIndex('outbox_due').on('outbox').columns(['status', 'available_at']).execute();

  await t
    .addAutoId(db.schema.createTable('deliveries'))
    .addColumn('registration_id', t.key, (c) =>
      c.notNull().references('registrations.id').onDelete('cascade'),
    )
    // Deliveries are history: they outlive the outbox row that caused them.
    .addColumn('outbox_id', t.autoIdRef, (c) => c.references('outbox.id').onDelete('set null'))
    .addColumn('item_id', 'text')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text')
    .addColumn('latency_ms', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    // NULLs are distinct in a unique constraint on both databases, so this is unique per
    // (registration, item) only where item_id is set, as a partial index would be.
    .addUniqueConstraint('deliveries_item', ['registration_id', 'item_id'])
    .execute();

  await db.schema
    .createTable('leases')
    .addColumn('name', t.key, (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('expires_at', t.epochMs, (c) => c.notNull())
    .execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['leases', 'deliveries', 'outbox', 'registrations', 'tenant_keys', 'tenants']) {
    await db.schema.dropTable(table).execute();
  }
}

export function initial(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t), down };
}
