/**
 * Helpers for push/'s own tests (not used by the senders): device tokens, a settable clock, a
 * log capture, and small hand-made peers (an HTTP/2 server that answers what a test tells it, an
 * HTTP CONNECT proxy).
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import http2 from 'node:http2';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { createLogger, type Logger } from '../log/index.ts';
import { selfSignedIdentity } from '../sim/tls.ts';
import type { PushResult } from './types.ts';

/** An APNs-shaped device token: 32 random bytes in hex. */
export function deviceToken(): string {
  return randomBytes(32).toString('hex');
}

export interface TestClock {
  t: number;
  now: () => number;
  advance(ms: number): number;
}

export function testClock(start = Date.now()): TestClock {
  const clock: TestClock = {
    t: start,
    now: () => clock.t,
    advance: (ms) => {
      clock.t += ms;
      return clock.t;
    },
  };
  return clock;
}

/** A logger whose JSON lines are kept, to check what reaches the log (and what must not). */
export function captureLogger(): { logger: Logger; lines: string[]; text: () => string } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines, text: () => lines.join('') };
}

export interface H2Peer {
  url: string;
  ca: string;
  sessions: number;
  close(): Promise<void>;
}

/** An HTTP/2 TLS server answering each stream with `handler` (a misbehaving APNs, say). */
export async function startH2Peer(
  handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  settings: http2.Settings = {},
): Promise<H2Peer> {
  const identity = await selfSignedIdentity();
  const server = http2.createSecureServer({ cert: identity.cert, key: identity.key, settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  const peer = { url: '', ca: identity.cert, sessions: 0, close: async () => {} };
  server.on('session', (session) => {
    peer.sessions += 1;
    sessions.add(session);
    session.on('error', () => {});
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    handler(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  peer.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  peer.close = () =>
    new Promise<void>((resolve) => {
      for (const session of sessions) session.destroy();
      server.close(() => resolve());
    });
  return peer;
}

export interface ConnectProxy {
  url: string;
  /** The CONNECT targets seen, e.g. "127.0.0.1:4433". */
  tunnels: string[];
  close(): Promise<void>;
}

/** A minimal HTTP CONNECT proxy (no auth), for the proxy path of the senders. */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createHttpServer((_req, res) => {
    res.writeHead(405).end();
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/);
    const upstream = netConnect(Number(port), host!.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
    }
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface ApnsCertificate {
  /** PEM of the issuing CA, for the simulator's `clientCa`. */
  caPem: string;
  /** The PKCS#12 file (client certificate + key). */
  p12File: string;
  passphrase: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** The subject attribute APNs certificates carry their bundle id in (userId, RFC 4519). */
const UID_OID = '0.9.2342.19200300.100.1.1';

/**
 * An APNs-like provider certificate: a CA, and a client certificate from it whose subject UID is
 * the topic (as Apple's "Apple Push Services: <bundle id>" certificates), packed as PKCS#12 by
 * the openssl CLI, the way an operator exports one from Keychain.
 */
export async function makeApnsCertificate(
  dir: string,
  topic: string,
  passphrase: string,
): Promise<ApnsCertificate> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const { webcrypto } = await import('node:crypto');
  const { writeFileSync } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 86_400_000);
  const caKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Test Worldwide Developer Relations CA, O=Herald tests',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const clientKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const client = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: `${UID_OID}=${topic}, CN=Apple Push Services: ${topic}, O=Herald tests`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: clientKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', clientKeys.privateKey)).toString(
    'base64',
  );
  const keyFile = join(dir, `${topic}.key.pem`);
  const certFile = join(dir, `${topic}.cert.pem`);
  const p12File = join(dir, `${topic}.p12`);
  writeFileSync(
    keyFile,
    `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`,
  );
  writeFileSync(certFile, client.toString('pem'));
  execFileSync(
    'openssl',
    [
      'pkcs12',
      '-export',
      '-inkey',
      keyFile,
      '-in',
      certFile,
      '-out',
      p12File,
      '-passout',
      `pass:${passphrase}`,
    ],
    { stdio: 'pipe' },
  );
  return { caPem: ca.toString('pem'), p12File, passphrase };
}

/** The reason of a result that has one (undefined for sent). */
export function reasonOf(result: PushResult): string | undefined {
  return result.status === 'sent' ? undefined : result.reason;
}
