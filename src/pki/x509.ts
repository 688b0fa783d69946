/**
 * The one place that loads @peculiar/x509: it needs reflect-metadata first (its ASN.1 schemas use
 * decorators) and Node's WebCrypto as its provider. Every pki file imports `x509` from here, so
 * the setup has run before any certificate is parsed or made.
 */
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

export type CryptoKey = webcrypto.CryptoKey;

/** DER bytes as the ArrayBuffer the x509 constructors take, without copying when possible. */
export function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export function der(value: { rawData: ArrayBuffer } | ArrayBuffer): Buffer {
  return Buffer.from(value instanceof ArrayBuffer ? value : value.rawData);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** PEM of DER with OpenSSL's labels (`CERTIFICATE`, `X509 CRL`, `PRIVATE KEY`), 64 columns. */
export function toPem(bytes: Uint8Array, label: string): string {
  const body = Buffer.from(bytes)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** Every PEM block in `text`, in order. */
export function pemBlocks(text: string): { label: string; der: Buffer }[] {
  const blocks: { label: string; der: Buffer }[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (const match of text.matchAll(pattern)) {
    const body = match[2]!;
    // Encrypted PEM (RFC 1421 headers): keep the whole block for node:crypto to read.
    if (/Proc-Type:/i.test(body)) {
      blocks.push({ label: match[1]!, der: Buffer.from(match[0], 'utf8') });
      continue;
    }
    blocks.push({ label: match[1]!, der: Buffer.from(body.replace(/\s+/g, ''), 'base64') });
  }
  return blocks;
}

/** DER as is, or the first PEM block of the given labels. */
export function derFromInput(input: Buffer | string, labels: readonly string[]): Buffer | undefined {
  const text = typeof input === 'string' ? input : input.subarray(0, 64).toString('latin1');
  if (!text.includes('-----BEGIN ')) return typeof input === 'string' ? undefined : input;
  const full = typeof input === 'string' ? input : input.toString('utf8');
  return pemBlocks(full).find((block) => labels.includes(block.label))?.der;
}
