/**
 * Runs a test on both databases (DESIGN decision 3). Other suites reuse this:
 *
 *   forEachDatabase('registrations/unique identity', async (store, { clock }) => { ... });
 *
 * registers "registrations/unique identity [sqlite]" and "... [postgres]". Each run gets a
 * fresh migrated store: SQLite in a temporary file (so WAL is exercised), PostgreSQL in a
 * random schema of HERALD_TEST_POSTGRES that is dropped afterwards. When PostgreSQL cannot be
 * reached the postgres run is skipped with the reason, except under CI, where it fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { type DialectName, openStore, type Store, type StoreOptions } from './index.ts';
import type { NewRegistration, NewTenant } from './types.ts';

export const POSTGRES_TEST_URL =
  process.env.HERALD_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A clock the test moves by hand; the store stamps created_at/updated_at with it. */
export class ManualClock {
  #ms: number;
  constructor(start = 1_700_000_000_000) {
    this.#ms = start;
  }
  now = (): number => this.#ms;
  set(ms: number): void {
    this.#ms = ms;
  }
  advance(ms: number): number {
    this.#ms += ms;
    return this.#ms;
  }
}

export interface TestDatabase {
  name: DialectName;
  /** undefined when usable, else why the run is skipped; rejects under CI when unreachable. */
  unavailable(): Promise<string | undefined>;
  /** A fresh, migrated store; its close() also deletes the database (file or schema). */
  open(options?: StoreOptions): Promise<Store>;
  /**
   * A fresh, empty database for a server under test to open by URL (it migrates it itself).
   * `url` is undefined for SQLite: the server's embedded default (a file in its data dir) is the
   * SQLite case. `drop()` deletes the PostgreSQL schema.
   */
  forServer(): Promise<{ url: string | undefined; drop(): Promise<void> }>;
}

let postgresProbe: Promise<string | undefined> | undefined;

function probePostgres(): Promise<string | undefined> {
  postgresProbe ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_TEST_URL, connectionTimeoutMillis: 3000 });
    // A refused connection also emits 'error' on the client; connect() reports it.
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return undefined;
    } catch (error) {
      const why = `PostgreSQL unreachable at ${POSTGRES_TEST_URL}: ${(error as Error).message}`;
      if (process.env.CI) throw new Error(`${why} (CI is set, so the PostgreSQL variant must run)`);
      return `${why}; point HERALD_TEST_POSTGRES at a reachable server to run the PostgreSQL variant`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return postgresProbe;
}

function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('schema', schema);
  return parsed.toString();
}

export function databases(): TestDatabase[] {
  return [
    {
      name: 'sqlite',
      unavailable: async () => undefined,
      forServer: async () => ({ url: undefined, drop: async () => {} }),
      async open(options) {
        const dir = mkdtempSync(join(tmpdir(), 'herald-store-'));
        const store = await openStore(`sqlite:${join(dir, 'herald.db')}`, options);
        await store.migrate();
        return {
          ...store,
          async close() {
            await store.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
    {
      name: 'postgres',
      unavailable: probePostgres,
      async forServer() {
        const schema = `herald_test_${randomBytes(6).toString('hex')}`;
        return {
          url: withSchema(POSTGRES_TEST_URL, schema),
          async drop() {
            const client = new pg.Client({ connectionString: POSTGRES_TEST_URL });
            await client.connect();
            try {
              await client.query(`drop schema if exists "${schema}" cascade`);
            } finally {
              await client.end();
            }
          },
        };
      },
      async open(options) {
        const schema = `herald_test_${randomBytes(6).toString('hex')}`;
        const store = await openStore(withSchema(POSTGRES_TEST_URL, schema), { poolSize: 4, ...options });
        await store.migrate();
        return {
          ...store,
          async close() {
            try {
              await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(store.db);
            } finally {
              await store.close();
            }
          },
        };
      },
    },
  ];
}

export interface DatabaseTestContext {
  t: TestContext;
  clock: ManualClock;
  database: TestDatabase;
}

/** Registers `name [sqlite]` and `name [postgres]`, each with a fresh store. */
export function forEachDatabase(
  name: string,
  fn: (store: Store, context: DatabaseTestContext) => Promise<void> | void,
): void {
  for (const database of databases()) {
    test(`${name} [${database.name}]`, async (t) => {
      const reason = await database.unavailable();
      if (reason !== undefined) {
        t.skip(reason);
        return;
      }
      const clock = new ManualClock();
      const store = await database.open({ now: clock.now });
      try {
        await fn(store, { t, clock, database });
      } finally {
        await store.close();
      }
    });
  }
}

// ---------------------------------------------------------------- fixtures

export function exampleTenant(overrides: Partial<NewTenant> = {}): NewTenant {
  return { id: 'acme', apiTokenHash: 'a'.repeat(64), contentPolicy: 'full', ...overrides };
}

export function exampleRegistration(overrides: Partial<NewRegistration> = {}): NewRegistration {
  return {
    id: 'reg-1',
    tenantId: 'acme',
    platform: 'ios',
    pushToken: 'push-token-1',
    appId: 'com.example.mail',
    environment: 'production',
    emailHash: 'e'.repeat(64),
    provider: 'ews',
    mailboxEnc: 'sealed-mailbox',
    accountEnc: 'ciphertext',
    keyHash: 'k'.repeat(64),
    statusFrequencyMinutes: 30,
    ...overrides,
  };
}
