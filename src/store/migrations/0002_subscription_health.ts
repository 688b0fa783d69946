/**
 * Subscription health (the watchdog): when a subscription went silent, and when its device was
 * last asked to check in. An index on (state, last_seen_at) lets the watchdog find silent
 * subscriptions among thousands without a table scan.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('registrations').addColumn('silent_since', t.epochMs).execute();
  await db.schema.alterTable('registrations').addColumn('checkin_sent_at', t.epochMs).execute();
  await db.schema
    .createIndex('registrations_health')
    .on('registrations')
    .columns(['state', 'last_seen_at'])
    .execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('registrations_health').execute();
  await db.schema.alterTable('registrations').dropColumn('checkin_sent_at').execute();
  await db.schema.alterTable('registrations').dropColumn('silent_since').execute();
}

export function subscriptionHealth(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t), down };
}
