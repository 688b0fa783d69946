/**
 * Herald's certificate authority as the integration tests drive it: a running Herald with small
 * CA keys (creating an RSA 4096 root takes seconds; 3072/2048 is what the pki unit tests use), a
 * client of the PKI admin API (`/api/pki/v1`, admin token) and the real `herald ca` CLI aimed at
 * the same data directory and database.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { RunningHerald } from './herald.ts';

const run = promisify(execFile);
const HERALD = resolve(import.meta.dirname, '../../bin/herald');

/** The `pki:` section for tests: the smallest keys the CA accepts for its root and issuing CA. */
export const TEST_PKI_CONFIG = { rootKeyBits: 3072, issuingKeyBits: 2048 } as const;

export interface PkiAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown> & { error?: { code: string; message: string } };
}

export type PkiAdminCall = (
  method: string,
  path: string,
  body?: unknown,
  token?: string | null,
) => Promise<PkiAnswer>;

export function adminTokenOf(herald: RunningHerald): string {
  return readFileSync(join(herald.dataDir, 'admin.token'), 'utf8').trim();
}

/** `/api/pki/v1{path}` with the admin token (another token, or none with `null`). */
export function pkiAdmin(herald: RunningHerald): PkiAdminCall {
  const adminToken = adminTokenOf(herald);
  return async (method, path, body, token = adminToken) => {
    const response = await fetch(`${herald.url}/api/pki/v1${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      text,
      json: text ? (JSON.parse(text) as PkiAnswer['json']) : {},
    };
  };
}

/** The real `bin/herald ca ...` on the server's data directory, database and publicUrl. */
export function heraldCa(herald: RunningHerald, database: string | undefined) {
  return (...args: string[]) =>
    run(HERALD, ['ca', ...args], {
      cwd: herald.dataDir,
      env: {
        ...process.env,
        HERALD_CONFIG: '',
        HERALD_DATA_DIR: herald.dataDir,
        HERALD_PUBLIC_URL: herald.url,
        HERALD_PKI_ROOT_KEY_BITS: String(TEST_PKI_CONFIG.rootKeyBits),
        HERALD_PKI_ISSUING_KEY_BITS: String(TEST_PKI_CONFIG.issuingKeyBits),
        ...(database ? { HERALD_DATABASE: database } : {}),
      },
    });
}
