/** Small primitives for identifiers and tokens: random ids, hashes, constant-time compare. */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256Hex(value: Buffer | string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Compare two hex digests without leaking where they differ. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/**
 * API tokens: 256 random bits, shown once; only their SHA-256 is stored. A fast hash is right
 * here (unlike for passwords) because the token has full entropy; lookups go by the digest and
 * the digest is then compared in constant time.
 */
export function newApiToken(): string {
  return `hrd_${randomBytes(32).toString('base64url')}`;
}

export function hashApiToken(token: string): string {
  return sha256Hex(`herald-api-token:${token}`);
}

/**
 * Keyed hash of an identifier that need not be readable (mailbox address, ActiveSync device id,
 * DESIGN decision 5): HMAC-SHA256 under a key derived from the master key, over the normalised
 * value, so equal addresses match but the database alone cannot be dictionary-attacked.
 */
export function identifierHash(key: Buffer, kind: string, value: string): string {
  return createHmac('sha256', key).update(`${kind}:${value.trim().toLowerCase()}`).digest('hex');
}
