/**
 * Issuance and revocation checked with OpenSSL, as issue 7 asks: the issued certificate carries
 * the UPN and email SANs, the clientAuth EKU, CDP/Freshest CRL/AIA under publicUrl;
 * `openssl verify -crl_check` accepts it with the published CRL and rejects it after a revocation
 * and CRL regeneration; `openssl crl` parses the full and the delta CRL.
 */
import assert from 'node:assert/strict';
import { forEachDatabase } from '../store/testing.ts';
import { isPkiError } from './errors.ts';
import {
  openssl,
  opensslCsr,
  opensslOk,
  openTestCa,
  TEST_PUBLIC_URL,
  type TempDir,
  tempDir,
  writeChain,
} from './testing.ts';
import { toPem } from './x509.ts';

const TEMPLATE = {
  name: 'devices',
  subject: 'CN={DeviceUid},O=Contoso',
  sanEmail: '{EmailAddress}',
  sanUpn: '{UserPrincipalName}',
  keySize: 2048,
  days: 365,
  renewDays: 30,
};
const VALUES = {
  DeviceUid: 'F2LX1234ABCD',
  EmailAddress: 'alice@contoso.example',
  UserPrincipalName: 'alice@corp.contoso.example',
};

function writeCrl(dir: TempDir, name: string, der: Buffer | undefined): string {
  assert.ok(der, `no ${name} CRL`);
  dir.write(`${name}.der`, der);
  // openssl verify -CRLfile reads PEM.
  opensslOk(['crl', '-inform', 'DER', '-in', dir.file(`${name}.der`), '-out', dir.file(`${name}.pem`)]);
  return dir.file(`${name}.pem`);
}

function verify(
  chain: { root: string; issuing: string },
  leaf: string,
  crls: string[],
  extra: string[] = [],
) {
  return openssl([
    'verify',
    '-CAfile',
    chain.root,
    '-untrusted',
    chain.issuing,
    '-crl_check',
    ...extra,
    ...crls.flatMap((crl) => ['-CRLfile', crl]),
    leaf,
  ]);
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isPkiError(error), `expected a PkiError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

forEachDatabase(
  'pki/issue: the certificate from a CSR, as openssl x509 -text shows it',
  async (store, { t }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store);
    await ca.addTemplate(TEMPLATE);
    // The CSR claims another subject and SAN: with lookup values they are ignored.
    const csr = opensslCsr(dir, 'device', {
      subject: '/CN=administrator',
      addext: 'subjectAltName=email:ceo@contoso.example',
    });
    const issued = await ca.issueFromCsr(csr, {
      template: 'devices',
      values: VALUES,
      registrationId: 'reg-1',
    });
    dir.write('leaf.pem', toPem(issued.certificateDer, 'CERTIFICATE'));
    const text = opensslOk(['x509', '-in', dir.file('leaf.pem'), '-noout', '-text']);

    assert.match(text, /Subject: CN = F2LX1234ABCD, O = Contoso/);
    assert.doesNotMatch(text, /administrator|ceo@/);
    assert.match(text, /Issuer: CN = Herald Issuing CA/);
    assert.match(
      text,
      /X509v3 Subject Alternative Name: *\n *email:alice@contoso\.example, othername: UPN::alice@corp\.contoso\.example/,
    );
    assert.match(text, /X509v3 Extended Key Usage: *\n *TLS Web Client Authentication\n/);
    assert.match(text, /X509v3 Key Usage: critical\n *Digital Signature, Key Encipherment\n/);
    assert.match(text, /X509v3 Basic Constraints: critical\n *CA:FALSE/);
    assert.match(text, /X509v3 Subject Key Identifier:/);
    assert.match(text, /X509v3 Authority Key Identifier:/);
    const id = ca.issuingId;
    assert.ok(
      text.includes(
        `X509v3 CRL Distribution Points: \n                Full Name:\n                  URI:${TEST_PUBLIC_URL}/pki/crl/${id}.crl`,
      ),
    );
    assert.ok(
      text.includes(
        `X509v3 Freshest CRL: \n                Full Name:\n                  URI:${TEST_PUBLIC_URL}/pki/crl/${id}-delta.crl`,
      ),
    );
    assert.ok(text.includes(`CA Issuers - URI:${TEST_PUBLIC_URL}/pki/ca/${id}.crt`));
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    // Serial: 16 bytes, positive.
    const serialHex = opensslOk(['x509', '-in', dir.file('leaf.pem'), '-noout', '-serial'])
      .trim()
      .slice('serial='.length);
    assert.equal(serialHex.toLowerCase(), issued.serial);
    assert.equal(issued.serial.length, 32);
    assert.ok(Number.parseInt(issued.serial.slice(0, 2), 16) < 0x80);

    // The record matches the certificate.
    assert.equal(issued.status, 'issued');
    assert.equal(issued.template, 'devices');
    assert.equal(issued.subject, 'CN=F2LX1234ABCD, O=Contoso');
    assert.equal(issued.sanEmail, VALUES.EmailAddress);
    assert.equal(issued.sanUpn, VALUES.UserPrincipalName);
    assert.equal(issued.registrationId, 'reg-1');
    assert.equal(Math.round((issued.notAfter - issued.notBefore) / 86_400_000), 365);
    assert.deepEqual(await ca.getCertificate(issued.serial.toUpperCase()), issued);
    assert.deepEqual(
      (await ca.list({ registrationId: 'reg-1' })).map((c) => c.serial),
      [issued.serial],
    );

    // The chain verifies; and the AIA URL's certificate is the issuing CA's.
    const chain = writeChain(dir, ca);
    assert.equal(verify(chain, dir.file('leaf.pem'), [], []).status, 2, 'crl_check without a CRL fails');
    assert.equal((await ca.authorityCertificate(id))?.der.equals(ca.chainDer()[0]!), true);
    assert.equal((await ca.authorityCertificate(id))?.contentType, 'application/pkix-cert');
  },
);

forEachDatabase(
  'pki/issue: openssl verify -crl_check accepts, then rejects after revoke + CRL regeneration',
  async (store, { t }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const ca = await openTestCa(store);
    await ca.addTemplate(TEMPLATE);
    const chain = writeChain(dir, ca);
    const issued = await ca.issueFromCsr(opensslCsr(dir, 'device'), { template: 'devices', values: VALUES });
    const leaf = dir.write('leaf.pem', toPem(issued.certificateDer, 'CERTIFICATE'));

    // Opening the CA published CRLs already.
    const fullBefore = writeCrl(dir, 'full-1', await ca.currentCrl('full'));
    const accepted = verify(chain, leaf, [fullBefore]);
    assert.equal(accepted.status, 0, accepted.output);
    assert.match(accepted.stdout, /leaf\.pem: OK/);

    const result = await ca.revoke(issued.serial, 'keyCompromise');
    assert.equal(result.alreadyRevoked, false);
    assert.equal(result.crlPublished, true);
    assert.equal(result.certificate.status, 'revoked');
    assert.equal(result.certificate.revocationReason, 'keyCompromise');

    // The revocation regenerated the delta at once: old base + new delta rejects (with deltas on).
    const delta = writeCrl(dir, 'delta-2', await ca.currentCrl('delta'));
    const withDelta = verify(chain, leaf, [fullBefore, delta], ['-use_deltas']);
    assert.notEqual(withDelta.status, 0);
    assert.match(withDelta.output, /certificate revoked/);
    // The old base alone still accepts: a client without deltas waits for the next full CRL.
    assert.equal(verify(chain, leaf, [fullBefore]).status, 0);

    // `herald ca crl`: a new full CRL lists it.
    await ca.generateCrls({ full: true });
    const fullAfter = writeCrl(dir, 'full-2', await ca.currentCrl('full'));
    const rejected = verify(chain, leaf, [fullAfter]);
    assert.notEqual(rejected.status, 0);
    assert.match(rejected.output, /certificate revoked/);

    // With the root's CRL too, the whole chain is checked (-crl_check_all).
    const rootCrl = writeCrl(dir, 'root-crl', await ca.currentCrl('full', ca.rootId));
    const other = await ca.issueFromCsr(opensslCsr(dir, 'other'), { template: 'devices', values: VALUES });
    const otherLeaf = dir.write('other.pem', toPem(other.certificateDer, 'CERTIFICATE'));
    const all = verify(chain, otherLeaf, [fullAfter, rootCrl], ['-crl_check_all']);
    assert.equal(all.status, 0, all.output);
  },
);

forEachDatabase('pki/crl: openssl crl parses the full and the delta CRL', async (store, { t }) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const ca = await openTestCa(store);
  await ca.addTemplate(TEMPLATE);
  const a = await ca.issueFromCsr(opensslCsr(dir, 'a'), { template: 'devices', values: VALUES });
  const b = await ca.issueFromCsr(opensslCsr(dir, 'b'), { template: 'devices', values: VALUES });
  await ca.revoke(a.serial, 'keyCompromise');
  await ca.generateCrls({ full: true });
  await ca.revoke(b.serial, 'superseded');

  dir.write('full.der', (await ca.currentCrl('full'))!);
  dir.write('delta.der', (await ca.currentCrl('delta'))!);
  const full = opensslOk(['crl', '-inform', 'DER', '-in', dir.file('full.der'), '-noout', '-text']);
  const delta = opensslOk(['crl', '-inform', 'DER', '-in', dir.file('delta.der'), '-noout', '-text']);

  const fullNumber = Number(/X509v3 CRL Number: *\n *(\d+)/.exec(full)?.[1]);
  const deltaNumber = Number(/X509v3 CRL Number: *\n *(\d+)/.exec(delta)?.[1]);
  assert.ok(fullNumber > 0 && deltaNumber > fullNumber, `full ${fullNumber}, delta ${deltaNumber}`);
  assert.match(full, /Issuer: CN = Herald Issuing CA/);
  assert.match(full, /X509v3 Authority Key Identifier:/);
  assert.ok(
    full.includes(
      `X509v3 Freshest CRL: \n                Full Name:\n                  URI:${TEST_PUBLIC_URL}/pki/crl/${ca.issuingId}-delta.crl`,
    ),
  );
  assert.ok(full.toLowerCase().includes(`serial number: ${a.serial}`));
  assert.match(full, /Key Compromise/);
  assert.ok(!full.toLowerCase().includes(`serial number: ${b.serial}`));
  assert.match(full, /Next Update:/);

  assert.match(delta, new RegExp(`X509v3 Delta CRL Indicator: critical\\n *${fullNumber}\\n`));
  assert.ok(delta.toLowerCase().includes(`serial number: ${b.serial}`));
  assert.match(delta, /Superseded/);
  assert.doesNotMatch(delta, /Freshest CRL/);

  // Signatures check against the issuing CA.
  const chain = writeChain(dir, ca);
  for (const crl of ['full.der', 'delta.der']) {
    const checked = openssl([
      'crl',
      '-inform',
      'DER',
      '-in',
      dir.file(crl),
      '-noout',
      '-CAfile',
      chain.issuing,
    ]);
    assert.match(checked.output, /verify OK/);
  }

  // What the HTTP route sends.
  const served = await ca.crlPublication(ca.issuingId, 'delta');
  assert.equal(served?.contentType, 'application/pkix-crl');
  assert.equal(served?.headers['content-type'], 'application/pkix-crl');
  assert.match(served?.headers['cache-control'] ?? '', /^public, max-age=(\d+)$/);
  assert.ok(Number(/max-age=(\d+)/.exec(served!.headers['cache-control']!)![1]) <= 300);
  assert.equal(served?.headers.etag, `"${ca.issuingId}-${deltaNumber}"`);
  assert.ok(served?.der.equals(dir.read('delta.der')));
  assert.match((await ca.crlPublication(ca.issuingId, 'full'))!.headers['cache-control']!, /max-age=3600$/);
  assert.equal(await ca.crlPublication('no-such-ca', 'full'), undefined);
});

forEachDatabase('pki/issue: key size, names and revocation errors', async (store, { t }) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const ca = await openTestCa(store);
  await ca.addTemplate({ ...TEMPLATE, name: 'strong', keySize: 3072 });
  await ca.addTemplate(TEMPLATE);
  await rejectsWith(ca.addTemplate(TEMPLATE), 'pki_template_exists', /devices exists already/);
  await rejectsWith(ca.getTemplate('nope'), 'pki_template_not_found', /nope/);

  const small = opensslCsr(dir, 'small', { bits: 2048 });
  await rejectsWith(
    ca.issueFromCsr(small, { template: 'strong', values: VALUES }),
    'pki_key_rejected',
    /at least 3072 bits; the request has 2048/,
  );
  opensslOk([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    dir.file('ec.key'),
    '-subj',
    '/CN=x',
    '-out',
    dir.file('ec.csr'),
  ]);
  await rejectsWith(
    ca.issueFromCsr(dir.read('ec.csr'), { template: 'devices', values: VALUES }),
    'pki_key_rejected',
    /RSA key; the request has EC/,
  );
  await rejectsWith(
    ca.issueFromCsr('garbage', { template: 'devices', values: VALUES }),
    'pki_invalid_csr',
    /no CERTIFICATE REQUEST/,
  );
  // A CSR whose signature does not match its key.
  const tampered = Buffer.from(small.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  tampered[tampered.length - 5]! ^= 0xff;
  await rejectsWith(
    ca.issueFromCsr(tampered, { template: 'devices', values: VALUES }),
    'pki_invalid_csr',
    /signature does not verify/,
  );
  await rejectsWith(ca.issueFromCsr(small, { template: 'devices' }), 'pki_invalid_values', /lookup values/);
  await rejectsWith(
    ca.issueFromCsr(small, { template: 'devices', values: { DeviceUid: 'x' } }),
    'pki_invalid_values',
    /SAN email needs \{EmailAddress\}/,
  );

  // The CSR's own subject and SANs (what a static challenge means).
  const own = opensslCsr(dir, 'own', {
    subject: '/CN=printer-7/O=Contoso',
    addext:
      'subjectAltName=email:printer@contoso.example,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:printer@corp.example,DNS:printer.example',
  });
  const fromCsr = await ca.issueFromCsr(own, { template: 'devices', useCsrSubject: true });
  assert.equal(fromCsr.subject, 'CN=printer-7, O=Contoso');
  assert.equal(fromCsr.sanEmail, 'printer@contoso.example');
  assert.equal(fromCsr.sanUpn, 'printer@corp.example');
  dir.write('own.pem', toPem(fromCsr.certificateDer, 'CERTIFICATE'));
  const text = opensslOk(['x509', '-in', dir.file('own.pem'), '-noout', '-text']);
  assert.match(text, /email:printer@contoso\.example, othername: UPN::printer@corp\.example/);
  assert.doesNotMatch(text, /DNS:/, 'only the kinds the template has');

  // Revocation: unknown serial, bad reasons, twice.
  await rejectsWith(ca.revoke('0badc0de'), 'pki_certificate_not_found', /0badc0de/);
  await rejectsWith(
    ca.revoke(fromCsr.serial, 'becauseISaidSo'),
    'pki_invalid_reason',
    /unknown revocation reason becauseISaidSo/,
  );
  await rejectsWith(ca.revoke(fromCsr.serial, 'certificateHold'), 'pki_invalid_reason', /hold/);
  const colons = fromCsr.serial.toUpperCase().replace(/(..)(?!$)/g, '$1:');
  const first = await ca.revoke(colons, 'affiliationChanged');
  assert.equal(first.alreadyRevoked, false);
  const second = await ca.revoke(fromCsr.serial, 'keyCompromise');
  assert.equal(second.alreadyRevoked, true);
  assert.equal(second.certificate.revocationReason, 'affiliationChanged');
  assert.equal(second.certificate.revokedAt, first.certificate.revokedAt);
  assert.deepEqual(
    (await ca.list({ status: 'revoked' })).map((c) => c.serial),
    [fromCsr.serial],
  );
});

forEachDatabase('pki/issue: revoke on unenrol follows the template', async (store, { t }) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  const ca = await openTestCa(store);
  await ca.addTemplate(TEMPLATE);
  await ca.addTemplate({ ...TEMPLATE, name: 'keep', revokeOnUnenrol: false });
  const csr = opensslCsr(dir, 'd');
  const a = await ca.issueFromCsr(csr, { template: 'devices', values: VALUES, registrationId: 'reg-9' });
  const b = await ca.issueFromCsr(csr, { template: 'keep', values: VALUES, registrationId: 'reg-9' });
  const c = await ca.issueFromCsr(csr, { template: 'devices', values: VALUES, registrationId: 'reg-other' });
  const revoked = await ca.revokeForRegistration('reg-9');
  assert.deepEqual(
    revoked.map((x) => x.serial),
    [a.serial],
  );
  assert.equal(revoked[0]?.revocationReason, 'cessationOfOperation');
  assert.equal((await ca.getCertificate(b.serial)).status, 'issued');
  assert.equal((await ca.getCertificate(c.serial)).status, 'issued');
  assert.deepEqual(await ca.revokeForRegistration('reg-9'), [], 'nothing left to revoke');
  // The delta published for it lists it.
  dir.write('delta.der', (await ca.currentCrl('delta'))!);
  const delta = opensslOk(['crl', '-inform', 'DER', '-in', dir.file('delta.der'), '-noout', '-text']);
  assert.ok(delta.toLowerCase().includes(`serial number: ${a.serial}`));
  assert.match(delta, /Cessation Of Operation/);
});
