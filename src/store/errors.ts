/**
 * Errors the store raises for conditions a caller handles (a duplicate, an invalid value).
 * Driver errors are wrapped so callers never match on SQLite or PostgreSQL error text.
 */

export type StoreErrorCode = 'conflict' | 'invalid';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** A unique key (primary key or unique index) exists already. */
export class StoreConflictError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
    this.name = 'StoreConflictError';
  }
}

/** A value the store refuses before it reaches the database (e.g. a malformed tenant id). */
export class StoreInvalidError extends StoreError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'StoreInvalidError';
  }
}

// SQLite extended result codes SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY
// (https://www.sqlite.org/rescode.html); node:sqlite exposes them as `errcode`.
const SQLITE_UNIQUE_CODES = new Set([2067, 1555]);
// PostgreSQL SQLSTATE unique_violation (Appendix A of the PostgreSQL manual).
const PG_UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; errcode?: unknown };
  return (
    e.code === PG_UNIQUE_VIOLATION || (typeof e.errcode === 'number' && SQLITE_UNIQUE_CODES.has(e.errcode))
  );
}

/** Runs `fn`, turning a unique violation into a StoreConflictError with `message`. */
export async function conflictAs<T>(message: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isUniqueViolation(error)) throw new StoreConflictError(message, { cause: error });
    throw error;
  }
}
