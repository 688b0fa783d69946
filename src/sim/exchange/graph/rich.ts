/**
 * Encryption of resource data in rich notifications ("Set up change notifications that include
 * resource data", Decrypting resource data; changeNotificationEncryptedContent resource type):
 * a fresh 32-byte symmetric key per notification item; `data` = AES-256-CBC, PKCS7 padding,
 * IV = the key's first 16 bytes, base64; `dataSignature` = base64 HMAC-SHA256 of the encrypted
 * bytes with that key; `dataKey` = the key encrypted with the subscriber's certificate public key,
 * RSA/ECB/OAEPWithSHA1AndMGF1Padding, base64; the certificate id and its SHA-1 thumbprint (hex).
 */
import {
  constants,
  createCipheriv,
  createHash,
  createHmac,
  publicEncrypt,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { GraphError } from './errors.ts';

export interface EncryptedContent {
  data: string;
  dataSignature: string;
  dataKey: string;
  encryptionCertificateId: string;
  encryptionCertificateThumbprint: string;
}

/** Check `encryptionCertificate` (base64 DER X.509 with an RSA key of 2048 to 4096 bits). */
export function parseEncryptionCertificate(base64: unknown): X509Certificate {
  if (typeof base64 !== 'string' || !base64) {
    throw new GraphError(
      400,
      'InvalidRequest',
      'A valid encryptionCertificate is required when includeResourceData is true.',
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(base64.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  } catch {
    throw new GraphError(
      400,
      'InvalidRequest',
      'The encryptionCertificate is not a valid base64-encoded X.509 certificate.',
    );
  }
  const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (cert.publicKey.asymmetricKeyType !== 'rsa' || bits < 2048 || bits > 4096) {
    throw new GraphError(
      400,
      'InvalidRequest',
      'The encryptionCertificate key must be RSA, 2048 to 4096 bits.',
    );
  }
  return cert;
}

export function thumbprintHex(cert: X509Certificate): string {
  return createHash('sha1').update(cert.raw).digest('hex').toUpperCase();
}

export function encryptContent(
  json: string,
  cert: X509Certificate,
  certificateId: string,
  options: { corruptSignature?: boolean } = {},
): EncryptedContent {
  const key = randomBytes(32);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  const data = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
  const signature = createHmac('sha256', key).update(data).digest();
  if (options.corruptSignature) signature[0]! ^= 0xff;
  return {
    data: data.toString('base64'),
    dataSignature: signature.toString('base64'),
    dataKey: publicEncrypt(
      { key: cert.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      key,
    ).toString('base64'),
    encryptionCertificateId: certificateId,
    encryptionCertificateThumbprint: thumbprintHex(cert),
  };
}
