/**
 * Provider tokens shared by every node on the database: one APNs provider token per (team, key)
 * for its whole life, so a restart or a second node reuses it instead of signing a new one that
 * APNs would refuse within 20 minutes of the previous one (429 TooManyProviderTokenUpdates).
 * The token is a bearer credential: the store keeps it sealed under the master key.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('provider_tokens')
    .addColumn('name', t.key, (c) => c.primaryKey())
    .addColumn('token_enc', 'text', (c) => c.notNull())
    .addColumn('issued_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_at', t.epochMs)
    .execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('provider_tokens').execute();
}

export function providerTokens(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t), down };
}
