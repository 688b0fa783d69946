/**
 * The CA side of SCEP: one-time challenges (single use even when raced, expiry with an injected
 * clock), static challenges, renewal with a certificate this CA issued, resends, polling, and the
 * failInfo each refusal carries.
 */
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { forEachDatabase } from '../store/testing.ts';
import { isPkiError } from './errors.ts';
import type { ScepEnrollResult, ScepPollResult } from './scep/index.ts';
import { opensslCsr, openTestCa, type TempDir, tempDir } from './testing.ts';
import { pemBlocks } from './x509.ts';

const VALUES = {
  DeviceUid: 'F2LX-0042',
  EmailAddress: 'carol@contoso.example',
  UserPrincipalName: 'carol@corp.example',
};
const DYNAMIC = {
  name: 'ens',
  subject: 'CN={DeviceUid},O=Contoso',
  sanEmail: '{EmailAddress}',
  sanUpn: '{UserPrincipalName}',
};
const STATIC_SECRET = 'kiosk-static-Secret-1';

function csrDer(dir: TempDir, name: string, options: Parameters<typeof opensslCsr>[2] = {}): Buffer {
  return pemBlocks(opensslCsr(dir, name, options))[0]!.der;
}

function issuedCertificate(result: ScepEnrollResult): X509Certificate {
  assert.equal(result.status, 'SUCCESS', result.status === 'FAILURE' ? result.reason : '');
  return new X509Certificate(result.certificateDer);
}

function refused(result: ScepPollResult, failInfo: string, reason: RegExp): void {
  assert.equal(result.status, 'FAILURE');
  if (result.status !== 'FAILURE') return;
  assert.equal(result.failInfo, failInfo);
  assert.match(result.reason, reason);
}

forEachDatabase(
  'pki/scep: a one-time challenge issues once, with the names it binds',
  async (store, { t, clock }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store, { now: clock.now });
    await ca.addTemplate(DYNAMIC);
    const scep = ca.scep();
    const created = await ca.createChallenge({ template: 'ens', values: VALUES, registrationId: 'reg-5' });
    assert.match(created.challenge, /^[0-9A-F]{32}$/);
    assert.equal(created.expiresAt, clock.now() + 60 * 60_000);
    // Only a hash is stored.
    const row = JSON.stringify(await store.db.selectFrom('pki_challenges').selectAll().execute());
    assert.ok(!row.includes(created.challenge) && !row.includes(created.challenge.toLowerCase()));

    // The CSR claims to be someone else: the certificate is for the challenge's values.
    const csr = csrDer(dir, 'd', {
      subject: '/CN=administrator',
      addext: 'subjectAltName=email:ceo@contoso.example',
    });
    const result = await scep.enroll({ csrDer: csr, challenge: created.challenge, transactionId: 'tx-1' });
    const certificate = issuedCertificate(result);
    assert.equal(certificate.subject, 'CN=F2LX-0042\nO=Contoso');
    assert.equal(certificate.subjectAltName, 'email:carol@contoso.example, othername:UPN:carol@corp.example');
    const record = (await ca.list())[0]!;
    assert.equal(record.registrationId, 'reg-5');
    assert.equal(record.transactionId, 'tx-1');

    // The same request resent (the reply was lost): the same certificate, not a refusal.
    const resent = await scep.enroll({ csrDer: csr, challenge: created.challenge, transactionId: 'tx-1' });
    assert.deepEqual(resent, result);
    assert.deepEqual(await scep.poll({ transactionId: 'tx-1' }), result);
    refused(
      await scep.poll({ transactionId: 'tx-unknown' }),
      'badCertId',
      /no certificate was issued for this transaction/,
    );

    // A second use, with another key and transaction: refused.
    const again = await scep.enroll({
      csrDer: csrDer(dir, 'e'),
      challenge: created.challenge,
      transactionId: 'tx-2',
    });
    refused(again, 'badRequest', /used already/);
    assert.equal((await ca.list()).length, 1);
  },
);

forEachDatabase(
  'pki/scep: challenges expire after 60 minutes; racing uses get one certificate',
  async (store, { t, clock }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store, { now: clock.now });
    await ca.addTemplate(DYNAMIC);
    const scep = ca.scep();
    const csr = csrDer(dir, 'd');

    const late = await ca.createChallenge({ template: 'ens', values: VALUES });
    clock.advance(60 * 60_000);
    refused(
      await scep.enroll({ csrDer: csr, challenge: late.challenge, transactionId: 'tx-late' }),
      'badRequest',
      /expired/,
    );

    const raced = await ca.createChallenge({ template: 'ens', values: VALUES });
    clock.advance(59 * 60_000);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        scep.enroll({ csrDer: csr, challenge: raced.challenge, transactionId: `tx-race-${i}` }),
      ),
    );
    assert.equal(
      results.filter((r) => r.status === 'SUCCESS').length,
      1,
      JSON.stringify(results.map((r) => r.status)),
    );
    for (const result of results.filter((r) => r.status === 'FAILURE'))
      refused(result, 'badRequest', /used already/);
    assert.equal((await ca.list()).length, 1, 'the losers issued nothing');
  },
);

forEachDatabase(
  'pki/scep: static challenge uses the CSR subject; refusals and their failInfo',
  async (store, { t, clock }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store, { now: clock.now });
    await ca.addTemplate(DYNAMIC);
    await ca.addTemplate({
      name: 'kiosk',
      subject: 'CN={DeviceUid}',
      sanEmail: '{EmailAddress}',
      challenge: `static:${STATIC_SECRET}`,
      keySize: 3072,
    });
    const scep = ca.scep();

    const strong = csrDer(dir, 'k', {
      bits: 3072,
      subject: '/CN=kiosk-12/O=Contoso',
      addext: 'subjectAltName=email:kiosk12@contoso.example',
    });
    const certificate = issuedCertificate(
      await scep.enroll({ csrDer: strong, challenge: STATIC_SECRET, transactionId: 'k1' }),
    );
    assert.equal(certificate.subject, 'CN=kiosk-12\nO=Contoso');
    assert.equal(certificate.subjectAltName, 'email:kiosk12@contoso.example');
    // A static challenge is reusable.
    issuedCertificate(
      await scep.enroll({
        csrDer: csrDer(dir, 'k2', { bits: 3072 }),
        challenge: STATIC_SECRET,
        transactionId: 'k2',
      }),
    );

    refused(
      await scep.enroll({ csrDer: csrDer(dir, 'weak'), challenge: STATIC_SECRET, transactionId: 'k3' }),
      'badAlg',
      /at least 3072 bits/,
    );
    refused(
      await scep.enroll({ csrDer: strong, challenge: 'guess', transactionId: 'k4' }),
      'badRequest',
      /not valid/,
    );
    refused(
      await scep.enroll({ csrDer: strong, transactionId: 'k5' }),
      'badRequest',
      /challenge password is required/,
    );
    refused(
      await scep.enroll({ csrDer: Buffer.from('junk'), challenge: STATIC_SECRET, transactionId: 'k6' }),
      'badMessageCheck',
      /PKCS #10/,
    );
    // One-time challenges only for dynamic templates.
    await assert.rejects(ca.createChallenge({ template: 'kiosk', values: VALUES }), (e: unknown) =>
      isPkiError(e, 'pki_invalid_template'),
    );
    await assert.rejects(
      ca.createChallenge({ template: 'ens', values: { DeviceUid: 'x' } }),
      /needs \{EmailAddress\}/,
    );

    // What SCEP encrypts to and signs with: the issuing CA.
    const recipient = scep.recipient();
    assert.ok(recipient.certificateDer.equals(ca.chainDer()[0]!));
    assert.ok(
      createPublicKey(recipient.privateKey)
        .export({ type: 'spki', format: 'der' })
        .equals(
          new X509Certificate(recipient.certificateDer).publicKey.export({ type: 'spki', format: 'der' }),
        ),
    );
    assert.deepEqual(scep.caChain().der, ca.chainDer());
  },
);

forEachDatabase(
  'pki/scep: renewal with a valid certificate of this CA, same subject',
  async (store, { t, clock }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store, { now: clock.now });
    await ca.addTemplate(DYNAMIC);
    const scep = ca.scep();
    const { challenge } = await ca.createChallenge({
      template: 'ens',
      values: VALUES,
      registrationId: 'reg-7',
    });
    const first = await scep.enroll({ csrDer: csrDer(dir, 'a'), challenge, transactionId: 'r1' });
    assert.equal(first.status, 'SUCCESS');
    const signer = first.status === 'SUCCESS' ? first.certificateDer : Buffer.alloc(0);
    clock.advance(300 * 86_400_000);

    // Same subject, new key, signed with the old certificate: renewed without a challenge.
    const renewalCsr = csrDer(dir, 'b', { subject: '/CN=F2LX-0042/O=Contoso' });
    const renewed = issuedCertificate(
      await scep.enroll({
        csrDer: renewalCsr,
        transactionId: 'r2',
        renewal: { signerCertificateDer: signer },
      }),
    );
    assert.equal(renewed.subject, 'CN=F2LX-0042\nO=Contoso');
    assert.equal(renewed.subjectAltName, 'email:carol@contoso.example, othername:UPN:carol@corp.example');
    assert.equal((await ca.list())[0]?.registrationId, 'reg-7', 'the renewal stays with the registration');

    // Another subject: refused.
    refused(
      await scep.enroll({
        csrDer: csrDer(dir, 'c', { subject: '/CN=someone-else' }),
        transactionId: 'r3',
        renewal: { signerCertificateDer: signer },
      }),
      'badRequest',
      /keep the subject/,
    );
    // A look-alike with a known serial but other bytes (a forged signature) was not issued here.
    const foreign = Buffer.from(signer);
    foreign[foreign.length - 10]! ^= 0x01;
    refused(
      await scep.enroll({
        csrDer: renewalCsr,
        transactionId: 'r4',
        renewal: { signerCertificateDer: foreign },
      }),
      'badCertId',
      /not issued by this CA/,
    );
    // Revoked or expired: refused.
    const serial = new X509Certificate(signer).serialNumber;
    await ca.revoke(serial, 'superseded');
    refused(
      await scep.enroll({
        csrDer: renewalCsr,
        transactionId: 'r5',
        renewal: { signerCertificateDer: signer },
      }),
      'badCertId',
      /revoked/,
    );
    const renewedDer = Buffer.from(renewed.raw);
    clock.advance(400 * 86_400_000);
    refused(
      await scep.enroll({
        csrDer: renewalCsr,
        transactionId: 'r6',
        renewal: { signerCertificateDer: renewedDer },
      }),
      'badTime',
      /not valid now/,
    );
  },
);
