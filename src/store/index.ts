/**
 * The store: one Kysely query layer over SQLite (embedded default, WAL) and PostgreSQL, one
 * set of migrations, one repository per aggregate (DESIGN decision 3). Nothing outside
 * store/ writes SQL; dialect differences stay in this folder.
 */
import { resolve } from 'node:path';
import { Kysely, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import type { DialectName } from './migrations/columns.ts';
import { migrationProvider } from './migrations/index.ts';
import { openPostgres } from './postgres.ts';
import { inTransaction, type RepositoryContext } from './repositories/context.ts';
import { deliveryRepository } from './repositories/deliveries.ts';
import { gatewayRuleRepository } from './repositories/gateway-rules.ts';
import {
  graphDeletionRepository,
  graphEncryptionKeyRepository,
  graphSubscriptionRepository,
} from './repositories/graph.ts';
import { leaseRepository } from './repositories/leases.ts';
import { outboxRepository } from './repositories/outbox.ts';
import { pkiRepositories } from './repositories/pki-repositories.ts';
import { providerTokenRepository } from './repositories/provider-tokens.ts';
import { registrationRepository } from './repositories/registrations.ts';
import { tenantKeyRepository } from './repositories/tenant-keys.ts';
import { tenantRepository } from './repositories/tenants.ts';
import type { Database } from './schema.ts';
import { openSqlite } from './sqlite.ts';
import type {
  DeliveryRepository,
  GatewayRuleRepository,
  GraphDeletionRepository,
  GraphEncryptionKeyRepository,
  GraphSubscriptionRepository,
  LeaseRepository,
  OutboxRepository,
  PkiRepositories,
  ProviderTokenRepository,
  RegistrationRepository,
  TenantKeyRepository,
  TenantRepository,
} from './types.ts';

export { StoreConflictError, StoreError, type StoreErrorCode, StoreInvalidError } from './errors.ts';
export type { DialectName } from './migrations/columns.ts';
export { USER_AGENT_PATTERN_MAX } from './repositories/gateway-rules.ts';
export { TENANT_ID } from './repositories/tenants.ts';
export type { Database } from './schema.ts';
export type * from './types.ts';

export interface Repositories {
  readonly tenants: TenantRepository;
  readonly tenantKeys: TenantKeyRepository;
  readonly registrations: RegistrationRepository;
  readonly outbox: OutboxRepository;
  readonly deliveries: DeliveryRepository;
  readonly leases: LeaseRepository;
  readonly providerTokens: ProviderTokenRepository;
  readonly gatewayRules: GatewayRuleRepository;
  /** The certificate authority: authorities, templates, certificates, CRLs, challenges. */
  readonly pki: PkiRepositories;
  /** Microsoft Graph: one subscription per `graph` registration, and Herald's encryption keys. */
  readonly graphSubscriptions: GraphSubscriptionRepository;
  readonly graphEncryptionKeys: GraphEncryptionKeyRepository;
  /** Graph subscriptions of deleted registrations whose DELETE is still to succeed. */
  readonly graphDeletions: GraphDeletionRepository;
}

/** Repositories bound to one transaction. */
export interface TransactionScope extends Repositories {
  readonly db: Kysely<Database>;
}

export interface Store extends Repositories {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /** Applies pending migrations; a no-op when the schema is current. */
  migrate(): Promise<void>;
  /** `select 1`: false when the database does not answer. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: TransactionScope) => Promise<T>): Promise<T>;
}

export interface StoreOptions {
  log?: (msg: string) => void;
  /** Clock for created_at/updated_at, epoch ms; tests inject one. */
  now?: () => number;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
}

function repositories(ctx: RepositoryContext): Repositories {
  return {
    tenants: tenantRepository(ctx),
    tenantKeys: tenantKeyRepository(ctx),
    registrations: registrationRepository(ctx),
    outbox: outboxRepository(ctx),
    deliveries: deliveryRepository(ctx),
    leases: leaseRepository(ctx),
    providerTokens: providerTokenRepository(ctx),
    gatewayRules: gatewayRuleRepository(ctx),
    pki: pkiRepositories(ctx),
    graphSubscriptions: graphSubscriptionRepository(ctx),
    graphEncryptionKeys: graphEncryptionKeyRepository(ctx),
    graphDeletions: graphDeletionRepository(ctx),
  };
}

/** The URL as it may be logged: no password. */
function redact(url: URL): string {
  const copy = new URL(url);
  if (copy.password) copy.password = '***';
  return copy.toString();
}

interface Opened {
  db: Kysely<Database>;
  dialect: DialectName;
  /** Schema the migration tables live in (PostgreSQL only). */
  schema: () => Promise<string | undefined>;
}

async function connect(url: string, options: StoreOptions): Promise<Opened> {
  const log = options.log ?? (() => {});
  if (url.startsWith('sqlite:')) {
    // sqlite:./relative (to cwd), sqlite:/absolute, sqlite:///absolute, sqlite::memory:
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new Error(`Store URL ${url} names no SQLite file`);
    if (path !== ':memory:') path = resolve(path);
    const { dialect, journalMode } = openSqlite(path);
    log(`store: sqlite ${path} (journal_mode=${journalMode})`);
    return { db: new Kysely<Database>({ dialect }), dialect: 'sqlite', schema: async () => undefined };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { dialect, schema } = openPostgres(url, { max: options.poolSize, log });
    const db = new Kysely<Database>({ dialect });
    try {
      if (schema !== undefined) {
        // The name was checked against [a-z_][a-z0-9_]* in openPostgres, so quoting is safe.
        await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
      }
    } catch (error) {
      // Two nodes creating the schema at once: PostgreSQL may report a duplicate although
      // IF NOT EXISTS was given (23505 on the catalog, or 42P06 duplicate_schema).
      const code = (error as { code?: string }).code;
      if (code !== '23505' && code !== '42P06') {
        await db.destroy();
        throw error;
      }
    }
    log(`store: postgres ${redact(new URL(url))}`);
    return {
      db,
      dialect: 'postgres',
      schema: async () =>
        schema ?? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s,
    };
  }
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? '(none)';
  throw new Error(
    `Unsupported store URL scheme ${scheme}: use sqlite:PATH, sqlite::memory: or postgres://user@host:port/db`,
  );
}

/**
 * Seen while another session creates, alters or drops its own schema: 42703 undefined_column,
 * 42P01 undefined_table, 3F000 invalid_schema_name, XX000 "cache lookup failed".
 */
function isCatalogRace(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === '42703' || code === '42P01' || code === '3F000') return true;
  return code === 'XX000' && typeof message === 'string' && message.includes('cache lookup failed');
}

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const log = options.log ?? (() => {});
  const { db, dialect, schema } = await connect(url, options);
  const now = options.now ?? Date.now;

  return {
    db,
    dialect,
    ...repositories({ db, dialect, now }),

    async migrate() {
      const migrator = new Migrator({
        db,
        provider: migrationProvider(dialect),
        // Kysely looks for its migration tables in every schema unless told which one; with
        // several Herald schemas in one database it must be ours.
        migrationTableSchema: await schema(),
      });
      let { error, results } = await migrator.migrateToLatest();
      // Kysely's migrator looks for its tables by introspecting every schema of the database;
      // DDL running at that moment in another schema (another Herald sharing the database with
      // ?schema=, a test run) can make that catalog query fail with "does not exist". Nothing was
      // changed then, so it is safe to try again, a bounded number of times.
      for (let retry = 0; retry < 3 && error && isCatalogRace(error); retry++) {
        log(`store: migration retried after a concurrent schema change elsewhere in the database`);
        ({ error, results } = await migrator.migrateToLatest());
      }
      for (const result of results ?? []) {
        log(
          `store: migration ${result.migrationName} ${result.status === 'Success' ? 'applied' : result.status}`,
        );
      }
      if (error) throw new Error('Store migration failed', { cause: error });
    },

    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },

    async close() {
      await db.destroy();
    },

    transaction<T>(fn: (tx: TransactionScope) => Promise<T>): Promise<T> {
      return inTransaction(db, (tx) => fn({ db: tx, ...repositories({ db: tx, dialect, now }) }));
    },
  };
}
