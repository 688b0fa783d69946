/**
 * Graph subscriptions still to delete: an app-only registration's subscription whose DELETE failed
 * when the registration went (Graph unreachable, throttled). The renewal job tries again until it
 * succeeds or the subscription has expired by itself. Not tied to a registration: it is gone.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('graph_deletions')
    .addColumn('subscription_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', t.epochMs, (c) => c.notNull())
    .addColumn('expires_at', t.epochMs)
    .addColumn('last_error', 'text')
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('graph_deletions_due')
    .on('graph_deletions')
    .columns(['next_attempt_at', 'subscription_id'])
    .execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('graph_deletions').execute();
}

export function graphDeletions(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t), down };
}
