/**
 * The CRL cache on its own (no TLS): first-request waiting and its bound, one download shared by
 * concurrent callers, configured URLs, delta CRLs that cannot apply, rollback and size limits,
 * PEM bodies, the disk files, and that certificates of untrusted CAs make it fetch nothing.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { LogCapture } from '../../../test/support/logs.ts';
import {
  type CrlServer,
  createCrl,
  createTestCa,
  issueClientCertificate,
  startCrlServer,
  type TestCa,
} from '../../../test/support/pki.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { createLogger } from '../../log/index.ts';
import { CrlCache, type CrlCacheOptions } from './crl-cache.ts';

let ca: TestCa;
let rsaCa: TestCa;
let otherCa: TestCa;
let server: CrlServer;
const dirs: string[] = [];
const caches: CrlCache[] = [];

before(async () => {
  ca = await createTestCa('Herald Test Device CA');
  rsaCa = await createTestCa('Herald Test RSA CA', { algorithm: 'rsa' });
  otherCa = await createTestCa('Some Other CA');
  server = await startCrlServer();
});

afterEach(() => {
  for (const cache of caches.splice(0)) cache.stop();
});

after(async () => {
  await server.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'herald-crl-'));
  dirs.push(dir);
  return dir;
}

function cache(options: Partial<CrlCacheOptions> = {}, logs = new LogCapture()): CrlCache {
  const crls = new CrlCache({
    dir: tempDir(),
    trustedCas: [`${ca.certPem}\n${rsaCa.certPem}`],
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

let counter = 0;
function path(name = 'crl'): string {
  return `/c${++counter}/${name}.crl`;
}

async function device(issuer: TestCa, crlUrl?: string, deltaCrlUrl?: string) {
  const issued = await issueClientCertificate(issuer, {
    cn: 'device',
    ...(crlUrl ? { crlUrl } : {}),
    ...(deltaCrlUrl ? { deltaCrlUrl } : {}),
  });
  return { ...issued, node: new X509Certificate(issued.certPem) };
}

test('crl-cache/first request: status() is unknown, prepare() waits for the one shared download', async () => {
  const p = path();
  server.set(p, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const cert = await device(ca, server.url(p));
  const crls = cache();
  assert.equal(crls.status(cert.node), 'unknown');
  const statuses = await Promise.all([crls.prepare(cert.node), crls.prepare(cert.node)]);
  assert.deepEqual(statuses, ['good', 'good']);
  assert.equal(crls.status(cert.node), 'good');
  assert.equal(server.requests(p), 1, 'concurrent callers share one download');
  assert.equal(crls.findIssuer(cert.node)?.fingerprint256, new X509Certificate(ca.certPem).fingerprint256);
});

test('crl-cache/prepare() waits at most fetchTimeoutMs, and does not retry before the backoff', async () => {
  const sockets: Socket[] = [];
  const silent: Server = createServer((socket) => sockets.push(socket)); // accepts, never answers
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}/ca.crl`;
  try {
    const cert = await device(ca, url);
    const logs = new LogCapture();
    const crls = cache({ fetchTimeoutMs: 300 }, logs);
    const started = performance.now();
    assert.equal(await crls.prepare(cert.node), 'unknown');
    const waited = performance.now() - started;
    assert.ok(waited >= 250 && waited < 2000, `waited ${waited} ms`);
    const stats = crls.stats().urls[0]!;
    assert.equal(stats.lastOutcome, 'failed');
    assert.equal(stats.lastReason, 'timeout');
    assert.equal(stats.consecutiveFailures, 1);
    const again = performance.now();
    assert.equal(await crls.prepare(cert.node), 'unknown');
    assert.ok(performance.now() - again < 100, 'within the backoff a new device does not wait again');
    assert.equal(sockets.length, 1);
    assert.match(logs.text(), /CRL refresh failed; none held/);
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});

test('crl-cache/certificates of an untrusted CA: unknown, and their CRL URLs are never fetched', async () => {
  const p = path();
  server.set(p, await createCrl(otherCa, { revoked: [], crlNumber: 1 }));
  const cert = await device(otherCa, server.url(p));
  const crls = cache();
  assert.equal(crls.status(cert.node), 'unknown');
  assert.equal(await crls.prepare(cert.node), 'unknown');
  assert.equal(crls.findIssuer(cert.node), undefined);
  assert.equal(server.requests(p), 0);
  assert.equal(crls.stats().urls.length, 0);
});

test('crl-cache/an issuer given by the caller must be the trusted CA that signed the certificate', async () => {
  const p = path();
  server.set(p, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const cert = await device(ca, server.url(p));
  const crls = cache();
  assert.equal(await crls.prepare(cert.node, new X509Certificate(ca.certPem)), 'good');
  assert.equal(crls.status(cert.node, new X509Certificate(rsaCa.certPem)), 'unknown');
});

test('crl-cache/configured URLs: fetched at start, used for certificates of their issuer only', async () => {
  const p = path();
  const noCdp = await device(ca);
  const rsaDevice = await device(rsaCa);
  server.set(p, await createCrl(ca, { revoked: [{ serial: noCdp.serialNumber }], crlNumber: 7 }));
  const crls = cache({ urls: [server.url(p)] });
  await crls.start();
  assert.equal(server.requests(p), 1);
  assert.equal(crls.status(noCdp.node), 'revoked');
  assert.equal(crls.status(rsaDevice.node), 'unknown', 'another CA needs its own CRL');
  const stats = crls.stats();
  assert.equal(stats.crlsLoaded, 1);
  assert.equal(stats.revokedEntries, 1);
  assert.deepEqual(
    {
      configured: stats.urls[0]!.configured,
      crlNumber: stats.urls[0]!.crlNumber,
      delta: stats.urls[0]!.delta,
    },
    { configured: true, crlNumber: '7', delta: false },
  );
});

test('crl-cache/a partitioned CRL (Issuing Distribution Point) covers only its own partition', async () => {
  const a = path('partition-a');
  const b = path('partition-b');
  const inA = await device(ca, server.url(a));
  const inB = await device(ca, server.url(b));
  // The operator configures partition A's URL; it must not vouch for partition B's devices.
  server.set(a, await createCrl(ca, { revoked: [], crlNumber: 1, distributionPoint: server.url(a) }));
  const crls = cache({ urls: [server.url(a)] });
  await crls.start();
  assert.equal(crls.status(inA.node), 'good');
  server.fail(b, 404);
  assert.equal(await crls.prepare(inB.node), 'unknown');
  server.set(
    b,
    await createCrl(ca, {
      revoked: [{ serial: inB.serialNumber }],
      crlNumber: 1,
      distributionPoint: server.url(b),
    }),
  );
  await crls.refreshAll();
  assert.equal(crls.status(inB.node), 'revoked');
});

test('crl-cache/RSA CA and a PEM-encoded CRL body are accepted', async () => {
  const p = path();
  const cert = await device(rsaCa, server.url(p));
  const der = await createCrl(rsaCa, { revoked: [{ serial: cert.serialNumber }], crlNumber: 1 });
  const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
  server.set(p, Buffer.from(pem));
  const crls = cache();
  assert.equal(await crls.prepare(cert.node), 'revoked');
});

test('crl-cache/a failed refresh keeps the last good CRL; an older CRL does not replace a newer one', async () => {
  const p = path();
  const cert = await device(ca, server.url(p));
  server.set(p, await createCrl(ca, { revoked: [{ serial: cert.serialNumber }], crlNumber: 5 }));
  const crls = cache();
  assert.equal(await crls.prepare(cert.node), 'revoked');
  server.fail(p, 500);
  assert.deepEqual((await crls.refreshAll()).results, [
    { url: server.url(p), outcome: 'failed', reason: 'http_500' },
  ]);
  assert.equal(crls.status(cert.node), 'revoked', 'kept until its nextUpdate');
  server.set(p, await createCrl(ca, { revoked: [], crlNumber: 4 }));
  assert.deepEqual((await crls.refreshAll()).results, [
    { url: server.url(p), outcome: 'invalid', reason: 'older_than_held' },
  ]);
  assert.equal(crls.status(cert.node), 'revoked', 'a replayed older CRL does not un-revoke');
  server.set(p, await createCrl(ca, { revoked: [], crlNumber: 6 }));
  const generation = crls.generation;
  assert.equal((await crls.refreshAll()).results[0]!.outcome, 'updated');
  assert.equal(crls.status(cert.node), 'good');
  assert.equal((await crls.refreshAll()).results[0]!.outcome, 'unchanged');
  assert.equal(crls.generation, generation + 1, 'generation changes with content only');
});

test('crl-cache/size limit: a CRL larger than maxBytes is refused', async () => {
  const p = path();
  const cert = await device(ca, server.url(p));
  const serials = Array.from({ length: 50 }, (_, i) => ({ serial: (0x1000 + i).toString(16) }));
  server.set(p, await createCrl(ca, { revoked: serials, crlNumber: 1 }));
  const crls = cache({ maxBytes: 512 });
  assert.equal(await crls.prepare(cert.node), 'unknown');
  assert.equal(crls.stats().urls[0]!.lastReason, 'too_large');
});

test('crl-cache/delta CRLs: unknown while the published delta is missing or needs a newer base', async () => {
  const base = path('base');
  const delta = path('delta');
  const cert = await device(ca, server.url(base));
  server.set(base, await createCrl(ca, { revoked: [], crlNumber: 3, freshestUrl: server.url(delta) }));
  const crls = cache();
  assert.equal(await crls.prepare(cert.node), 'unknown', 'the base names a delta that is not there (404)');
  assert.equal(server.requests(delta), 1);

  // A delta for base 5 while we hold base 3: changes between 3 and 5 are in neither.
  server.set(delta, await createCrl(ca, { revoked: [], crlNumber: 6, deltaOf: 5 }));
  await crls.refreshAll();
  assert.equal(crls.status(cert.node), 'unknown');

  server.set(base, await createCrl(ca, { revoked: [], crlNumber: 5, freshestUrl: server.url(delta) }));
  await crls.refreshAll();
  assert.equal(crls.status(cert.node), 'good', 'base 5 + delta 6');

  // A base newer than every delta held stands alone (it already contains what they said).
  server.set(
    base,
    await createCrl(ca, {
      revoked: [{ serial: cert.serialNumber }],
      crlNumber: 7,
      freshestUrl: server.url(delta),
    }),
  );
  server.fail(delta, 500);
  await crls.refreshAll();
  assert.equal(crls.status(cert.node), 'revoked');
  assert.equal(crls.stats().urls.find((u) => u.url === server.url(delta))?.delta, true);
});

test('crl-cache/background refresh: the timer started by start() fetches again every refreshSeconds', async () => {
  const p = path();
  const cert = await device(ca, server.url(p));
  server.set(p, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const crls = cache({ urls: [server.url(p)], refreshSeconds: 1 });
  await crls.start();
  assert.equal(crls.status(cert.node), 'good');
  server.set(p, await createCrl(ca, { revoked: [{ serial: cert.serialNumber }], crlNumber: 2 }));
  await waitFor(() => crls.status(cert.node) === 'revoked', 'the background refresh to pick up CRL 2', 5000);
  assert.equal(server.requests(p), 2);
});

test('crl-cache/disk files: directory 0700, DER and JSON per URL named by the URL hash', async () => {
  const p = path();
  server.set(p, await createCrl(ca, { revoked: [], crlNumber: 1 }));
  const cert = await device(ca, server.url(p));
  const dir = join(tempDir(), 'crl');
  const crls = cache({ dir });
  await crls.start();
  assert.equal(await crls.prepare(cert.node), 'good');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const files = readdirSync(dir).sort();
  assert.equal(files.length, 2);
  assert.match(files[0]!, /^[0-9a-f]{64}\.crl$/);
  assert.match(files[1]!, /^[0-9a-f]{64}\.json$/);
  assert.equal(statSync(join(dir, files[0]!)).mode & 0o777, 0o600);

  // A restart reads it back without fetching (not due yet) and answers from it.
  const again = cache({ dir });
  await again.start();
  assert.equal(again.status(cert.node), 'good');
  assert.equal(server.requests(p), 1);
  assert.equal(again.stats().urls[0]!.fetchedAt?.getTime(), crls.stats().urls[0]!.fetchedAt?.getTime());
});
