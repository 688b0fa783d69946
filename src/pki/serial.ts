/**
 * Certificate serial numbers: 16 random bytes, positive and without a leading zero byte, so the
 * DER INTEGER is exactly 16 bytes and the hex is canonical (CA/Browser Forum baseline 7.1 asks
 * for at least 64 random bits; RFC 5280 §4.1.2.2 allows up to 20 octets).
 */
import { randomBytes } from 'node:crypto';
import { PkiError } from './errors.ts';

export function newSerial(): string {
  const bytes = randomBytes(16);
  // 0x40..0x7f: the sign bit clear (positive) and the first byte never zero.
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

/**
 * A serial as an operator may type it (`0A:1B...`, `0x0a1b`, upper or lower case, OpenSSL's
 * `serial=` output) in the stored form: lower-case hex without leading zero bytes.
 */
export function normalizeSerial(input: string): string {
  let hex = input
    .trim()
    .toLowerCase()
    .replace(/^serial=/, '')
    .replace(/^0x/, '')
    .replace(/[:\s]/g, '');
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 42) {
    throw new PkiError('pki_certificate_not_found', `"${input}" is not a certificate serial number (hex)`);
  }
  if (hex.length % 2 === 1) hex = `0${hex}`;
  while (hex.length > 2 && hex.startsWith('00')) hex = hex.slice(2);
  return hex;
}
