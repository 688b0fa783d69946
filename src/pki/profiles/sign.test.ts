/**
 * Signed .mobileconfig: OpenSSL (`cms -verify`, `smime -verify`) accepts the CMS SignedData, its
 * content is the profile byte for byte, the signer is the given certificate, the chain travels
 * with it, tampering is detected, EC keys work, and unusable signing material is refused without
 * the key showing up in the error.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import { isPkiError } from '../errors.ts';
import { type OpensslResult, openssl, type TempDir, tempDir } from '../testing.ts';
import { buildDeviceProfiles, type ProfileSigner } from './index.ts';
import { loadSigner, signProfile } from './sign.ts';
import { input, parseProfile } from './testing.ts';

let dir: TempDir;
let rsa: ProfileSigner;
let root: string;

/** Runs `openssl` with a space-separated command; `@name` is a file in the test directory. */
function ssl(command: string): OpensslResult {
  return openssl(command.split(' ').map((arg) => (arg.startsWith('@') ? dir.file(arg.slice(1)) : arg)));
}

function sslOk(command: string): string {
  const result = ssl(command);
  assert.equal(result.status, 0, `openssl ${command}\n${result.output}`);
  return result.stdout;
}

before(() => {
  dir = tempDir();
  dir.write('leaf.ext', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  sslOk(
    'req -x509 -newkey rsa:2048 -nodes -keyout @root.key -out @root.pem -subj /CN=profiles-test-root -days 2',
  );
  sslOk(
    'req -newkey rsa:2048 -nodes -keyout @signer.key -out @signer.csr -subj /O=Contoso/CN=herald-profiles',
  );
  sslOk(
    'x509 -req -in @signer.csr -CA @root.pem -CAkey @root.key -set_serial 4242 -days 1 -extfile @leaf.ext -out @signer.pem',
  );
  root = dir.read('root.pem').toString();
  rsa = {
    certificatePem: dir.read('signer.pem').toString(),
    privateKeyPem: dir.read('signer.key').toString(),
    chainPem: [root],
  };
});

after(() => dir.remove());

function sameCertificate(pemA: string, pemB: string): boolean {
  return new X509Certificate(pemA).fingerprint256 === new X509Certificate(pemB).fingerprint256;
}

test('sign/openssl verifies signature and chain; the content is the profile; the signer is the cert', () => {
  const result = buildDeviceProfiles(input({ sign: rsa }));
  assert.equal(result.mobileconfigSigned, true);
  assert.equal(result.mobileconfig[0], 0x30, 'DER, not XML');
  dir.write('signed.mobileconfig', result.mobileconfig);
  const verified = ssl(
    'cms -verify -inform DER -in @signed.mobileconfig -CAfile @root.pem -purpose any -out @content.xml -signer @signer-out.pem',
  );
  assert.equal(verified.status, 0, verified.output);
  assert.match(verified.stderr, /Verification successful/);

  const { scep, eas, scepContent } = parseProfile(dir.read('content.xml'));
  assert.equal(eas.PayloadCertificateUUID, scep.PayloadUUID);
  assert.equal(scepContent.Challenge, '0123456789ABCDEF0123456789ABCDEF');
  assert.ok(sameCertificate(dir.read('signer-out.pem').toString(), rsa.certificatePem));

  // The root travels with the signer, so a device that trusts it can build the chain.
  const certs = sslOk('pkcs7 -inform DER -in @signed.mobileconfig -print_certs');
  assert.match(certs, /subject=O = Contoso, CN = herald-profiles/);
  assert.match(certs, /subject=CN = profiles-test-root/);
});

test('sign/a signer the verifier does not trust is refused', () => {
  dir.write('untrusted.der', buildDeviceProfiles(input({ sign: { ...rsa, chainPem: [] } })).mobileconfig);
  sslOk('req -x509 -newkey rsa:2048 -nodes -keyout @other.key -out @other.pem -subj /CN=other-root -days 1');
  const verified = ssl(
    'cms -verify -inform DER -in @untrusted.der -CAfile @other.pem -purpose any -out @u.xml',
  );
  assert.notEqual(verified.status, 0);
  assert.match(verified.output, /unable to get local issuer certificate/);
});

test('sign/smime -verify -noverify returns the exact plist bytes', () => {
  const xml = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict/></plist>\n');
  dir.write('exact.der', signProfile(xml, loadSigner(rsa)));
  sslOk('smime -verify -inform DER -noverify -in @exact.der -out @exact.xml');
  assert.deepEqual(dir.read('exact.xml'), xml);
});

test('sign/a changed profile no longer verifies', () => {
  const signed = Buffer.from(buildDeviceProfiles(input({ sign: rsa })).mobileconfig);
  const at = signed.indexOf('mail.contoso.example');
  assert.ok(at > 0);
  signed.write('evil', at, 'latin1');
  dir.write('tampered.der', signed);
  const verified = ssl(
    'cms -verify -inform DER -in @tampered.der -CAfile @root.pem -purpose any -out @t.xml',
  );
  assert.notEqual(verified.status, 0);
  assert.match(verified.output, /digest failure|verification failure/i);
});

test('sign/DER with a primitive eContent and the signed attributes security cms writes', () => {
  const signer = loadSigner(rsa);
  // Larger than pkijs's 64 KB pieces: still one primitive OCTET STRING.
  const big = Buffer.from('<plist version="1.0"><dict/></plist>'.padEnd(70_000, ' '));
  dir.write('big.der', signProfile(big, signer));
  const parsed = sslOk('asn1parse -inform DER -in @big.der');
  assert.doesNotMatch(parsed, /cons: OCTET STRING/, 'no constructed (BER) OCTET STRING');
  assert.match(parsed, new RegExp(`l=${big.length} prim: OCTET STRING`));

  dir.write('small.der', signProfile(Buffer.from('<plist/>'), signer, new Date('2030-01-02T03:04:05Z')));
  const printed = sslOk('cms -cmsout -print -inform DER -in @small.der');
  assert.match(printed, /digestAlgorithms:\s*\n\s*algorithm: sha256 /);
  assert.match(printed, /eContentType: pkcs7-data/);
  assert.match(
    printed,
    /object: contentType \(1\.2\.840\.113549\.1\.9\.3\)\s*\n\s*set:\s*\n\s*OBJECT:pkcs7-data/,
  );
  assert.match(printed, /object: messageDigest \(1\.2\.840\.113549\.1\.9\.4\)/);
  assert.match(
    printed,
    /object: signingTime \(1\.2\.840\.113549\.1\.9\.5\)\s*\n\s*set:\s*\n\s*UTCTIME:Jan {2}2 03:04:05 2030 GMT/,
  );
  assert.match(
    printed,
    /d\.issuerAndSerialNumber:\s*\n\s*issuer: CN=profiles-test-root\s*\n\s*serialNumber: 4242/,
  );
});

test('sign/EC P-256 signer', () => {
  sslOk(
    'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout @ec.key -out @ec.pem -subj /CN=ec-signing -days 1',
  );
  const ec = { certificatePem: dir.read('ec.pem').toString(), privateKeyPem: dir.read('ec.key').toString() };
  dir.write('ec.der', buildDeviceProfiles(input({ sign: ec })).mobileconfig);
  sslOk('cms -verify -inform DER -in @ec.der -CAfile @ec.pem -purpose any -out @ec.xml');
  parseProfile(dir.read('ec.xml'));
  assert.match(sslOk('cms -cmsout -print -inform DER -in @ec.der'), /algorithm: ecdsa-with-SHA256/);
});

test('sign/refuses signing material that cannot sign, without echoing it', () => {
  const cases: [string, ProfileSigner, RegExp][] = [
    ['error/key of another certificate', { ...rsa, certificatePem: root }, /does not belong/],
    ['error/no certificate', { ...rsa, certificatePem: 'not a pem' }, /holds no PEM certificate/],
    [
      'error/broken certificate',
      { ...rsa, certificatePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' },
      /not a readable certificate/,
    ],
    ['error/broken key', { ...rsa, privateKeyPem: 'nonsense' }, /not a readable private key/],
    ['error/chain without certificates', { ...rsa, chainPem: ['junk'] }, /chain holds no PEM certificate/],
  ];
  for (const [name, signer, message] of cases) {
    assert.throws(
      () => buildDeviceProfiles(input({ sign: signer })),
      (error: unknown) => {
        assert.ok(isPkiError(error, 'pki_unavailable'), `${name}: ${String(error)}`);
        assert.match(error.message, message, name);
        assert.doesNotMatch(error.message, /PRIVATE KEY|BEGIN/, `${name}: no PEM in the message`);
        return true;
      },
      name,
    );
  }
});
