/**
 * Importing an existing CA (made here with the openssl CLI, as an administrator would) from PEM
 * or PKCS #12: it becomes the active issuing CA, certificates chain to its root, the previous CA
 * stays and keeps publishing; bad input fails with a reason.
 */
import assert from 'node:assert/strict';
import { masterKeyFromBytes } from '../crypto/index.ts';
import { forEachDatabase } from '../store/testing.ts';
import { openCertificateAuthority } from './ca.ts';
import { isPkiError } from './errors.ts';
import { importAuthority } from './import.ts';
import {
  enterpriseCa,
  openssl,
  opensslCsr,
  opensslOk,
  openTestCa,
  silentLogger,
  TEST_MASTER,
  TEST_PUBLIC_URL,
  tempDir,
} from './testing.ts';
import { toPem } from './x509.ts';

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isPkiError(error, 'pki_import_failed'), `expected pki_import_failed, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

forEachDatabase(
  'pki/import: PEM bundle replaces the active CA; the old one keeps publishing',
  async (store, { t }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    enterpriseCa(dir);
    const ca = await openTestCa(store);
    const before = { issuing: ca.issuingId, root: ca.rootId };

    // The key encrypted (PKCS #1 with a passphrase), certificates in any order, no root key.
    opensslOk([
      'rsa',
      '-in',
      dir.file('sub.key'),
      '-aes256',
      '-traditional',
      '-passout',
      'pass:kEy-pass',
      '-out',
      dir.file('sub-enc.key'),
    ]);
    const pem = [dir.read('root.crt'), dir.read('sub-enc.key'), dir.read('sub.crt')].join('');
    await rejectsWith(ca.importAuthority({ pem, passphrase: 'wrong' }), /could not be read/);
    const imported = await ca.importAuthority({ pem, passphrase: 'kEy-pass' });
    assert.equal(imported.issuing.subject, 'CN=Contoso Devices CA, O=Contoso');
    assert.equal(imported.root?.subject, 'CN=Contoso Root, O=Contoso');
    assert.equal(imported.root?.privateKeyEnc, null, 'no root key given');
    assert.notEqual(imported.issuing.privateKeyEnc, null);
    assert.equal(ca.issuingId, imported.issuing.id);
    assert.equal(ca.rootId, imported.root?.id);

    // Issued certificates chain to the imported root and pass the imported CA's own CRL.
    await ca.addTemplate({ name: 'devices', subject: 'CN={DeviceUid}' });
    const issued = await ca.issueFromCsr(opensslCsr(dir, 'leaf'), {
      template: 'devices',
      values: { DeviceUid: 'dev-1' },
    });
    dir.write('leaf.pem', toPem(issued.certificateDer, 'CERTIFICATE'));
    dir.write('crl.der', (await ca.currentCrl('full'))!);
    opensslOk(['crl', '-inform', 'DER', '-in', dir.file('crl.der'), '-out', dir.file('crl.pem')]);
    const verified = openssl([
      'verify',
      '-CAfile',
      dir.file('root.crt'),
      '-untrusted',
      dir.file('sub.crt'),
      '-crl_check',
      '-CRLfile',
      dir.file('crl.pem'),
      dir.file('leaf.pem'),
    ]);
    assert.equal(verified.status, 0, verified.output);
    assert.equal(await ca.currentCrl('full', ca.rootId), undefined, 'no CRL without the root key');

    // The previous pair is inactive and still publishes CRLs (its certificates are still out there).
    const authorities = await ca.listAuthorities();
    assert.deepEqual(
      authorities.map((a) => [a.id, a.active]).sort(),
      [
        [before.issuing, false],
        [before.root, false],
        [imported.issuing.id, true],
        [imported.root!.id, true],
      ].sort(),
    );
    const made = await ca.generateCrls({ full: true });
    assert.deepEqual(
      new Set(made.map((crl) => crl.authorityId)),
      new Set([before.issuing, before.root, imported.issuing.id]),
    );

    // The same bundle again: no new rows.
    await ca.importAuthority({ pem, passphrase: 'kEy-pass' });
    assert.equal((await ca.listAuthorities()).length, 4);
    assert.equal(ca.issuingId, imported.issuing.id);

    // A second node notices the change on reload.
    const other = await openTestCa(store);
    assert.equal(other.issuingId, imported.issuing.id);
  },
);

forEachDatabase('pki/import: PKCS #12 before the first start; no CA gets created', async (store, { t }) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  enterpriseCa(dir);
  opensslOk([
    'pkcs12',
    '-export',
    '-inkey',
    dir.file('sub.key'),
    '-in',
    dir.file('sub.crt'),
    '-certfile',
    dir.file('root.crt'),
    '-passout',
    'pass:p12-pass',
    '-out',
    dir.file('ca.p12'),
  ]);
  const options = { store, master: TEST_MASTER, now: Date.now, logger: silentLogger() };
  await rejectsWith(
    importAuthority(options, { pkcs12: dir.read('ca.p12'), passphrase: 'nope' }),
    /MAC does not verify/,
  );
  const imported = await importAuthority(options, { pkcs12: dir.read('ca.p12'), passphrase: 'p12-pass' });
  const ca = await openCertificateAuthority({
    store,
    master: TEST_MASTER,
    publicUrl: TEST_PUBLIC_URL,
    logger: silentLogger(),
    create: false,
  });
  assert.equal(ca.issuingId, imported.issuing.id);
  assert.equal((await ca.listAuthorities()).length, 2);
  // Its key works for SCEP (RSA) and for CRLs.
  assert.equal(ca.scep().recipient().privateKey.asymmetricKeyType, 'rsa');
  assert.ok(await ca.currentCrl('delta'));
  // Opening with another master key fails: the sealed key does not open.
  await assert.rejects(
    openCertificateAuthority({
      store,
      master: masterKeyFromBytes(Buffer.alloc(32, 9)),
      publicUrl: TEST_PUBLIC_URL,
      logger: silentLogger(),
    }),
  );

  // Legacy encryption (3DES, SHA-1 MAC: Windows' "TripleDES-SHA1") is read too.
  opensslOk([
    'pkcs12',
    '-export',
    '-inkey',
    dir.file('sub.key'),
    '-in',
    dir.file('sub.crt'),
    '-certfile',
    dir.file('root.crt'),
    '-keypbe',
    'PBE-SHA1-3DES',
    '-certpbe',
    'PBE-SHA1-3DES',
    '-macalg',
    'sha1',
    '-passout',
    'pass:x',
    '-out',
    dir.file('legacy.p12'),
  ]);
  const legacy = await importAuthority(options, { pkcs12: dir.read('legacy.p12'), passphrase: 'x' });
  assert.equal(legacy.issuing.id, imported.issuing.id, 'the same CA: its row is reused');
  await rejectsWith(
    importAuthority(options, { pkcs12: dir.read('legacy.p12'), passphrase: 'y' }),
    /MAC does not verify/,
  );
  // An algorithm Herald does not read is named, with what to do instead.
  opensslOk([
    'pkcs12',
    '-export',
    '-inkey',
    dir.file('sub.key'),
    '-in',
    dir.file('sub.crt'),
    '-keypbe',
    'PBE-SHA1-2DES',
    '-passout',
    'pass:x',
    '-out',
    dir.file('2des.p12'),
  ]);
  await rejectsWith(
    importAuthority(options, { pkcs12: dir.read('2des.p12'), passphrase: 'x' }),
    /private key with an unsupported algorithm \(1\.2\.840\.113549\.1\.12\.1\.4\).*AES-256/,
  );
});

forEachDatabase('pki/import: what is refused, and a single self-signed CA', async (store, { t }) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  enterpriseCa(dir);
  const options = { store, master: TEST_MASTER, now: Date.now, logger: silentLogger() };
  const text = (...names: string[]) => names.map((name) => dir.read(name).toString('utf8')).join('');
  await rejectsWith(importAuthority(options, { pem: text('sub.crt', 'root.crt') }), /needs its key/);
  await rejectsWith(
    importAuthority(options, { pem: text('sub.crt', 'sub.key') }),
    /lacks the CA certificate that issued CN=Contoso Devices CA/,
  );
  // A leaf certificate with its key is not a CA.
  opensslOk([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    dir.file('leaf.key'),
    '-subj',
    '/CN=leaf',
    '-out',
    dir.file('leaf.crt'),
    '-addext',
    'basicConstraints=critical,CA:FALSE',
  ]);
  await rejectsWith(importAuthority(options, { pem: text('leaf.crt', 'leaf.key') }), /needs its key/);
  await rejectsWith(
    importAuthority(options, { pkcs12: Buffer.from('not der'), passphrase: 'x' }),
    /not PKCS #12/,
  );
  assert.equal((await store.pki.authorities.list()).length, 0, 'nothing stored');

  // The root alone, with its key: a one-tier CA.
  const single = await importAuthority(options, { pem: text('root.crt', 'root.key') });
  assert.equal(single.root, undefined);
  assert.equal(single.issuing.issuerId, null);
  const ca = await openCertificateAuthority({
    store,
    master: TEST_MASTER,
    publicUrl: TEST_PUBLIC_URL,
    logger: silentLogger(),
    create: false,
  });
  assert.equal(ca.chainDer().length, 1);
  assert.equal(ca.rootId, ca.issuingId);
  await ca.addTemplate({ name: 'd', subject: 'CN={DeviceUid}' });
  const issued = await ca.issueFromCsr(opensslCsr(dir, 'x'), {
    template: 'd',
    values: { DeviceUid: 'one-tier' },
  });
  dir.write('x.pem', toPem(issued.certificateDer, 'CERTIFICATE'));
  assert.equal(openssl(['verify', '-CAfile', dir.file('root.crt'), dir.file('x.pem')]).status, 0);
});
