/**
 * Secrets and personal data never reach the CA's logs: a full run at trace level (CA creation,
 * templates, one-time and static challenges, SCEP refusals, PKCS #12, revocation, CRLs) is
 * captured and searched for every secret and personal value it used.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../log/index.ts';
import { forEachDatabase } from '../store/testing.ts';
import { CA_KEY_PURPOSE } from './authorities.ts';
import { opensslCsr, openTestCa, TEST_MASTER, tempDir } from './testing.ts';
import { pemBlocks } from './x509.ts';

forEachDatabase(
  'pki/logs: no challenge, passphrase, key or personal value is logged',
  async (store, { t }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'trace', destination });
    const ca = await openTestCa(store, { logger });
    const staticSecret = 'Static-Challenge-Secret-77';
    const values = {
      DeviceUid: 'DEVICE-UID-5150',
      EmailAddress: 'dana.private@contoso.example',
      UserPrincipalName: 'dana.upn@corp.example',
    };
    await ca.addTemplate({
      name: 'ens',
      subject: 'CN={DeviceUid}',
      sanEmail: '{EmailAddress}',
      sanUpn: '{UserPrincipalName}',
    });
    await ca.addTemplate({ name: 'kiosk', subject: 'CN={DeviceUid}', challenge: `static:${staticSecret}` });

    const { challenge } = await ca.createChallenge({ template: 'ens', values });
    const scep = ca.scep();
    const csr = pemBlocks(
      opensslCsr(dir, 'd', {
        subject: '/CN=csr-subject-private',
        addext: 'subjectAltName=email:csr.private@contoso.example',
      }),
    )[0]!.der;
    assert.equal((await scep.enroll({ csrDer: csr, challenge, transactionId: 't1' })).status, 'SUCCESS');
    assert.equal((await scep.enroll({ csrDer: csr, challenge, transactionId: 't2' })).status, 'FAILURE');
    assert.equal(
      (await scep.enroll({ csrDer: csr, challenge: staticSecret, transactionId: 't3' })).status,
      'SUCCESS',
    );
    assert.equal(
      (await scep.enroll({ csrDer: csr, challenge: `${staticSecret}x`, transactionId: 't4' })).status,
      'FAILURE',
    );
    const passphrase = 'P12-Passphrase-Private-99';
    const { certificate } = await ca.issueWithGeneratedKey({ template: 'ens', values, passphrase });
    await ca.revoke(certificate.serial, 'keyCompromise');
    await ca.generateCrls({ full: true });

    const log = lines.join('');
    assert.match(log, /pki: issued a certificate/, 'the run did log');
    assert.match(log, /pki: SCEP request refused/);
    const rows = await store.pki.authorities.list();
    const caKeys = rows.map((row) => TEST_MASTER.open(row.privateKeyEnc!, CA_KEY_PURPOSE, row.id));
    const secrets = [
      challenge,
      challenge.toLowerCase(),
      staticSecret,
      passphrase,
      ...Object.values(values),
      'csr-subject-private',
      'csr.private@contoso.example',
      // 3-byte-aligned slices: they appear as is in any base64 (PEM) of a whole key.
      ...caKeys.map((key) => key.subarray(99, 138).toString('base64')),
      'PRIVATE KEY',
    ];
    for (const secret of secrets)
      assert.ok(!log.includes(secret), `the log contains ${secret.slice(0, 12)}…`);
  },
);
