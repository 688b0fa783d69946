import type { Kysely } from 'kysely';
import type { DialectName } from '../migrations/columns.ts';
import type { Database } from '../schema.ts';

/** What every repository is built from; `db` may be a transaction. */
export interface RepositoryContext {
  db: Kysely<Database>;
  dialect: DialectName;
  /** Epoch ms; injectable so tests control time. */
  now: () => number;
}

/**
 * Runs `fn` in a transaction, or directly when `db` is one already (Kysely does not nest
 * transactions), so a repository call composes with `Store.transaction`.
 */
export function inTransaction<T>(db: Kysely<Database>, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

/** Splits a batch so one statement stays well under SQLite's and PostgreSQL's parameter limits. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
