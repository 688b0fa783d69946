/**
 * Kysely's SqliteDialect on Node's built-in `node:sqlite`. Kysely expects a better-sqlite3-like
 * database (prepare() → statement with `reader`, `all`, `run`, `iterate` taking an array);
 * `StatementSync` takes spread parameters and tells a reader by its result columns.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
  type SqliteStatement,
} from 'kysely';

// Prepared statements are reused: the same few dozen queries run all day.
const STATEMENT_CACHE_SIZE = 200;

function toSqlite(value: unknown): SQLInputValue {
  if (value === undefined || value === null) return null;
  // node:sqlite refuses booleans; the schema stores them as 0/1.
  if (typeof value === 'boolean') return value ? 1 : 0;
  // Times are epoch milliseconds throughout the store.
  if (value instanceof Date) return value.getTime();
  return value as SQLInputValue;
}

class StatementAdapter implements SqliteStatement {
  readonly reader: boolean;
  readonly #statement: StatementSync;

  constructor(statement: StatementSync) {
    this.#statement = statement;
    // `returning` makes an insert/update a reader too: all() executes it and yields the rows.
    this.reader = statement.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#statement.all(...parameters.map(toSqlite));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#statement.run(...parameters.map(toSqlite));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#statement.iterate(...parameters.map(toSqlite));
  }
}

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, StatementAdapter>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  prepare(sql: string): SqliteStatement {
    let statement = this.#cache.get(sql);
    if (statement === undefined) {
      statement = new StatementAdapter(this.#db.prepare(sql));
      if (this.#cache.size >= STATEMENT_CACHE_SIZE) {
        // Map iteration order is insertion order: drop the oldest entry.
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

/**
 * `begin immediate` takes the write lock at the start, so a second process waits on
 * busy_timeout instead of failing with SQLITE_BUSY when a deferred transaction tries to
 * upgrade its read lock (https://www.sqlite.org/lang_transaction.html).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class NodeSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;

  constructor(database: SqliteDatabase) {
    super({ database });
    this.#database = database;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

export interface SqliteOpenResult {
  dialect: SqliteDialect;
  journalMode: string;
}

/** `path` is a file path or `:memory:`; the parent directory of a file is created. */
export function openSqlite(path: string): SqliteOpenResult {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  // WAL lets readers run during a write; NORMAL is durable across application crashes in WAL
  // mode and loses at most the last transactions on power loss
  // (https://www.sqlite.org/pragma.html#pragma_synchronous).
  const mode = db.prepare('pragma journal_mode = wal').get() as { journal_mode: string } | undefined;
  db.exec('pragma foreign_keys = on');
  db.exec('pragma busy_timeout = 5000');
  db.exec('pragma synchronous = normal');
  return {
    dialect: new NodeSqliteDialect(new NodeSqliteDatabase(db)),
    journalMode: mode?.journal_mode ?? '',
  };
}
