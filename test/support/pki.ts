/**
 * A throwaway PKI for tests of the gateway: CAs, client and server certificates, base and delta
 * CRLs (RFC 5280 §5), and a CRL distribution point on loopback whose content a test changes
 * between refreshes. Everything is made at test time with @peculiar/x509 on Node's WebCrypto
 * (ECDSA P-256 by default, for speed); OpenSSL accepts what it makes (see
 * src/gateway/certificates/openssl.test.ts).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  GeneralName as AsnGeneralName,
  DistributionPoint,
  DistributionPointName,
  FreshestCRL,
  IssuingDistributionPoint,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';

export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CRL_NUMBER = '2.5.29.20';
const OID_DELTA_CRL_INDICATOR = '2.5.29.27';
const OID_FRESHEST_CRL = '2.5.29.46';
const OID_ISSUING_DISTRIBUTION_POINT = '2.5.29.28';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

export type KeyAlgorithm = 'ecdsa' | 'rsa';

const ALGORITHMS = {
  ecdsa: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  rsa: {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
} as const;

export interface TestCa {
  /** The subject DN, e.g. `CN=Herald Test CA`. */
  name: string;
  certPem: string;
  keyPem: string;
  x509: x509.X509Certificate;
  keys: CryptoKeyPair;
  algorithm: KeyAlgorithm;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** Upper-case hex without leading zero bytes, as OpenSSL and node:crypto print it. */
  serialNumber: string;
  x509: x509.X509Certificate;
}

const DAY = 86_400_000;

async function generateKeys(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHMS[algorithm], true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(
    der.buffer.slice(der.byteOffset, der.byteOffset + der.length),
    'PRIVATE KEY',
  );
}

/** A random positive serial (first byte 0x01..0x7f: no sign padding, no leading zero). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(12));
  bytes[0] = (bytes[0]! % 0x7f) + 1;
  return Buffer.from(bytes).toString('hex');
}

/** The serial as node:crypto and OpenSSL print it: upper case, no leading zero bytes. */
export function normalizeSerial(hex: string): string {
  let s = hex.toUpperCase();
  if (s.length % 2 === 1) s = `0${s}`;
  while (s.length > 2 && s.startsWith('00')) s = s.slice(2);
  return s;
}

/** DER INTEGER for a non-negative number (CRL Number, Base CRL Number). */
function derInteger(value: number | bigint): ArrayBuffer {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  const der = Buffer.concat([Buffer.from([0x02, body.length]), body]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.length);
}

function distributionPoints(urls: readonly string[]): DistributionPoint[] {
  return urls.map(
    (url) =>
      new DistributionPoint({
        distributionPoint: new DistributionPointName({
          fullName: [new AsnGeneralName({ uniformResourceIdentifier: url })],
        }),
      }),
  );
}

/** The Freshest CRL extension (RFC 5280 §4.2.1.15 / §5.2.6): where delta CRLs are published. */
function freshestCrlExtension(urls: readonly string[]): x509.Extension {
  return new x509.Extension(
    OID_FRESHEST_CRL,
    false,
    AsnConvert.serialize(new FreshestCRL(distributionPoints(urls))),
  );
}

export interface TestCaOptions {
  algorithm?: KeyAlgorithm;
  notBefore?: Date;
  notAfter?: Date;
}

/**
 * A self-signed root CA. Two CAs made with the same `name` have the same subject but different
 * keys: what a forged CRL or a look-alike issuer needs.
 */
export async function createTestCa(name: string, opts: TestCaOptions = {}): Promise<TestCa> {
  const algorithm = opts.algorithm ?? 'ecdsa';
  const keys = await generateKeys(algorithm);
  const subject = name.includes('=') ? name : `CN=${name}`;
  const notBefore = opts.notBefore ?? new Date(Date.now() - DAY);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subject,
    notBefore,
    notAfter: opts.notAfter ?? new Date(notBefore.getTime() + 3650 * DAY),
    keys,
    signingAlgorithm: ALGORITHMS[algorithm],
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    name: subject,
    certPem: cert.toString('pem'),
    keyPem: await keyToPem(keys.privateKey),
    x509: cert,
    keys,
    algorithm,
  };
}

interface IssueOptions {
  subject: string;
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
  extensions: x509.Extension[];
}

async function issue(ca: TestCa, opts: IssueOptions): Promise<IssuedCertificate> {
  const keys = await generateKeys(ca.algorithm);
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const serial = opts.serial ?? randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: opts.subject,
    issuer: ca.x509.subject,
    notBefore,
    notAfter: opts.notAfter ?? new Date(notBefore.getTime() + 365 * DAY),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHMS[ca.algorithm],
    extensions: [
      ...opts.extensions,
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: await keyToPem(keys.privateKey),
    serialNumber: normalizeSerial(cert.serialNumber),
    x509: cert,
  };
}

export interface ClientCertificateOptions {
  cn: string;
  upn?: string;
  email?: string;
  /** Extended key usages; default clientAuth; `null` leaves the extension out. */
  eku?: string[] | null;
  notBefore?: Date;
  notAfter?: Date;
  /** The CRL Distribution Point (a string or several). */
  crlUrl?: string | string[];
  /** The Freshest CRL (delta CRL) location. */
  deltaCrlUrl?: string | string[];
  /** Hex serial number; random when absent. */
  serial?: string;
}

/** A device certificate as the gateway sees it: SAN with UPN and email, EKU clientAuth, CDP. */
export async function issueClientCertificate(
  ca: TestCa,
  opts: ClientCertificateOptions,
): Promise<IssuedCertificate> {
  const names: x509.JsonGeneralNames = [];
  if (opts.upn !== undefined) names.push({ type: 'upn', value: opts.upn });
  if (opts.email !== undefined) names.push({ type: 'email', value: opts.email });
  const eku = opts.eku === undefined ? [OID_CLIENT_AUTH] : opts.eku;
  const crlUrls = opts.crlUrl === undefined ? [] : [opts.crlUrl].flat();
  const deltaUrls = opts.deltaCrlUrl === undefined ? [] : [opts.deltaCrlUrl].flat();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
  ];
  if (eku !== null) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  if (crlUrls.length > 0) extensions.push(new x509.CRLDistributionPointsExtension(crlUrls, false));
  if (deltaUrls.length > 0) extensions.push(freshestCrlExtension(deltaUrls));
  return issue(ca, {
    subject: `CN=${opts.cn}`,
    extensions,
    ...(opts.serial === undefined ? {} : { serial: opts.serial }),
    ...(opts.notBefore === undefined ? {} : { notBefore: opts.notBefore }),
    ...(opts.notAfter === undefined ? {} : { notAfter: opts.notAfter }),
  });
}

export interface ServerCertificateOptions {
  dnsNames?: string[];
  ipAddresses?: string[];
}

/** A TLS server certificate (EKU serverAuth) for loopback servers in tests. */
export async function issueServerCertificate(
  ca: TestCa,
  opts: ServerCertificateOptions = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
): Promise<IssuedCertificate> {
  const names: x509.JsonGeneralNames = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  return issue(ca, {
    subject: `CN=${opts.dnsNames?.[0] ?? opts.ipAddresses?.[0] ?? 'server'}`,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([OID_SERVER_AUTH], false),
      new x509.SubjectAlternativeNameExtension(names, false),
    ],
  });
}

export interface RevokedEntry {
  /** Hex serial (any case, as `IssuedCertificate.serialNumber`). */
  serial: string;
  /** RFC 5280 §5.3.1 CRLReason; 8 = removeFromCRL (delta CRLs only). */
  reason?: x509.X509CrlReason;
  date?: Date;
}

export interface CrlOptions {
  revoked: RevokedEntry[];
  crlNumber: number;
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Makes a delta CRL whose Delta CRL Indicator names this base CRL number (RFC 5280 §5.2.4). */
  deltaOf?: number;
  /** The Freshest CRL extension of a base CRL: where its deltas are. */
  freshestUrl?: string;
  /** A partitioned CRL: the Issuing Distribution Point (critical) naming this URL (RFC 5280 §5.2.5). */
  distributionPoint?: string;
}

/** A CRL signed by `ca`, as DER (what a distribution point serves as application/pkix-crl). */
export async function createCrl(ca: TestCa, opts: CrlOptions): Promise<Buffer> {
  const thisUpdate = opts.thisUpdate ?? new Date(Date.now() - 60_000);
  const extensions: x509.Extension[] = [
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    new x509.Extension(OID_CRL_NUMBER, false, derInteger(opts.crlNumber)),
  ];
  if (opts.deltaOf !== undefined) {
    extensions.push(new x509.Extension(OID_DELTA_CRL_INDICATOR, true, derInteger(opts.deltaOf)));
  }
  if (opts.freshestUrl !== undefined) extensions.push(freshestCrlExtension([opts.freshestUrl]));
  if (opts.distributionPoint !== undefined) {
    const idp = new IssuingDistributionPoint({
      distributionPoint: new DistributionPointName({
        fullName: [new AsnGeneralName({ uniformResourceIdentifier: opts.distributionPoint })],
      }),
    });
    extensions.push(new x509.Extension(OID_ISSUING_DISTRIBUTION_POINT, true, AsnConvert.serialize(idp)));
  }
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.x509.subject,
    thisUpdate,
    nextUpdate: opts.nextUpdate ?? new Date(thisUpdate.getTime() + DAY),
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHMS[ca.algorithm],
    extensions,
    entries: opts.revoked.map((entry) => ({
      serialNumber: normalizeSerial(entry.serial),
      revocationDate: entry.date ?? new Date(thisUpdate.getTime() - 1000),
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    })),
  });
  return Buffer.from(crl.rawData);
}

export interface CrlServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** The full URL of a path (`/ca.crl` → `http://127.0.0.1:PORT/ca.crl`). */
  url(path: string): string;
  /** Serves `der` at `path` from now on; `undefined` makes it a 404. */
  set(path: string, der: Buffer | undefined): void;
  /** Answers `path` with this status (e.g. 500) until set again; `undefined` clears it. */
  fail(path: string, status: number | undefined): void;
  /** How many requests `path` (or every path) received. */
  requests(path?: string): number;
  close(): Promise<void>;
}

/** A CRL distribution point on 127.0.0.1 (port 0), serving a mutable map of path → DER. */
export async function startCrlServer(): Promise<CrlServer> {
  const files = new Map<string, Buffer>();
  const failures = new Map<string, number>();
  const counts = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const status = failures.get(path);
    const der = files.get(path);
    if (status !== undefined) {
      res.writeHead(status).end();
    } else if (der === undefined) {
      res.writeHead(404).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': der.length }).end(der);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    set: (path, der) => {
      if (der === undefined) files.delete(path);
      else files.set(path, der);
      failures.delete(path);
    },
    fail: (path, status) => {
      if (status === undefined) failures.delete(path);
      else failures.set(path, status);
    },
    requests: (path) =>
      path === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : (counts.get(path) ?? 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
