/**
 * Provider-token signing keys. Apple's keys are P-256 (ES256) keys handed out once as an
 * `AuthKey_<KEYID>.p8` file (PKCS#8 PEM); APNs knows only the public half.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomInt } from 'node:crypto';
import { SimInputError } from './errors.ts';
import type { ApnsKey } from './types.ts';

export interface LoadedKey {
  keyId: string;
  teamId: string;
  /** The public key, for jose. */
  key: KeyObject;
  /** SPKI PEM of that public key. */
  publicKey: string;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A random 10-character [A-Z0-9] id, the shape of Apple's key and team ids. */
export function randomAppleId(): string {
  let id = '';
  for (let i = 0; i < 10; i++) id += ID_CHARS[randomInt(ID_CHARS.length)];
  return id;
}

function nonEmpty(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value !== value.trim()) {
    throw new SimInputError(`${name} must be a non-empty string without surrounding spaces`);
  }
  return value;
}

export function loadKey(key: ApnsKey): LoadedKey {
  if (typeof key !== 'object' || key === null) throw new SimInputError('a key is {keyId, teamId, publicKey}');
  const keyId = nonEmpty(key.keyId, 'keyId');
  const teamId = nonEmpty(key.teamId, 'teamId');
  if (typeof key.publicKey !== 'string') throw new SimInputError('publicKey must be a PEM string');
  let publicKey: KeyObject;
  try {
    // Derives the public key when given a private key (.p8).
    publicKey = createPublicKey(key.publicKey);
  } catch {
    throw new SimInputError('publicKey is not a PEM public key (SPKI) or private key (PKCS#8)');
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SimInputError('APNs signing keys are P-256 (ES256) EC keys');
  }
  return {
    keyId,
    teamId,
    key: publicKey,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function generateApnsKey(teamId?: string, keyId?: string): ApnsKey & { privateKey: string } {
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    keyId: keyId ?? randomAppleId(),
    teamId: teamId ?? randomAppleId(),
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
