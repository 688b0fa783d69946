/**
 * Issue 7's proof with a real SCEP client: Debian's certmonger enrols against Herald's own SCEP
 * server (`herald serve`, `/pki/scep`) with a dynamic challenge from the PKI admin API (the NDES
 * mscep_admin equivalent) and reaches MONITORING with a certificate whose subject and SANs come
 * from the template filled with the challenge's values, whatever certmonger asked for; a reused
 * challenge and one past its 60 minutes (Herald's clock moved on) end in CA_REJECTED. The
 * certificate certmonger got is then accepted by Herald's gateway, and refused once revoked.
 *
 * Skipped with a message when certmonger is not installed, except under CI (a failure then).
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  type Certmonger,
  certmongerMissing,
  requireCertmongerUnderCi,
  startCertmonger,
} from '../support/certmonger.ts';
import { startTestGateway } from '../support/gateway.ts';
import { type RunningHerald, startHerald } from '../support/herald.ts';
import { type PkiAdminCall, pkiAdmin, TEST_PKI_CONFIG } from '../support/pki-admin.ts';

const CA_NAME = 'herald';
const BOB = { user: 'bob@corp.contoso.example', email: 'bob@contoso.example', deviceUid: 'ApplBOB0001' };

const missing = certmongerMissing();
requireCertmongerUnderCi(missing);

describe("certmonger enrols against Herald's SCEP server", { skip: missing ?? false }, () => {
  let herald: RunningHerald;
  let api: PkiAdminCall;
  let certmonger: Certmonger;
  let clockOffsetMs = 0;
  let chainPem: string;
  let issuing: X509Certificate;

  const path = (...parts: string[]) => certmonger.path(...parts);
  const challenge = async (values: typeof BOB) => {
    const created = await api('POST', '/challenges', { template: 'ens', ...values });
    assert.equal(created.status, 201, created.text);
    return String(created.json.challenge);
  };
  /** certmonger asks for a subject of its own: a dynamic challenge makes Herald ignore it. */
  const request = (id: string, password: string, name: string) =>
    certmonger.request({
      ca: CA_NAME,
      id,
      challenge: password,
      subject: 'CN=whatever-certmonger-asks-for',
      certFile: path('out', `${name}.pem`),
      keyFile: path('out', `${name}.key`),
    });

  before(async () => {
    herald = await startHerald({
      config: { pki: TEST_PKI_CONFIG },
      overrides: { now: () => Date.now() + clockOffsetMs },
    });
    api = pkiAdmin(herald);
    const template = await api('POST', '/templates', {
      name: 'ens',
      subject: 'CN={DeviceUid},O=Contoso',
      sanEmail: '{EmailAddress}',
      sanUpn: '{UserPrincipalName}',
    });
    assert.equal(template.status, 201, template.text);
    chainPem = String((await api('GET', '/ca')).json.chainPem);
    const [issuingPem, rootPem] = chainPem.split(/(?<=-----END CERTIFICATE-----\n)/);
    issuing = new X509Certificate(issuingPem!);

    certmonger = await startCertmonger();
    writeFileSync(path('root.pem'), rootPem!);
    await certmonger.addScepCa(CA_NAME, `${herald.url}/pki/scep`, path('root.pem'));
  });

  after(async () => {
    await certmonger?.close();
    await herald?.stop();
  });

  test('GetCACaps and GetCACert: certmonger fetches the CA from Herald', async () => {
    await certmonger.waitForCa(CA_NAME);
  });

  test('getcert request -L <challenge from the admin API>: MONITORING, names from the template and the challenge', async () => {
    await request('bob', await challenge(BOB), 'bob');
    await certmonger.settle('bob', 'MONITORING');
    const certificate = new X509Certificate(readFileSync(path('out', 'bob.pem')));
    assert.ok(certificate.checkIssued(issuing), "issued by Herald's issuing CA");
    assert.ok(certificate.verify(issuing.publicKey));
    assert.ok(certificate.checkPrivateKey(createPrivateKey(readFileSync(path('out', 'bob.key')))));
    assert.equal(certificate.subject, `CN=${BOB.deviceUid}\nO=Contoso`);
    assert.equal(certificate.subjectAltName, `email:${BOB.email}, othername:UPN:${BOB.user}`);
    assert.deepEqual(certificate.keyUsage, ['1.3.6.1.5.5.7.3.2']);

    const listed = await api('GET', '/certificates?template=ens');
    const serials = (listed.json.certificates as Array<{ serial: string }>).map((c) => c.serial);
    assert.deepEqual(serials, [certificate.serialNumber.toLowerCase()]);
  });

  test('the same challenge again: CA_REJECTED, no certificate', async () => {
    const password = await challenge({ ...BOB, deviceUid: 'ApplBOB0002' });
    await request('once', password, 'once');
    await certmonger.settle('once', 'MONITORING');
    await request('reused', password, 'reused');
    const { listing } = await certmonger.settle('reused', 'CA_REJECTED');
    // certmonger's words for failInfo badRequest (RFC 8894 §3.2.1.4).
    assert.match(listing, /ca-error: Transaction either is not permitted or is not supported by server/);
    assert.equal(existsSync(path('out', 'reused.pem')), false);
  });

  test('a challenge past its 60 minutes: CA_REJECTED; the time was the reason', async (t) => {
    const password = await challenge({ ...BOB, deviceUid: 'ApplBOB0003' });
    clockOffsetMs = 61 * 60_000;
    t.after(() => {
      clockOffsetMs = 0;
    });
    await request('expired', password, 'expired');
    const { listing } = await certmonger.settle('expired', 'CA_REJECTED');
    assert.match(listing, /ca-error:/);
    assert.equal(existsSync(path('out', 'expired.pem')), false);
    const issued = (await api('GET', '/certificates')).json.certificates as Array<{ subject: string }>;
    assert.equal(
      issued.some((c) => c.subject.includes('ApplBOB0003')),
      false,
    );
    // Back within the 60 minutes the same (unused) challenge enrols: only its age refused it.
    clockOffsetMs = 0;
    await request('in-time', password, 'in-time');
    await certmonger.settle('in-time', 'MONITORING');
    assert.match(new X509Certificate(readFileSync(path('out', 'in-time.pem'))).subject, /CN=ApplBOB0003/);
  });

  test('the challenge in a device profile from the admin API enrols', async () => {
    const profile = await api('POST', '/profiles/android', {
      template: 'ens',
      deviceUid: 'ApplBOB0004',
      user: BOB.user,
      email: BOB.email,
      gatewayHost: 'mail.contoso.example',
      organization: 'Contoso',
    });
    assert.equal(profile.status, 200, profile.text);
    const certificate = profile.json.certificate as { challenge: string; scepUrl: string };
    assert.equal(certificate.scepUrl, `${herald.url}/pki/scep`);
    await request('profile', certificate.challenge, 'profile');
    await certmonger.settle('profile', 'MONITORING');
    const issued = new X509Certificate(readFileSync(path('out', 'profile.pem')));
    assert.equal(issued.subject, 'CN=ApplBOB0004\nO=Contoso');
  });

  test("Herald's gateway accepts certmonger's certificate, and refuses it once revoked", async () => {
    const gw = await startTestGateway({
      store: herald.service.store,
      trustedCaPem: chainPem,
      gateway: { crl: { refreshSeconds: 3600 } },
    });
    try {
      const cert = {
        certPem: readFileSync(path('out', 'bob.pem'), 'utf8'),
        keyPem: readFileSync(path('out', 'bob.key'), 'utf8'),
      };
      const activeSync = `/Microsoft-Server-ActiveSync?Cmd=Options&User=bob&DeviceId=${BOB.deviceUid}&DeviceType=iPhone`;
      const accepted = await gw.request({ path: activeSync, cert });
      assert.equal(accepted.status, 200, accepted.body.toString('utf8'));

      const serial = new X509Certificate(cert.certPem).serialNumber;
      const revoked = await api('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
      assert.equal(revoked.status, 200, revoked.text);
      await gw.gateway.crls!.refreshAll();
      const refused = await gw.request({ path: activeSync, cert });
      assert.equal(refused.status, 403);
      assert.equal(refused.headers['x-herald-gateway'], 'certificate; reason=revoked');
    } finally {
      await gw.close();
    }
  });
});
