/**
 * Rich notifications: the resource data Graph encrypts for Herald's own certificate, as
 * "Set up change notifications that include resource data" (Decrypting resource data) and the
 * changeNotificationEncryptedContent resource type document it:
 * 1. pick the private key by encryptionCertificateId (and thumbprint) — a key ring keeps the
 *    previous certificate so notifications encrypted before a rotation still decrypt;
 * 2. dataKey: RSA/ECB/OAEPWithSHA1AndMGF1Padding (OAEP, SHA-1) → the symmetric key;
 * 3. HMAC-SHA256(key, base64-decoded data) must equal dataSignature (compared in constant time)
 *    BEFORE anything is decrypted; otherwise the payload is treated as tampered with;
 * 4. data: AES-CBC (AES-256 for the 32-byte key), PKCS7 padding, IV = the key's first 16 bytes;
 * 5. the plaintext is the message's JSON.
 * Also `createEncryptionCertificate()`: a self-signed RSA certificate for `encryptionCertificate`
 * (Graph does not check the issuer and uses only the public key; RSA 2048 to 4096 bits).
 */
import 'reflect-metadata';
import {
  constants,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  type KeyObject,
  privateDecrypt,
  randomUUID,
  timingSafeEqual,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { type GraphMessage, messageSchema, toGraphMessage } from './client.ts';
import { GraphNotificationError } from './errors.ts';
import type { EncryptedContent } from './notifications.ts';

export interface EncryptionKey {
  /** The encryptionCertificateId given to Graph (≤ 128 characters). */
  id: string;
  /** SHA-1 thumbprint, hex (Graph's encryptionCertificateThumbprint); checked when both are known. */
  thumbprint?: string;
  privateKey: KeyObject | string;
}

/** Private keys by certificate id: the current one and those still in flight after rotations. */
export class EncryptionKeyRing {
  readonly #keys = new Map<string, { thumbprint?: string; key: KeyObject }>();

  constructor(keys: EncryptionKey[] = []) {
    for (const key of keys) this.add(key);
  }

  add(entry: EncryptionKey): void {
    if (typeof entry.id !== 'string' || !entry.id || entry.id.length > 128) {
      throw new TypeError('the certificate id must be 1 to 128 characters');
    }
    const key = typeof entry.privateKey === 'string' ? createPrivateKey(entry.privateKey) : entry.privateKey;
    if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa')
      throw new TypeError('an RSA private key is required');
    this.#keys.set(entry.id, { thumbprint: entry.thumbprint?.toUpperCase(), key });
  }

  remove(id: string): void {
    this.#keys.delete(id);
  }

  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** The key for an encryptedContent, or undefined. */
  find(id: string, thumbprint: string | undefined): KeyObject | undefined {
    const entry = this.#keys.get(id);
    if (!entry) return undefined;
    if (entry.thumbprint && thumbprint && entry.thumbprint !== thumbprint.toUpperCase()) return undefined;
    return entry.key;
  }
}

export interface DecryptOptions {
  /** Largest plaintext accepted, bytes (default 1 MiB). */
  maxBytes?: number;
}

/** Decrypt an encryptedContent to its JSON object, verifying the signature first. */
export function decryptContent(
  content: EncryptedContent,
  ring: EncryptionKeyRing,
  options: DecryptOptions = {},
): Record<string, unknown> {
  const key = ring.find(content.encryptionCertificateId, content.encryptionCertificateThumbprint);
  if (!key) {
    throw new GraphNotificationError(
      'unknown_certificate',
      'the notification is encrypted for a certificate Herald does not hold',
    );
  }
  let symmetric: Buffer;
  try {
    symmetric = privateDecrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      Buffer.from(content.dataKey, 'base64'),
    );
  } catch (cause) {
    throw new GraphNotificationError(
      'decryption_failed',
      'the dataKey does not decrypt with this certificate',
      cause,
    );
  }
  if (symmetric.length !== 32) {
    throw new GraphNotificationError('decryption_failed', 'the data key is not a 256-bit AES key');
  }
  const data = Buffer.from(content.data, 'base64');
  const expected = Buffer.from(content.dataSignature, 'base64');
  const actual = createHmac('sha256', symmetric).update(data).digest();
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new GraphNotificationError(
      'signature_mismatch',
      'the dataSignature does not match: the payload was altered',
    );
  }
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  if (data.length > maxBytes + 16)
    throw new GraphNotificationError('too_large', 'the encrypted data is too large');
  let text: string;
  try {
    const decipher = createDecipheriv('aes-256-cbc', symmetric, symmetric.subarray(0, 16));
    text = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch (cause) {
    throw new GraphNotificationError('decryption_failed', 'the data does not decrypt', cause);
  }
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'object' && json !== null && !Array.isArray(json))
      return json as Record<string, unknown>;
  } catch (cause) {
    throw new GraphNotificationError('invalid_content', 'the decrypted data is not JSON', cause);
  }
  throw new GraphNotificationError('invalid_content', 'the decrypted data is not a JSON object');
}

/** Decrypt a rich message notification to the fields a push needs. */
export function decryptMessage(
  content: EncryptedContent,
  ring: EncryptionKeyRing,
  options: DecryptOptions = {},
): GraphMessage {
  const result = messageSchema.safeParse(decryptContent(content, ring, options));
  if (!result.success) {
    throw new GraphNotificationError('invalid_content', 'the decrypted data is not a message', result.error);
  }
  return toGraphMessage(result.data);
}

export interface EncryptionCertificate {
  /** encryptionCertificateId to send with it. */
  id: string;
  /** base64 DER, Graph's `encryptionCertificate`. */
  certificate: string;
  /** SHA-1 thumbprint, upper-case hex, as Graph's encryptionCertificateThumbprint. */
  thumbprint: string;
  notAfter: Date;
  /** PKCS#8 PEM; keep it secret (Herald's secret store), hand it to the key ring. */
  privateKeyPem: string;
}

/** A self-signed RSA certificate for rich notifications. */
export async function createEncryptionCertificate(
  options: {
    id?: string;
    modulusLength?: 2048 | 3072 | 4096;
    validityDays?: number;
    commonName?: string;
    now?: number;
  } = {},
): Promise<EncryptionCertificate> {
  const modulusLength = options.modulusLength ?? 2048;
  if (![2048, 3072, 4096].includes(modulusLength))
    throw new RangeError('modulusLength must be 2048, 3072 or 4096');
  const validityDays = options.validityDays ?? 365;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 3650) {
    throw new RangeError('validityDays must be an integer from 1 to 3650');
  }
  const id = options.id ?? `herald-graph-${randomUUID()}`;
  if (id.length > 128) throw new RangeError('id must be at most 128 characters');
  const now = options.now ?? Date.now();
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength,
  };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notAfter = new Date(now + validityDays * 86_400_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomUUID()
      .replace(/-/g, '')
      .replace(/^[89a-f]/, '1'),
    name: `CN=${(options.commonName ?? 'Herald Graph notification encryption').replace(/[,+=<>#;"\\]/g, ' ')}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter,
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
    ],
  });
  const der = Buffer.from(cert.rawData);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    id,
    certificate: der.toString('base64'),
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    notAfter,
    privateKeyPem: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
      .export({ type: 'pkcs8', format: 'pem' })
      .toString(),
  };
}

/** The SHA-1 thumbprint (upper-case hex) of a base64 DER or PEM certificate. */
export function certificateThumbprint(certificate: string): string {
  const cert = new X509Certificate(
    certificate.includes('-----BEGIN') ? certificate : Buffer.from(certificate, 'base64'),
  );
  return createHash('sha1').update(cert.raw).digest('hex').toUpperCase();
}
