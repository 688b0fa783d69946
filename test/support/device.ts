/** What a mail app does on its side: fetch the tenant key and encrypt its credentials to it. */
import { CompactEncrypt, importJWK, type JWK } from 'jose';

export interface PublicKeyAnswer {
  keyId: string;
  jwk: JWK;
}

export async function encryptCredentials(key: PublicKeyAnswer, payload: unknown): Promise<string> {
  const publicKey = await importJWK(key.jwk, 'RSA-OAEP-256');
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: key.keyId })
    .encrypt(publicKey);
}

/** A syntactically valid APNs device token (64 hex digits). */
export function apnsToken(seed: number): string {
  return seed.toString(16).padStart(8, '0').repeat(8);
}
