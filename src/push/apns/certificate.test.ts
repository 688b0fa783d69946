/**
 * Certificate-based provider authentication (Apple, "Establishing a certificate-based connection
 * to APNs"): the PKCS#12 client certificate authenticates the TLS connection; its subject UID
 * names the one app (topic) it may push to.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ApnsSimulator, startApnsSimulator } from '../../sim/apns/index.ts';
import { type ApnsCertificate, deviceToken, makeApnsCertificate } from '../testkit.ts';
import { createApnsSender } from './sender.ts';

const TOPIC = 'com.example.mail';
const dir = mkdtempSync(join(tmpdir(), 'herald-apns-cert-'));
let sim: ApnsSimulator;
let certificate: ApnsCertificate;

before(async () => {
  certificate = await makeApnsCertificate(dir, TOPIC, 'p12-secret');
  sim = await startApnsSimulator({ clientCa: certificate.caPem });
});

after(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

function certificateSender(passphrase = certificate.passphrase) {
  return createApnsSender({
    endpoint: sim.url,
    ca: [sim.ca],
    auth: { kind: 'certificate', pfx: readFileSync(certificate.p12File), passphrase },
  });
}

test('certificate/auth: pushes are accepted on the certificate alone, with its subject recorded', async () => {
  const sender = certificateSender();
  const token = deviceToken();
  try {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sender.send(
          { platform: 'ios', token, appId: TOPIC, environment: 'production' },
          { type: 'new_mail', registrationId: 'r', itemId: `i${i}`, alert: { title: 'A', body: 'B' } },
        ),
      ),
    );
    assert.ok(results.every((r) => r.status === 'sent'));
  } finally {
    await sender.close();
  }
  const received = sim.received({ token });
  assert.equal(received.length, 20);
  const auth = received[0]!.auth;
  assert.equal(auth.kind, 'certificate');
  assert.match(auth.kind === 'certificate' ? auth.subject : '', /Apple Push Services: com\.example\.mail/);
  assert.equal(new Set(received.map((r) => r.connectionId)).size, 1, 'one connection for all');
  assert.equal(received[0]!.topic, TOPIC);
});

test('certificate/topic: another app than the certificate’s → TopicDisallowed, failed, sent once', async () => {
  const sender = certificateSender();
  const token = deviceToken();
  try {
    const result = await sender.send(
      { platform: 'ios', token, appId: 'com.example.other', environment: 'production' },
      { type: 'badge', registrationId: 'r', badge: 1 },
    );
    assert.equal(result.status, 'failed');
    assert.equal(result.status === 'failed' && result.reason, 'TopicDisallowed');
  } finally {
    await sender.close();
  }
  assert.equal(sim.requests({ token }).length, 1);
});

test('certificate/wrong passphrase: failed at once, nothing reaches APNs', async () => {
  const sender = certificateSender('wrong');
  const token = deviceToken();
  try {
    const result = await sender.send(
      { platform: 'ios', token, appId: TOPIC, environment: 'production' },
      { type: 'badge', registrationId: 'r', badge: 1 },
    );
    assert.equal(result.status, 'failed');
  } finally {
    await sender.close();
  }
  assert.equal(sim.requests({ token }).length, 0);
});

test('certificate/untrusted: a certificate APNs did not issue → 403 BadCertificate, failed', async () => {
  const strangerDir = mkdtempSync(join(tmpdir(), 'herald-apns-cert-'));
  const stranger = await makeApnsCertificate(strangerDir, TOPIC, 'other-secret');
  const sender = createApnsSender({
    endpoint: sim.url,
    ca: [sim.ca],
    auth: { kind: 'certificate', pfx: readFileSync(stranger.p12File), passphrase: stranger.passphrase },
  });
  const token = deviceToken();
  try {
    const result = await sender.send(
      { platform: 'ios', token, appId: TOPIC, environment: 'production' },
      { type: 'badge', registrationId: 'r', badge: 1 },
    );
    assert.equal(result.status === 'failed' && result.reason, 'BadCertificate');
  } finally {
    await sender.close();
    rmSync(strangerDir, { recursive: true, force: true });
  }
  assert.equal(sim.requests({ token }).length, 1);
});
