/**
 * Content encryption of SCEP's EnvelopedData (RFC 8894 §3.5.2: AES is AES128-CBC, DES3 is
 * des-ede3-cbc; AES-192/256 are accepted too). node:crypto does the work: WebCrypto has no
 * 3DES, and the IV comes from the algorithm parameters as an OCTET STRING (RFC 3565, RFC 3370).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ScepRefusal } from './errors.ts';

export interface ContentCipher {
  oid: string;
  /** node:crypto cipher name. */
  name: string;
  keyLength: number;
  ivLength: number;
}

const CIPHERS: readonly ContentCipher[] = [
  { oid: '1.2.840.113549.3.7', name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
  { oid: '2.16.840.1.101.3.4.1.2', name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  { oid: '2.16.840.1.101.3.4.1.22', name: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  { oid: '2.16.840.1.101.3.4.1.42', name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
];

export const AES_256_CBC = CIPHERS[3]!;

export function cipherByOid(oid: string): ContentCipher {
  const cipher = CIPHERS.find((c) => c.oid === oid);
  if (!cipher) {
    // Single DES (1.3.14.3.2.7) lands here on purpose: RFC 8894 §3.5.2 leaves it behind.
    throw new ScepRefusal('badAlg', `The content encryption algorithm ${oid} is not supported.`);
  }
  return cipher;
}

export function cipherByName(name: string): ContentCipher {
  const cipher = CIPHERS.find((c) => c.name === name);
  if (!cipher) throw new Error(`unknown content cipher ${name}`);
  return cipher;
}

export function decryptContent(cipher: ContentCipher, key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  // A wrong key length is what a failed RSA unwrap looks like with implicit rejection (the
  // unwrap returns random bytes instead of throwing), so it is a message-check failure.
  if (key.length !== cipher.keyLength || iv.length !== cipher.ivLength) {
    throw new ScepRefusal('badMessageCheck', 'The message could not be decrypted.');
  }
  try {
    const decipher = createDecipheriv(cipher.name, key, iv);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (error) {
    throw new ScepRefusal('badMessageCheck', 'The message could not be decrypted.', { cause: error });
  }
}

export function encryptContent(
  cipher: ContentCipher,
  plaintext: Buffer,
): { key: Buffer; iv: Buffer; ciphertext: Buffer } {
  const key = randomBytes(cipher.keyLength);
  const iv = randomBytes(cipher.ivLength);
  const encipher = createCipheriv(cipher.name, key, iv);
  return { key, iv, ciphertext: Buffer.concat([encipher.update(plaintext), encipher.final()]) };
}
