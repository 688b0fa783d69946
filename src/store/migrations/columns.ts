/**
 * The few column types that differ between the dialects. Everything else is `text` or
 * `integer` on both.
 */
import { type ColumnDataType, type CreateTableBuilder, type Expression, sql } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

export interface ColumnTypes {
  /**
   * Text identifiers (and columns referencing them). PostgreSQL orders text by the database's
   * locale; the "C" collation orders by bytes as SQLite does, so keyset pagination and
   * `order by id` give the same order on both.
   */
  key: ColumnDataType | Expression<unknown>;
  /** Epoch milliseconds: beyond int4 on PostgreSQL, so bigint (parsed back to a number). */
  epochMs: ColumnDataType;
  /** Adds an auto-incrementing integer primary key named `id`. */
  addAutoId<T extends string>(table: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'id'>;
  /** Type of a column that references an auto id. */
  autoIdRef: ColumnDataType;
}

export function columnTypes(dialect: DialectName): ColumnTypes {
  if (dialect === 'postgres') {
    return {
      key: sql`text collate "C"`,
      epochMs: 'bigint',
      autoIdRef: 'bigint',
      addAutoId: (table) =>
        table.addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity()),
    };
  }
  return {
    key: 'text',
    epochMs: 'integer',
    autoIdRef: 'integer',
    // AUTOINCREMENT: ids never come back after deletes, so an id names one event forever.
    addAutoId: (table) => table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()),
  };
}
