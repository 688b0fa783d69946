/**
 * One RSA key pair per tenant: devices encrypt their mailbox credentials to its public half
 * (JWE RSA-OAEP-256 + A256GCM, DESIGN decision 1). Keys rotate; older keys keep decrypting
 * until retired. The private half is stored sealed under the master key.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { MasterKey } from './master-key.ts';

const generateKeyPairAsync = promisify(generateKeyPair);
const PURPOSE = 'tenant-private-key';

export interface TenantKeyMaterial {
  kid: string;
  publicJwk: JWK;
  privateKeyEnc: string;
}

export async function generateTenantKey(
  master: MasterKey,
  tenantId: string,
  modulusLength = 2048,
): Promise<TenantKeyMaterial> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength });
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  const publicJwk: JWK = { ...jwk, kid, alg: 'RSA-OAEP-256', use: 'enc' };
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' });
  // The tenant id is bound as additional data, so a sealed key cannot be moved to another tenant.
  return { kid, publicJwk, privateKeyEnc: master.seal(pem, PURPOSE, `${tenantId}/${kid}`) };
}

export function openTenantPrivateKey(
  master: MasterKey,
  tenantId: string,
  record: { kid: string; privateKeyEnc: string },
): KeyObject {
  const pem = master.open(record.privateKeyEnc, PURPOSE, `${tenantId}/${record.kid}`);
  return createPrivateKey(pem);
}

export function publicKeyFromJwk(jwk: JWK): KeyObject {
  return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
}
