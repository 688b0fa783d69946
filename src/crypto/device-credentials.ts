/**
 * The credentials a device sends: a compact JWE (RSA-OAEP-256 + A256GCM) to its tenant's public
 * key. Herald decrypts it once, in memory, and re-encrypts the account under a fresh
 * per-registration data key whose only copy outside memory is the callback URL given to Exchange.
 */
import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { openWithKey, sealWithKey } from './master-key.ts';
import { sha256Hex } from './secrets.ts';

export class CredentialsDecryptError extends Error {
  override readonly name = 'CredentialsDecryptError';
}

/** Candidate keys: the one named by `kid`, or every active key (newest first) when none is named. */
export type TenantKeyResolver = (kid: string | undefined) => Promise<KeyObject[]>;

const MAX_JWE_LENGTH = 64 * 1024;

export async function decryptDeviceJwe(jwe: string, resolveKeys: TenantKeyResolver): Promise<Uint8Array> {
  if (jwe.length > MAX_JWE_LENGTH) throw new CredentialsDecryptError('credentials JWE is too large');
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(jwe);
    if (header.alg !== 'RSA-OAEP-256' || header.enc !== 'A256GCM') {
      throw new CredentialsDecryptError('credentials JWE must use alg RSA-OAEP-256 and enc A256GCM');
    }
    kid = typeof header.kid === 'string' ? header.kid : undefined;
  } catch (error) {
    if (error instanceof CredentialsDecryptError) throw error;
    throw new CredentialsDecryptError('credentials is not a compact JWE', { cause: error });
  }
  const keys = await resolveKeys(kid);
  if (keys.length === 0) throw new CredentialsDecryptError('credentials JWE names an unknown or retired key');
  for (const key of keys) {
    try {
      const { plaintext } = await compactDecrypt(jwe, key, {
        keyManagementAlgorithms: ['RSA-OAEP-256'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return plaintext;
    } catch {
      // Try the next active key: a device may have cached an older public key without its kid.
    }
  }
  throw new CredentialsDecryptError('credentials JWE could not be decrypted with the tenant key');
}

/** A per-registration data key: 256 random bits, base64url in the callback URL. */
export function newDataKey(): { key: Buffer; encoded: string; hash: string } {
  const key = randomBytes(32);
  return { key, encoded: key.toString('base64url'), hash: dataKeyHash(key) };
}

export function decodeDataKey(encoded: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]{43}$/.test(encoded)) return undefined;
  const key = Buffer.from(encoded, 'base64url');
  return key.length === 32 ? key : undefined;
}

export function dataKeyHash(key: Buffer): string {
  return sha256Hex(Buffer.concat([Buffer.from('herald-data-key:'), key]));
}

/** Seal the account (address, EWS URL, credentials) for one registration; bound to its id. */
export function sealAccount(key: Buffer, registrationId: string, account: unknown): string {
  return sealWithKey(key, JSON.stringify(account), `registration:${registrationId}`);
}

export function openAccount(key: Buffer, registrationId: string, sealed: string): unknown {
  return JSON.parse(openWithKey(key, sealed, `registration:${registrationId}`).toString('utf8'));
}
