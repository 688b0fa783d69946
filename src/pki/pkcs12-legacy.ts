/**
 * Reading PKCS #12 files protected with pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 Appendix C):
 * what Windows exports by default ("TripleDES-SHA1") and OpenSSL 1.x used for keys. pkijs only
 * decrypts PBES2, so this derives the key and IV with the PKCS #12 KDF (RFC 7292 Appendix B.2,
 * SHA-1) and decrypts with node:crypto. Only for import; Herald never writes this.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import type * as asn1js from 'asn1js';

export const PBE_SHA1_3DES = '1.2.840.113549.1.12.1.3';

const SHA1_BYTES = 20;
const SHA1_BLOCK = 64;
const ID_KEY = 1;
const ID_IV = 2;

/** The password as a BMPString with its two-byte terminator (RFC 7292 Appendix B.1). */
function bmpPassword(passphrase: string): Buffer {
  const utf16le = Buffer.from(`${passphrase}\0`, 'utf16le');
  return Buffer.from(utf16le).swap16();
}

function repeatTo(source: Buffer, blockSize: number): Buffer {
  if (source.length === 0) return Buffer.alloc(0);
  const length = blockSize * Math.ceil(source.length / blockSize);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = source[i % source.length]!;
  return out;
}

/** RFC 7292 Appendix B.2 with SHA-1 (u = 20, v = 64). */
export function pkcs12Kdf(
  passphrase: string,
  salt: Buffer,
  id: number,
  iterations: number,
  size: number,
): Buffer {
  const diversifier = Buffer.alloc(SHA1_BLOCK, id);
  const input = Buffer.concat([repeatTo(salt, SHA1_BLOCK), repeatTo(bmpPassword(passphrase), SHA1_BLOCK)]);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < size; produced += SHA1_BYTES) {
    let a = createHash('sha1').update(diversifier).update(input).digest();
    for (let i = 1; i < iterations; i++) a = createHash('sha1').update(a).digest();
    blocks.push(a);
    // I_j = (I_j + B + 1) mod 2^512 for every 64-byte block of I, B being A repeated.
    const b = repeatTo(a, SHA1_BLOCK);
    for (let offset = 0; offset < input.length; offset += SHA1_BLOCK) {
      let carry = 1;
      for (let k = SHA1_BLOCK - 1; k >= 0; k--) {
        const sum = input[offset + k]! + b[k]! + carry;
        input[offset + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, size);
}

/** Decrypts with pkcs-12PbeParams (`SEQUENCE { salt OCTET STRING, iterations INTEGER }`). */
export function decryptPbeSha1TripleDes(
  params: asn1js.Sequence,
  ciphertext: Buffer,
  passphrase: string,
): Buffer {
  const [saltBlock, iterationsBlock] = params.valueBlock.value as [asn1js.OctetString, asn1js.Integer];
  const salt = Buffer.from(saltBlock.valueBlock.valueHexView);
  const iterations = iterationsBlock.valueBlock.valueDec;
  if (!(iterations >= 1 && iterations <= 10_000_000)) throw new Error('implausible PKCS #12 iteration count');
  const key = pkcs12Kdf(passphrase, salt, ID_KEY, iterations, 24);
  const iv = pkcs12Kdf(passphrase, salt, ID_IV, iterations, 8);
  const decipher = createDecipheriv('des-ede3-cbc', key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}
