/**
 * Keys of the CA and of server-generated device certificates: made and held as node:crypto
 * KeyObjects (SCEP needs the issuing CA's key for RSA PKCS #1 v1.5 decryption, which WebCrypto
 * lacks), handed to @peculiar/x509 as non-extractable WebCrypto keys for signing.
 */
import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { PkiError } from './errors.ts';
import type { CryptoKey } from './x509.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export async function generateRsaKey(bits: number): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return privateKey;
}

export interface SigningKey {
  key: CryptoKey;
  /** What @peculiar/x509 signs certificates and CRLs with. */
  algorithm: { name: string; hash: string };
}

/** sha256WithRSAEncryption for RSA; ECDSA with the curve's matching hash. */
export async function signingKey(privateKey: KeyObject): Promise<SigningKey> {
  const type = privateKey.asymmetricKeyType;
  if (type === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await privateKey.toCryptoKey(algorithm, false, ['sign']), algorithm };
  }
  if (type === 'ec') {
    const curve = privateKey.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (namedCurve) {
      const hash = namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384';
      const key = await privateKey.toCryptoKey({ name: 'ECDSA', namedCurve }, false, ['sign']);
      return { key, algorithm: { name: 'ECDSA', hash } };
    }
  }
  throw new PkiError(
    'pki_key_rejected',
    `A CA key must be RSA or ECDSA on P-256 or P-384 (this one is ${describeKey(privateKey)})`,
  );
}

export function pkcs8Der(privateKey: KeyObject): Buffer {
  return privateKey.export({ type: 'pkcs8', format: 'der' });
}

export function spkiDer(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
}

/** e.g. `RSA 2048`, `EC prime256v1`. */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details?.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${details?.namedCurve ?? '?'}`;
  return key.asymmetricKeyType?.toUpperCase() ?? 'unknown';
}
