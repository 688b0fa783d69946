/**
 * The unsigned .mobileconfig: it parses as a plist, holds exactly a SCEP and an Exchange
 * ActiveSync payload, the EAS payload's PayloadCertificateUUID names the SCEP payload, and the
 * SCEP payload asks for what the template and lookup values say. Values are escaped in the XML.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPkiError } from '../errors.ts';
import { buildDeviceProfiles } from './index.ts';
import { FINGERPRINT_HEX, input, parseProfile, TEMPLATE, UPPER_UUID } from './testing.ts';

test('mobileconfig/parses as a plist with the two payloads linked', () => {
  const result = buildDeviceProfiles(input());
  assert.equal(result.mobileconfigSigned, false);
  const xml = result.mobileconfig.toString('utf8');
  assert.match(
    xml,
    /^<\?xml version="1\.0" encoding="UTF-8"\?>\s*<!DOCTYPE plist PUBLIC "-\/\/Apple\/\/DTD PLIST 1\.0\/\/EN"/,
  );

  const { top, scep, eas } = parseProfile(result.mobileconfig);
  assert.equal(top.PayloadType, 'Configuration');
  assert.equal(top.PayloadVersion, 1);
  assert.equal(top.PayloadIdentifier, 'example.contoso.herald.device.F2LX1234ABCD');
  assert.equal(result.identifier, top.PayloadIdentifier);
  assert.equal(top.PayloadDisplayName, 'Contoso mail for Alice Example');
  assert.equal(top.PayloadOrganization, 'Contoso');
  assert.equal(scep.PayloadIdentifier, 'example.contoso.herald.device.F2LX1234ABCD.scep');
  assert.equal(eas.PayloadIdentifier, 'example.contoso.herald.device.F2LX1234ABCD.eas');
  for (const payload of [top, scep, eas]) {
    assert.match(String(payload.PayloadUUID), UPPER_UUID);
    assert.equal(payload.PayloadVersion, 1);
  }
  assert.equal(new Set([top.PayloadUUID, scep.PayloadUUID, eas.PayloadUUID]).size, 3);
  // The link the whole profile is about: Mail authenticates with the SCEP identity.
  assert.equal(eas.PayloadCertificateUUID, scep.PayloadUUID);
});

test('mobileconfig/SCEP payload asks for the template filled with the values', () => {
  const { scepContent } = parseProfile(buildDeviceProfiles(input()).mobileconfig);
  assert.equal(scepContent.URL, 'https://herald.contoso.example/pki/scep');
  assert.equal(scepContent.Name, 'herald');
  assert.equal(scepContent.Challenge, '0123456789ABCDEF0123456789ABCDEF');
  assert.deepEqual(scepContent.Subject, [[['CN', 'F2LX1234ABCD']], [['OU', 'alice']], [['O', 'Contoso']]]);
  assert.equal(scepContent.Keysize, 2048);
  assert.equal(scepContent['Key Type'], 'RSA');
  assert.equal(scepContent['Key Usage'], 5);
  assert.deepEqual(scepContent.SubjectAltName, {
    rfc822Name: 'alice@contoso.example',
    ntPrincipalName: 'alice@corp.contoso.example',
  });
  assert.ok(scepContent.CAFingerprint instanceof Uint8Array);
  assert.equal(Buffer.from(scepContent.CAFingerprint).toString('hex').toUpperCase(), FINGERPRINT_HEX);
  assert.equal(scepContent.Retries, 3);
  assert.equal(scepContent.RetryDelay, 10);
});

test('mobileconfig/EAS payload points at the gateway with the user', () => {
  const { eas } = parseProfile(buildDeviceProfiles(input()).mobileconfig);
  assert.equal(eas.Host, 'mail.contoso.example');
  assert.equal(eas.SSL, true);
  assert.equal(eas.EmailAddress, 'alice@contoso.example');
  assert.equal(eas.UserName, 'alice@corp.contoso.example');
  assert.equal(eas.PayloadDisplayName, 'Exchange (Alice Example)');
  assert.equal(eas.Password, undefined, 'no password in the profile');
});

test('mobileconfig/gateway host with a port, 443 dropped, IPv6 bracketed', () => {
  const cases = [
    ['mail.contoso.example:8443', 'mail.contoso.example:8443'],
    ['mail.contoso.example:443', 'mail.contoso.example'],
    ['[2001:db8::5]:8443', '[2001:db8::5]:8443'],
    ['10.0.0.5', '10.0.0.5'],
  ];
  for (const [given, host] of cases) {
    const { eas } = parseProfile(buildDeviceProfiles(input({ gatewayHost: given })).mobileconfig);
    assert.equal(eas.Host, host, given);
  }
});

test('mobileconfig/values with < & " are escaped and come back intact', () => {
  const displayName = 'Alice <Admin> & "Ops" \'Team\'';
  const organization = 'R&D <Lab>';
  const result = buildDeviceProfiles(
    input({ displayName, organization, deviceUid: '<dev&1>', challenge: 'A&B<C>' }),
  );
  const xml = result.mobileconfig.toString('utf8');
  assert.ok(xml.includes('R&amp;D &lt;Lab&gt;'), 'organization escaped');
  assert.ok(xml.includes('Alice &lt;Admin&gt; &amp;'), 'display name escaped');
  assert.ok(!xml.includes('<Admin>') && !xml.includes('<Lab>') && !xml.includes('<dev&1>'));

  const { top, scep, scepContent } = parseProfile(result.mobileconfig);
  assert.equal(top.PayloadDisplayName, `R&D <Lab> mail for ${displayName}`);
  assert.equal(top.PayloadOrganization, organization);
  assert.equal(scep.PayloadOrganization, organization);
  assert.equal(scepContent.Challenge, 'A&B<C>');
  assert.deepEqual(scepContent.Subject, [[['CN', '<dev&1>']], [['OU', 'alice']], [['O', 'Contoso']]]);
  // The identifier stays reverse-DNS: unsafe characters replaced, a hash keeps it unique.
  assert.match(String(top.PayloadIdentifier), /^example\.contoso\.herald\.device\.-dev-1--[0-9a-f]{12}$/);
});

test('mobileconfig/identifier stable per device, UUIDs fresh each time', () => {
  const first = parseProfile(buildDeviceProfiles(input()).mobileconfig);
  const second = parseProfile(buildDeviceProfiles(input()).mobileconfig);
  const other = parseProfile(buildDeviceProfiles(input({ deviceUid: 'OTHER-DEVICE' })).mobileconfig);
  assert.equal(first.top.PayloadIdentifier, second.top.PayloadIdentifier);
  assert.notEqual(first.top.PayloadIdentifier, other.top.PayloadIdentifier);
  assert.notEqual(first.top.PayloadUUID, second.top.PayloadUUID);
  assert.notEqual(first.scep.PayloadUUID, second.scep.PayloadUUID);
  assert.equal(second.eas.PayloadCertificateUUID, second.scep.PayloadUUID);
});

test('mobileconfig/multi-valued RDNs, and types Apple has no short name for as OIDs', () => {
  const template = { ...TEMPLATE, subject: 'CN=dev-{DeviceUid}+UID={EnrollmentUser},E={EmailAddress},C=DE' };
  const { scepContent } = parseProfile(buildDeviceProfiles(input({ template })).mobileconfig);
  assert.deepEqual(scepContent.Subject, [
    [
      ['CN', 'dev-F2LX1234ABCD'],
      ['0.9.2342.19200300.100.1.1', 'alice'],
    ],
    [['1.2.840.113549.1.9.1', 'alice@contoso.example']],
    [['C', 'DE']],
  ]);
});

test('mobileconfig/optional parts left out when not given', () => {
  const template = { ...TEMPLATE, sanEmail: null, sanUpn: null };
  const { scepContent } = parseProfile(
    buildDeviceProfiles(input({ template, caName: undefined, caFingerprint: undefined })).mobileconfig,
  );
  assert.equal(scepContent.SubjectAltName, undefined);
  assert.equal(scepContent.Name, undefined);
  assert.equal(scepContent.CAFingerprint, undefined);
  const onlyUpn = parseProfile(
    buildDeviceProfiles(input({ template: { ...TEMPLATE, sanEmail: null } })).mobileconfig,
  );
  assert.deepEqual(onlyUpn.scepContent.SubjectAltName, { ntPrincipalName: 'alice@corp.contoso.example' });
});

test('mobileconfig/key sizes Apple does not list are rounded up', () => {
  for (const [template, ios] of [
    [2048, 2048],
    [3072, 4096],
    [4096, 4096],
  ]) {
    const result = buildDeviceProfiles(input({ template: { ...TEMPLATE, keySize: template! } }));
    assert.equal(parseProfile(result.mobileconfig).scepContent.Keysize, ios, `template ${template}`);
  }
});

test('mobileconfig/fingerprint as bytes or colon hex, MD5 and SHA-1 lengths too', () => {
  const sha1 = Buffer.alloc(20, 0xab);
  const fromBytes = parseProfile(buildDeviceProfiles(input({ caFingerprint: sha1 })).mobileconfig);
  assert.deepEqual(Buffer.from(fromBytes.scepContent.CAFingerprint as Uint8Array), sha1);
  const colons = 'ab:'.repeat(15) + 'ab';
  const md5 = parseProfile(buildDeviceProfiles(input({ caFingerprint: colons })).mobileconfig);
  assert.deepEqual(Buffer.from(md5.scepContent.CAFingerprint as Uint8Array), Buffer.alloc(16, 0xab));
});

test('mobileconfig/refuses input that cannot make a correct profile', () => {
  const cases: [string, Parameters<typeof input>[0], RegExp][] = [
    ['error/gateway given as URL', { gatewayHost: 'https://mail.contoso.example' }, /gateway host/],
    [
      'error/gateway with a path',
      { gatewayHost: 'mail.contoso.example/Microsoft-Server-ActiveSync' },
      /gateway/,
    ],
    ['error/gateway port out of range', { gatewayHost: 'mail.contoso.example:70000' }, /gateway/],
    ['error/SCEP URL not http', { scepUrl: 'ftp://herald.contoso.example/pki/scep' }, /SCEP URL/],
    ['error/SCEP URL with password', { scepUrl: 'https://u:p@herald.contoso.example/pki/scep' }, /SCEP URL/],
    ['error/identifier prefix not reverse DNS', { identifier: 'contoso herald' }, /identifier prefix/],
    ['error/challenge with a newline', { challenge: 'abc\ndef' }, /challenge/],
    ['error/empty challenge', { challenge: ' ' }, /challenge/],
    ['error/fingerprint of no digest length', { caFingerprint: 'ABCD' }, /fingerprint/],
    ['error/fingerprint not hex', { caFingerprint: 'zz'.repeat(32) }, /hexadecimal/],
    ['error/display name with control character', { displayName: 'Alice\u0007' }, /display name/],
    ['error/email not an address', { email: 'not-an-address' }, /email address must look like name@domain/],
    ['error/UPN the template cannot use', { user: 'alice' }, /UserPrincipalName/],
  ];
  for (const [name, overrides, message] of cases) {
    assert.throws(
      () => buildDeviceProfiles(input(overrides)),
      (error: unknown) => {
        assert.ok(isPkiError(error, 'pki_invalid_values'), `${name}: ${String(error)}`);
        assert.match(error.message, message, name);
        return true;
      },
      name,
    );
  }
});

test('mobileconfig/the challenge does not leak into the identifier or names', () => {
  const result = buildDeviceProfiles(input());
  const { top, scep, eas } = parseProfile(result.mobileconfig);
  for (const value of [
    top.PayloadIdentifier,
    top.PayloadDisplayName,
    scep.PayloadDisplayName,
    eas.PayloadDisplayName,
  ]) {
    assert.ok(!String(value).includes('0123456789ABCDEF'));
  }
  assert.ok(!result.identifier.includes('0123456789ABCDEF'));
});
