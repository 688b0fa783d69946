/**
 * The client-certificate check over real TLS handshakes (node:tls server with requestCert and
 * rejectUnauthorized false, as the gateway listens; node:tls client with the device's
 * certificate), with CRLs served over HTTP on loopback. One connection can ask for several
 * checks, so a kept-alive connection is seen to be refused after a CRL refresh.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach, before, test } from 'node:test';
import * as tls from 'node:tls';
import { X509CrlReason } from '@peculiar/x509';
import { LogCapture } from '../../../test/support/logs.ts';
import {
  type CrlServer,
  createCrl,
  createTestCa,
  type IssuedCertificate,
  issueClientCertificate,
  issueServerCertificate,
  OID_SERVER_AUTH,
  startCrlServer,
  type TestCa,
} from '../../../test/support/pki.ts';
import { createLogger } from '../../log/index.ts';
import { type CheckDeps, checkClientCertificate } from './check.ts';
import { CrlCache, type CrlCacheOptions } from './crl-cache.ts';
import type { CertificateCheck } from './types.ts';

const UPN = 'alice@corp.example';
const EMAIL = 'alice.smith@corp.example';
const MIN = 60_000;

let ca: TestCa;
let otherCa: TestCa;
let forger: TestCa;
let crlServer: CrlServer;
let tlsServer: tls.Server;
let port: number;
let deps: CheckDeps | undefined;
const dirs: string[] = [];
const caches: CrlCache[] = [];

before(async () => {
  ca = await createTestCa('Herald Test Device CA');
  otherCa = await createTestCa('Some Other CA');
  forger = await createTestCa('Herald Test Device CA'); // same name, another key
  crlServer = await startCrlServer();
  const serverCert = await issueServerCertificate(ca, {
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  tlsServer = tls.createServer(
    {
      cert: serverCert.certPem,
      key: serverCert.keyPem,
      ca: [ca.certPem],
      requestCert: true,
      rejectUnauthorized: false,
    },
    (socket) => {
      // One line in, one check out: what the gateway does per request on a kept-alive connection.
      const lines = createInterface({ input: socket });
      lines.on('line', () => {
        void (async () => {
          try {
            if (!deps) throw new Error('no deps');
            await deps.crls.prepare(socket);
            socket.write(`${JSON.stringify(checkClientCertificate(socket, deps))}\n`);
          } catch (err) {
            // Answer anyway, so a throwing check fails the test instead of hanging it.
            socket.write(`${JSON.stringify({ error: String(err) })}\n`);
          }
        })();
      });
      socket.on('error', () => {});
    },
  );
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  port = (tlsServer.address() as AddressInfo).port;
});

afterEach(() => {
  for (const cache of caches.splice(0)) cache.stop();
  deps = undefined;
});

after(async () => {
  tlsServer.close();
  await crlServer.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Client {
  check(): Promise<CertificateCheck>;
  close(): void;
}

async function connect(cert?: IssuedCertificate): Promise<Client> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: [ca.certPem],
    ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
  });
  await once(socket, 'secureConnect');
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]();
  return {
    async check() {
      socket.write('check\n');
      const line = await lines.next();
      assert.ok(!line.done, 'the server answered');
      return JSON.parse(line.value) as CertificateCheck;
    },
    close: () => socket.destroy(),
  };
}

/** One connection, one check. */
async function checkOnce(cert?: IssuedCertificate): Promise<CertificateCheck> {
  const client = await connect(cert);
  try {
    return await client.check();
  } finally {
    client.close();
  }
}

function cache(options: Partial<CrlCacheOptions> = {}, logs = new LogCapture()): CrlCache {
  const dir = mkdtempSync(join(tmpdir(), 'herald-crl-'));
  dirs.push(dir);
  const crls = new CrlCache({
    dir,
    trustedCas: [ca.certPem],
    refreshSeconds: 300,
    onUnavailable: 'fail-closed',
    urls: [],
    logger: createLogger({ level: 'debug', destination: logs }),
    fetchTimeoutMs: 2000,
    ...options,
  });
  caches.push(crls);
  return crls;
}

let pathCounter = 0;
/** A fresh CRL path per test, so tests do not see each other's CRLs. */
function crlPath(name = 'crl'): string {
  return `/t${++pathCounter}/${name}.crl`;
}

function refused(check: CertificateCheck): string {
  assert.equal(check.ok, false, `expected a refusal, got ${JSON.stringify(check)}`);
  return check.ok ? '' : check.reason;
}

test('check/good certificate: identity with UPN and email from the SAN', async () => {
  const path = crlPath();
  crlServer.set(path, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const cert = await issueClientCertificate(ca, {
    cn: 'Alice',
    upn: UPN,
    email: EMAIL,
    crlUrl: crlServer.url(path),
  });
  deps = { crls: cache() };
  const check = await checkOnce(cert);
  assert.ok(check.ok, JSON.stringify(check));
  const node = new X509Certificate(cert.certPem);
  assert.deepEqual(check.identity, {
    upn: UPN,
    email: EMAIL,
    subject: 'CN=Alice',
    issuer: 'CN=Herald Test Device CA',
    serialNumber: node.serialNumber,
    fingerprint256: node.fingerprint256,
    notAfter: node.validToDate.toISOString(),
  });
  assert.equal(crlServer.requests(path), 1, "the first request waited for the device's CRL");
});

test('check/refusals: each with its own reason', async () => {
  const path = crlPath();
  crlServer.set(path, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const crlUrl = crlServer.url(path);
  // Certificates of other CAs name a CRL URL of their choosing: the gateway must never fetch it.
  const foreignPath = crlPath('foreign');
  const foreignUrl = crlServer.url(foreignPath);
  deps = { crls: cache() };
  const now = Date.now();
  const cases: [string, IssuedCertificate | undefined, string][] = [
    ['no certificate', undefined, 'no_certificate'],
    [
      'another CA',
      await issueClientCertificate(otherCa, { cn: 'x', crlUrl: foreignUrl }),
      'untrusted_issuer',
    ],
    [
      'a look-alike CA (same name, other key)',
      await issueClientCertificate(forger, { cn: 'x', crlUrl: foreignUrl }),
      'untrusted_issuer',
    ],
    [
      'no EKU extension',
      await issueClientCertificate(ca, { cn: 'x', eku: null, crlUrl }),
      'no_client_auth_eku',
    ],
    [
      'EKU serverAuth only',
      await issueClientCertificate(ca, { cn: 'x', eku: [OID_SERVER_AUTH], crlUrl }),
      'no_client_auth_eku',
    ],
    [
      'expired',
      await issueClientCertificate(ca, {
        cn: 'x',
        notBefore: new Date(now - 10 * 86_400_000),
        notAfter: new Date(now - 86_400_000),
        crlUrl,
      }),
      'expired',
    ],
    [
      'not yet valid',
      await issueClientCertificate(ca, { cn: 'x', notBefore: new Date(now + 86_400_000), crlUrl }),
      'not_yet_valid',
    ],
  ];
  for (const [name, cert, reason] of cases) {
    const check = await checkOnce(cert);
    assert.equal(refused(check), reason, name);
    if (!check.ok) assert.ok(check.detail.length > 0 && check.detail.length < 120, name);
  }
  assert.equal(crlServer.requests(foreignPath), 0, 'no URL from an untrusted certificate is fetched');
});

test('check/expiry on a kept-alive connection: checked against the clock at each request', async () => {
  const path = crlPath();
  crlServer.set(path, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const notAfter = new Date(Date.now() + 10 * MIN);
  const cert = await issueClientCertificate(ca, { cn: 'x', notAfter, crlUrl: crlServer.url(path) });
  let clock = Date.now();
  deps = { crls: cache(), now: () => clock };
  const client = await connect(cert);
  try {
    assert.equal((await client.check()).ok, true);
    clock = notAfter.getTime() + 1000;
    assert.equal(refused(await client.check()), 'expired');
  } finally {
    client.close();
  }
});

test('check/revoked: refused at the next CRL refresh, on the same connection, without a restart', async () => {
  const path = crlPath();
  crlServer.set(path, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const cert = await issueClientCertificate(ca, { cn: 'x', upn: UPN, crlUrl: crlServer.url(path) });
  const other = await issueClientCertificate(ca, { cn: 'y', crlUrl: crlServer.url(path) });
  const crls = cache();
  deps = { crls };
  await crls.start();
  const client = await connect(cert);
  try {
    assert.equal((await client.check()).ok, true);
    crlServer.set(path, await createCrl(ca, { revoked: [{ serial: cert.serialNumber }], crlNumber: 2 }));
    assert.equal((await client.check()).ok, true, 'still the held CRL until the refresh');
    const generation = crls.generation;
    const report = await crls.refreshAll();
    assert.deepEqual(report.results, [{ url: crlServer.url(path), outcome: 'updated' }]);
    assert.notEqual(crls.generation, generation);
    assert.equal(refused(await client.check()), 'revoked');
  } finally {
    client.close();
  }
  assert.equal(refused(await checkOnce(cert)), 'revoked', 'and on a new connection');
  assert.equal((await checkOnce(other)).ok, true, 'other devices of the CA are not affected');
});

test('check/delta CRL: a certificate revoked only in the delta is refused', async () => {
  const base = crlPath('base');
  const delta = crlPath('delta');
  crlServer.set(base, await createCrl(ca, { revoked: [], crlNumber: 10 }));
  crlServer.set(delta, await createCrl(ca, { revoked: [], crlNumber: 11, deltaOf: 10 }));
  const cert = await issueClientCertificate(ca, {
    cn: 'x',
    crlUrl: crlServer.url(base),
    deltaCrlUrl: crlServer.url(delta),
  });
  const crls = cache();
  deps = { crls };
  assert.equal((await checkOnce(cert)).ok, true);
  crlServer.set(
    delta,
    await createCrl(ca, { revoked: [{ serial: cert.serialNumber }], crlNumber: 12, deltaOf: 10 }),
  );
  await crls.refreshAll();
  assert.equal(refused(await checkOnce(cert)), 'revoked');
  assert.equal(crlServer.requests(delta), 2);
});

test('check/delta CRL: removeFromCRL takes a certificate off hold', async () => {
  const base = crlPath('base');
  const delta = crlPath('delta');
  const cert = await issueClientCertificate(ca, { cn: 'x', crlUrl: crlServer.url(base) });
  const held = [{ serial: cert.serialNumber, reason: X509CrlReason.certificateHold }];
  // The delta is found through the base CRL's Freshest CRL extension this time.
  crlServer.set(
    base,
    await createCrl(ca, { revoked: held, crlNumber: 20, freshestUrl: crlServer.url(delta) }),
  );
  crlServer.set(delta, await createCrl(ca, { revoked: [], crlNumber: 21, deltaOf: 20 }));
  const crls = cache();
  deps = { crls };
  assert.equal(refused(await checkOnce(cert)), 'revoked', 'on hold');
  crlServer.set(
    delta,
    await createCrl(ca, {
      revoked: [{ serial: cert.serialNumber, reason: X509CrlReason.removeFromCRL }],
      crlNumber: 22,
      deltaOf: 20,
    }),
  );
  await crls.refreshAll();
  assert.equal((await checkOnce(cert)).ok, true, 'removed from the CRL by the delta');
});

test('check/CRL with a bad signature is ignored: revocation unknown, refused when fail-closed', async () => {
  const path = crlPath();
  crlServer.set(path, await createCrl(forger, { revoked: [], crlNumber: 1 }));
  const cert = await issueClientCertificate(ca, { cn: 'x', crlUrl: crlServer.url(path) });
  const crls = cache();
  deps = { crls };
  assert.equal(refused(await checkOnce(cert)), 'revocation_unknown');
  const url = crls.stats().urls.find((u) => u.url === crlServer.url(path));
  assert.equal(url?.lastOutcome, 'invalid');
  assert.equal(url?.lastReason, 'bad_signature');
  // A tampered copy of a genuine CRL is refused too.
  const genuine = await createCrl(ca, { revoked: [], crlNumber: 2 });
  genuine[genuine.length - 5]! ^= 0xff;
  crlServer.set(path, genuine);
  await crls.refreshAll();
  assert.equal(refused(await checkOnce(cert)), 'revocation_unknown');
});

test('check/no CRL available: fail-open lets the device in and warns once per URL per minute', async () => {
  const path = crlPath();
  crlServer.fail(path, 503);
  const cert = await issueClientCertificate(ca, {
    cn: 'x',
    upn: UPN,
    email: EMAIL,
    crlUrl: crlServer.url(path),
  });
  let clock = Date.now();
  const logs = new LogCapture();
  deps = { crls: cache({ onUnavailable: 'fail-open', now: () => clock }, logs) };
  const first = await checkOnce(cert);
  assert.ok(first.ok);
  assert.equal(first.identity.upn, UPN);
  assert.equal((await checkOnce(cert)).ok, true);
  const warnings = () => logs.lines.filter((l) => l.includes('WITHOUT a revocation check'));
  assert.equal(warnings().length, 1, 'rate-limited');
  assert.equal(JSON.parse(warnings()[0]!).url, crlServer.url(path));
  assert.equal(JSON.parse(warnings()[0]!).level, 40);
  clock += MIN;
  assert.equal((await checkOnce(cert)).ok, true);
  assert.equal(warnings().length, 2, 'again after a minute');
  assert.ok(!logs.text().includes(UPN) && !logs.text().includes(EMAIL), 'no personal data in logs');
  assert.ok(logs.text().includes('http_503'), 'the download failure is logged with its reason');

  deps = { crls: cache({ onUnavailable: 'fail-closed' }) };
  assert.equal(refused(await checkOnce(cert)), 'revocation_unknown');
});

test('check/disk cache: a new cache with the CRL server stopped still refuses a revoked device', async () => {
  const own = await startCrlServer();
  const dir = mkdtempSync(join(tmpdir(), 'herald-crl-disk-'));
  dirs.push(dir);
  const revoked = await issueClientCertificate(ca, { cn: 'x', crlUrl: own.url('/ca.crl') });
  const good = await issueClientCertificate(ca, { cn: 'y', crlUrl: own.url('/ca.crl') });
  own.set('/ca.crl', await createCrl(ca, { revoked: [{ serial: revoked.serialNumber }], crlNumber: 3 }));
  const first = cache({ dir });
  await first.start();
  deps = { crls: first };
  assert.equal(refused(await checkOnce(revoked)), 'revoked');
  first.stop();
  await own.close();

  const logs = new LogCapture();
  const second = cache({ dir }, logs);
  await second.start();
  deps = { crls: second };
  assert.equal(refused(await checkOnce(revoked)), 'revoked');
  assert.equal((await checkOnce(good)).ok, true);
  assert.equal(second.stats().crlsLoaded, 1);
});

test('check/nextUpdate drives the refresh (injected clock): the new CRL is fetched before the old expires', async () => {
  const path = crlPath();
  const t0 = Date.now();
  crlServer.set(
    path,
    await createCrl(ca, {
      revoked: [],
      crlNumber: 1,
      thisUpdate: new Date(t0 - MIN),
      nextUpdate: new Date(t0 + 10 * MIN),
    }),
  );
  const cert = await issueClientCertificate(ca, { cn: 'x', crlUrl: crlServer.url(path) });
  let clock = t0;
  // refreshSeconds far beyond nextUpdate: only nextUpdate can explain a refresh within 10 min.
  const crls = cache({ refreshSeconds: 86_400, now: () => clock });
  deps = { crls, now: () => clock };
  assert.equal((await checkOnce(cert)).ok, true);
  const due = crls.stats().urls[0]!.nextRefreshAt.getTime();
  assert.ok(due > t0 + 5 * MIN && due < t0 + 10 * MIN, `refresh planned before nextUpdate: ${due - t0} ms`);

  crlServer.set(
    path,
    await createCrl(ca, {
      revoked: [{ serial: cert.serialNumber }],
      crlNumber: 2,
      thisUpdate: new Date(t0 + 8 * MIN),
      nextUpdate: new Date(t0 + 20 * MIN),
    }),
  );
  clock = t0 + 5 * MIN;
  assert.deepEqual((await crls.refreshDue()).results, [], 'nothing due yet');
  assert.equal(crlServer.requests(path), 1);
  clock = due;
  assert.deepEqual((await crls.refreshDue()).results, [{ url: crlServer.url(path), outcome: 'updated' }]);
  assert.equal(refused(await checkOnce(cert)), 'revoked');

  // A CRL past its nextUpdate (plus the skew allowance) no longer counts.
  crlServer.fail(path, 500);
  clock = t0 + 20 * MIN + 3 * MIN;
  await crls.refreshDue();
  assert.equal(refused(await checkOnce(cert)), 'revocation_unknown');
});
