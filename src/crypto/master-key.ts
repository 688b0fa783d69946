/**
 * Herald's master key: 32 random bytes in a file beside the database (never in it). It wraps
 * tenant private keys and outbox data keys, and derives the key of the identifier hashes, so
 * that a copy of the database alone reveals nothing (DESIGN decision 1).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const KEY_BYTES = 32;
const FORMAT = 'herald-master-key-v1';

export interface MasterKey {
  /** Encrypt with a key derived for `purpose`; `aad` binds the ciphertext to its context. */
  seal(plaintext: Buffer | string, purpose: string, aad?: string): string;
  open(sealed: string, purpose: string, aad?: string): Buffer;
  /** A 32-byte subkey for `purpose` (HKDF-SHA256). */
  derive(purpose: string): Buffer;
}

/** Load the master key from `file`, creating it (mode 0600) on first start. */
export function loadOrCreateMasterKey(file: string): { key: MasterKey; created: boolean } {
  if (existsSync(file)) {
    return { key: masterKeyFromBytes(parseKeyFile(readFileSync(file, 'utf8'), file)), created: false };
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const bytes = randomBytes(KEY_BYTES);
  // 'wx' refuses to overwrite a key another process created in the meantime.
  writeFileSync(file, `${FORMAT}:${bytes.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return { key: masterKeyFromBytes(bytes), created: true };
}

function parseKeyFile(text: string, file: string): Buffer {
  const [format, value] = text.trim().split(':');
  const bytes = value ? Buffer.from(value, 'base64url') : Buffer.alloc(0);
  if (format !== FORMAT || bytes.length !== KEY_BYTES) {
    throw new Error(`${file} is not a Herald master key (expected "${FORMAT}:<32 bytes base64url>")`);
  }
  return bytes;
}

export function masterKeyFromBytes(bytes: Buffer): MasterKey {
  if (bytes.length !== KEY_BYTES) throw new Error('master key must be 32 bytes');
  const derived = new Map<string, Buffer>();
  const derive = (purpose: string): Buffer => {
    let key = derived.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', bytes, Buffer.alloc(0), `herald/${purpose}`, KEY_BYTES));
      derived.set(purpose, key);
    }
    return key;
  };
  return {
    derive,
    seal: (plaintext, purpose, aad) => sealWithKey(derive(purpose), plaintext, aad),
    open: (sealed, purpose, aad) => openWithKey(derive(purpose), sealed, aad),
  };
}

const SEALED_PREFIX = 'v1';

/** AES-256-GCM: `v1.<iv>.<ciphertext>.<tag>`, each base64url. */
export function sealWithKey(key: Buffer, plaintext: Buffer | string, aad?: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [SEALED_PREFIX, iv, ciphertext, cipher.getAuthTag()]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

export function openWithKey(key: Buffer, sealed: string, aad?: string): Buffer {
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== SEALED_PREFIX) throw new Error('not a sealed value');
  const [iv, ciphertext, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', key, iv!);
  if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag!);
  return Buffer.concat([decipher.update(ciphertext!), decipher.final()]);
}
