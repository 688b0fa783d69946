/**
 * A real SCEP client against Herald's SCEP server: Debian's certmonger (`getcert add-scep-ca`,
 * `getcert request -L <challenge>`) enrols with a dynamic one-time challenge and gets a
 * certificate; the same challenge a second time, and a challenge past its 60 minutes, end in
 * CA_REJECTED; `getcert resubmit` renews with the issued certificate (certmonger signs that
 * PKCSReq with it: a renewal).
 *
 * certmonger runs as a child with private state (test/support/certmonger.ts). The SCEP plugin
 * listens on 127.0.0.1 over plain HTTP with the throwaway test CA; test/integration/
 * pki-certmonger.test.ts does the same against Herald's own CA served by `herald serve`.
 *
 * Skipped with a message when certmonger is not installed (scripts/install-system-packages.sh
 * installs it), except under CI, where that is a failure.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { createLogger } from '../../src/log/index.ts';
import { scepRoutes } from '../../src/pki/scep/index.ts';
import { createTestScepCa, type TestScepCa } from '../../src/pki/scep/testing-ca.ts';
import {
  type Certmonger,
  certmongerMissing,
  requireCertmongerUnderCi,
  startCertmonger,
} from '../support/certmonger.ts';

const CA_NAME = 'herald-test';

const missing = certmongerMissing();
requireCertmongerUnderCi(missing);

describe('certmonger enrols against the SCEP server', { skip: missing ?? false }, () => {
  let ca: TestScepCa;
  let clockOffsetMs = 0;
  let app: ReturnType<typeof Fastify>;
  let url: string;
  let certmonger: Certmonger;

  const path = (...parts: string[]) => certmonger.path(...parts);
  /** A request for `subject` with `challenge`, writing `<name>.pem` and `<name>.key` under out/. */
  const request = (id: string, challenge: string, subject: string, name: string) =>
    certmonger.request({
      ca: CA_NAME,
      id,
      challenge,
      subject,
      certFile: path('out', `${name}.pem`),
      keyFile: path('out', `${name}.key`),
    });

  function issuedBy(certificatePath: string): X509Certificate {
    const certificate = new X509Certificate(readFileSync(certificatePath));
    const issuing = new X509Certificate(ca.issuing.der);
    assert.ok(certificate.checkIssued(issuing), 'the certificate names the test CA as issuer');
    assert.ok(certificate.verify(issuing.publicKey), "the test CA's signature verifies");
    return certificate;
  }

  before(async () => {
    ca = await createTestScepCa({ now: () => new Date(Date.now() + clockOffsetMs) });
    const logger = createLogger({ level: 'warn' });
    app = Fastify({ loggerInstance: logger });
    await app.register(scepRoutes(ca, { logger }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/pki/scep`;

    certmonger = await startCertmonger();
    writeFileSync(path('root.pem'), ca.root.pem);
    await certmonger.addScepCa(CA_NAME, url, path('root.pem'));
  });

  after(async () => {
    await certmonger?.close();
    await app?.close();
  });

  test('GetCACaps and GetCACert: certmonger knows the CA and its capabilities', async () => {
    await certmonger.waitForCa(CA_NAME);
  });

  test('getcert request -L <dynamic challenge>: MONITORING with a certificate from the test CA', async () => {
    const challenge = ca.issueChallenge('herald-scep-device-1');
    await request('first', challenge, 'CN=herald-scep-device-1', 'cert');
    await certmonger.settle('first', 'MONITORING');
    const certificate = issuedBy(path('out', 'cert.pem'));
    assert.match(certificate.subject, /CN=herald-scep-device-1/);
    const key = createPrivateKey(readFileSync(path('out', 'cert.key')));
    assert.ok(certificate.checkPrivateKey(key), "the certificate is for certmonger's key");
    const seen = ca.requests.at(-1)!;
    assert.equal(seen.challenge, challenge);
    assert.equal(seen.renewal, undefined);
  });

  test('the same challenge again: CA_REJECTED, no certificate', async () => {
    const used = ca.requests.at(-1)!.challenge!;
    await request('reused', used, 'CN=herald-scep-device-1', 'reused');
    const { listing } = await certmonger.settle('reused', 'CA_REJECTED');
    // certmonger's words for failInfo badRequest (RFC 8894 §3.2.1.4).
    assert.match(listing, /ca-error: Transaction either is not permitted or is not supported by server/);
    assert.equal(existsSync(path('out', 'reused.pem')), false);
    const answer = await ca.poll({ transactionId: ca.requests.at(-1)!.transactionId });
    assert.equal(
      answer.status === 'FAILURE' && answer.reason,
      'The challenge password has been used already.',
    );
  });

  test('getcert resubmit: certmonger renews, signing with the issued certificate', async () => {
    const before = issuedBy(path('out', 'cert.pem')).serialNumber;
    await certmonger.getcert('resubmit', '-i', 'first');
    await certmonger.settle(
      'first',
      'MONITORING',
      async () => issuedBy(path('out', 'cert.pem')).serialNumber !== before,
    );
    const seen = ca.requests.at(-1)!;
    assert.ok(seen.renewal, 'the authority was asked for a renewal');
    assert.notEqual(issuedBy(path('out', 'cert.pem')).serialNumber, before);
  });

  test('a challenge past its 60 minutes: CA_REJECTED', async () => {
    const challenge = ca.issueChallenge('herald-scep-device-2');
    clockOffsetMs = 61 * 60_000;
    await request('expired', challenge, 'CN=herald-scep-device-2', 'expired');
    await certmonger.settle('expired', 'CA_REJECTED');
    assert.equal(existsSync(path('out', 'expired.pem')), false);
    const seen = ca.requests.at(-1)!;
    assert.equal(seen.challenge, challenge);
    const answer = await ca.poll({ transactionId: seen.transactionId });
    assert.equal(answer.status === 'FAILURE' && answer.reason, 'The challenge password has expired.');
  });
});
