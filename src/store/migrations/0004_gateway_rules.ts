/**
 * Compliance rules of the secure email gateway (operator.md, Gateway section): allow or block
 * a device by ActiveSync DeviceId, DeviceType, user and User-Agent pattern, each with a reason.
 * The gateway reads the whole list, in priority order, every few seconds; the index keeps that
 * read an ordered scan.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('gateway_rules')
    .addColumn('id', t.key, (c) => c.primaryKey())
    // 'allow' | 'block', checked by the types (see 0001 on why no CHECK constraints).
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('priority', 'integer', (c) => c.notNull())
    // The matchers; null: not part of the rule. At least one is set (checked by the repository).
    .addColumn('device_id', 'text')
    .addColumn('device_type', 'text')
    .addColumn('user_name', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_at', t.epochMs, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('gateway_rules_priority')
    .on('gateway_rules')
    .columns(['priority', 'created_at'])
    .execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('gateway_rules').execute();
}

export function gatewayRules(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t), down };
}
