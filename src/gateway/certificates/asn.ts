/**
 * Small ASN.1 helpers shared by the certificate and CRL parsers: input in DER or PEM, serial
 * numbers as OpenSSL prints them, INTEGER values of CRL extensions, and the URLs of CRL
 * Distribution Points / Freshest CRL (RFC 5280 §4.2.1.13, §4.2.1.15).
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLDistributionPoints, type Extension } from '@peculiar/asn1-x509';

export const OID = {
  subjectAltName: '2.5.29.17',
  extKeyUsage: '2.5.29.37',
  crlDistributionPoints: '2.5.29.31',
  freshestCrl: '2.5.29.46',
  crlNumber: '2.5.29.20',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  reasonCode: '2.5.29.21',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  upn: '1.3.6.1.4.1.311.20.2.3',
} as const;

/** Accepts DER bytes or PEM text (the first block with one of `labels`, any label when empty). */
export function toDer(input: string | Uint8Array, labels: readonly string[] = []): Buffer {
  const text =
    typeof input === 'string' ? input : isPem(input) ? Buffer.from(input).toString('latin1') : undefined;
  if (text === undefined) return Buffer.from(input as Uint8Array);
  const blocks = text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g);
  for (const [, label, body] of blocks) {
    if (labels.length === 0 || labels.includes(label!))
      return Buffer.from(body!.replace(/\s+/g, ''), 'base64');
  }
  throw new Error('no PEM block found');
}

function isPem(bytes: Uint8Array): boolean {
  // A DER SEQUENCE starts with 0x30; PEM text starts with "-----" (possibly after whitespace).
  return Buffer.from(bytes.subarray(0, 64)).toString('latin1').includes('-----BEGIN ');
}

/** Upper-case hex without leading zero bytes: how node:crypto and OpenSSL print serials. */
export function serialHex(bytes: ArrayBuffer | Uint8Array): string {
  const buf = Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
  let start = 0;
  while (start < buf.length - 1 && buf[start] === 0) start++;
  return buf.subarray(start).toString('hex').toUpperCase();
}

/** A DER INTEGER (the value of a CRL Number or Delta CRL Indicator extension) as a bigint. */
export function derInteger(der: ArrayBuffer | Uint8Array): bigint {
  const buf = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der));
  if (buf[0] !== 0x02) throw new Error('not an INTEGER');
  let length = buf[1]!;
  let offset = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = buf.subarray(2, 2 + n).reduce((acc, b) => acc * 256 + b, 0);
    offset = 2 + n;
  }
  const body = buf.subarray(offset, offset + length);
  if (body.length === 0 || body.length !== length) throw new Error('bad INTEGER');
  const value = BigInt(`0x${body.toString('hex')}`);
  // Negative CRL numbers are not allowed (RFC 5280 §5.2.3); read them as two's complement anyway.
  return body[0]! & 0x80 ? value - (1n << BigInt(body.length * 8)) : value;
}

/** The http(s) URLs of a CRL Distribution Points or Freshest CRL extension value; ldap: is ignored. */
export function distributionPointUrls(extnValue: ArrayBuffer): string[] {
  const points = AsnConvert.parse(extnValue, CRLDistributionPoints);
  const urls: string[] = [];
  for (const point of points) {
    // A point with a cRLIssuer is served by an indirect CRL, which we do not support.
    if (point.cRLIssuer) continue;
    for (const name of point.distributionPoint?.fullName ?? []) {
      const uri = name.uniformResourceIdentifier;
      if (uri !== undefined && /^https?:\/\//i.test(uri)) urls.push(uri);
    }
  }
  return urls;
}

export function findExtension(
  extensions: readonly Extension[] | undefined,
  oid: string,
): Extension | undefined {
  return extensions?.find((e) => e.extnID === oid);
}

/** Colon-separated upper-case SHA-256, as `X509Certificate.fingerprint256` prints it. */
export function fingerprint256(der: Uint8Array): string {
  return createHash('sha256')
    .update(der)
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
