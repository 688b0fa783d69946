/**
 * PostgreSQL through `pg`. int8 (count(*), bigint timestamps, identity ids) comes back as a
 * string by default because it may exceed 2^53; our int8 values are epoch milliseconds and
 * row ids, so they are parsed to numbers, and a value that would lose precision is an error.
 * The parser is set per pool, not on pg's global `types`, so other pg users are unaffected.
 */
import { PostgresDialect } from 'kysely';
import pg from 'pg';

const INT8_OID = 20;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} does not fit a JavaScript number`);
  return n;
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export interface PostgresTarget {
  /** The URL without Herald's own `schema` parameter. */
  connectionString: string;
  schema: string | undefined;
}

/** Splits `?schema=NAME` off a postgres URL; the name must be a plain identifier. */
export function parsePostgresUrl(url: string): PostgresTarget {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`Invalid PostgreSQL schema name ${JSON.stringify(schema)}: use [a-z_][a-z0-9_]*`);
  }
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

export interface PostgresOpenResult {
  dialect: PostgresDialect;
  pool: pg.Pool;
  schema: string | undefined;
}

export function openPostgres(
  url: string,
  options: { max?: number; log?: (msg: string) => void } = {},
): PostgresOpenResult {
  const { connectionString, schema } = parsePostgresUrl(url);
  const pool = new pg.Pool({
    connectionString,
    types,
    max: options.max ?? 10,
    // Every pooled connection resolves unqualified table names in the chosen schema.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle client losing its server (restart, failover) emits 'error' on the pool; without a
  // listener that would crash the process. The next query gets a fresh connection.
  pool.on('error', (error) => options.log?.(`postgres: idle connection error: ${error.message}`));
  return { dialect: new PostgresDialect({ pool }), pool, schema };
}
