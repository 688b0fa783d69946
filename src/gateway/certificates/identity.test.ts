/**
 * Identity from a client certificate's SAN: the UPN otherName as @peculiar/x509 writes it and as
 * OpenSSL writes it (`otherName:1.3.6.1.4.1.311.20.2.3;UTF8:…`), next to otherNames we do not
 * know; serials and fingerprints exactly as node:crypto prints them.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestCa, issueClientCertificate, type TestCa } from '../../../test/support/pki.ts';
import { parseCertificate, parseClientIdentity } from './identity.ts';

let ca: TestCa;
const dir = mkdtempSync(join(tmpdir(), 'herald-identity-'));

before(async () => {
  ca = await createTestCa('Herald Test Device CA');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('identity/@peculiar/x509 certificate: UPN, email, serial and fingerprint as node:crypto has them', async () => {
  const cert = await issueClientCertificate(ca, {
    cn: 'Alice',
    upn: 'alice@corp.example',
    email: 'alice.smith@corp.example',
    serial: 'ff01', // high bit set: DER has a 00 sign byte, OpenSSL prints FF01
    crlUrl: ['ldap:///CN=ca,CN=CDP', 'http://crl.example/ca.crl'],
    deltaCrlUrl: 'http://crl.example/ca+.crl',
  });
  const node = new X509Certificate(cert.certPem);
  const expected = {
    upn: 'alice@corp.example',
    email: 'alice.smith@corp.example',
    subject: 'CN=Alice',
    issuer: 'CN=Herald Test Device CA',
    serialNumber: 'FF01',
    fingerprint256: node.fingerprint256,
    notAfter: node.validToDate,
  };
  assert.equal(node.serialNumber, 'FF01');
  assert.deepEqual(parseClientIdentity(cert.certPem), expected);
  assert.deepEqual(parseClientIdentity(node.raw), expected, 'DER as well as PEM');
  const parsed = parseCertificate(node.raw);
  assert.deepEqual(parsed.extendedKeyUsages, ['1.3.6.1.5.5.7.3.2']);
  assert.deepEqual(parsed.crlUrls, ['http://crl.example/ca.crl'], 'ldap: is ignored');
  assert.deepEqual(parsed.deltaCrlUrls, ['http://crl.example/ca+.crl']);
});

test('identity/OpenSSL certificate: UTF8 UPN otherName after an otherName of another type', () => {
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem);
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      'subjectAltName=otherName:1.2.3.4;UTF8:something-else,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:bob@corp.example,email:bob@corp.example',
      'extendedKeyUsage=clientAuth,emailProtection',
      '',
    ].join('\n'),
  );
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'dev.key');
  openssl('req', '-new', '-key', 'dev.key', '-subj', '/CN=Bob/O=Contoso', '-out', 'dev.csr');
  openssl(
    'x509',
    '-req',
    '-in',
    'dev.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x0a0b',
    '-days',
    '5',
    '-extfile',
    'ext.cnf',
    '-out',
    'dev.pem',
  );
  const pem = readFileSync(join(dir, 'dev.pem'), 'utf8');
  assert.match(
    openssl('x509', '-in', 'dev.pem', '-noout', '-text').toString(),
    /othername: UPN::bob@corp\.example/,
  );
  const identity = parseClientIdentity(pem);
  assert.equal(identity.upn, 'bob@corp.example');
  assert.equal(identity.email, 'bob@corp.example');
  assert.equal(identity.subject, 'CN=Bob, O=Contoso');
  assert.equal(identity.serialNumber, '0A0B', 'whole bytes, as OpenSSL prints it');
  assert.equal(identity.serialNumber, new X509Certificate(pem).serialNumber);
  assert.deepEqual(parseCertificate(pem).extendedKeyUsages, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4']);
});

test('identity/no SAN, no EKU: no UPN or email, EKU absent (not empty)', async () => {
  const cert = await issueClientCertificate(ca, { cn: 'kiosk', eku: null });
  const parsed = parseCertificate(cert.certPem);
  assert.equal(parsed.identity.upn, undefined);
  assert.equal(parsed.identity.email, undefined);
  assert.equal(parsed.extendedKeyUsages, undefined);
  assert.deepEqual(parsed.crlUrls, []);
});

test('identity/garbage is refused', () => {
  assert.throws(() => parseClientIdentity(Buffer.from('not a certificate')));
  assert.throws(() => parseClientIdentity('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'));
});
