/**
 * Microsoft Graph: the subscription of each `graph` registration (deleted with it), and Herald's
 * certificates for rich notifications (private keys sealed under the master key by the caller).
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('graph_subscriptions')
    .addColumn('registration_id', t.key, (c) =>
      c.primaryKey().references('registrations.id').onDelete('cascade'),
    )
    // NULLs are distinct in a unique constraint on both databases: many rows may be `creating`.
    .addColumn('subscription_id', 'text', (c) => c.unique())
    .addColumn('entra_tenant_id', 'text', (c) => c.notNull())
    .addColumn('auth', 'text', (c) => c.notNull())
    .addColumn('client_state_hash', 'text', (c) => c.notNull())
    .addColumn('next_client_state_hash', 'text')
    .addColumn('application_id', 'text')
    .addColumn('include_resource_data', 'integer', (c) => c.notNull())
    .addColumn('encryption_certificate_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('expires_at', t.epochMs)
    .addColumn('renew_at', t.epochMs)
    .addColumn('renewal_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_lifecycle_event', 'text')
    .addColumn('last_lifecycle_at', t.epochMs)
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_at', t.epochMs, (c) => c.notNull())
    .execute();
  // The renewal job's query: due first.
  await db.schema
    .createIndex('graph_subscriptions_due')
    .on('graph_subscriptions')
    .columns(['renew_at', 'registration_id'])
    .execute();

  await db.schema
    .createTable('graph_encryption_keys')
    .addColumn('id', t.key, (c) => c.primaryKey())
    .addColumn('certificate', 'text', (c) => c.notNull())
    .addColumn('thumbprint', 'text', (c) => c.notNull())
    .addColumn('private_key_enc', 'text', (c) => c.notNull())
    .addColumn('not_after', t.epochMs, (c) => c.notNull())
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('retired_at', t.epochMs)
    .execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('graph_encryption_keys').execute();
  await db.schema.dropTable('graph_subscriptions').execute();
}

export function graph(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t), down };
}
