/**
 * The Android managed configuration carries what the .mobileconfig carries (gateway, account,
 * SCEP enrollment), survives JSON, and leaves out what was not given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDeviceProfiles } from './index.ts';
import { FINGERPRINT_HEX, input, parseProfile, TEMPLATE } from './testing.ts';

test('android/same information as the iOS profile', () => {
  const result = buildDeviceProfiles(input());
  const { top, scepContent, eas } = parseProfile(result.mobileconfig);
  const { android } = result;

  assert.equal(android.version, 1);
  assert.equal(android.profile.identifier, top.PayloadIdentifier);
  assert.equal(android.profile.deviceUid, 'F2LX1234ABCD');
  assert.equal(android.profile.organization, top.PayloadOrganization);
  assert.equal(android.profile.displayName, 'Alice Example');

  assert.equal(android.exchange.host, eas.Host);
  assert.equal(android.exchange.port, 443);
  assert.equal(android.exchange.ssl, eas.SSL);
  assert.equal(android.exchange.email, eas.EmailAddress);
  assert.equal(android.exchange.username, eas.UserName);
  assert.equal(android.exchange.clientCertificate, true);

  assert.equal(android.certificate.scepUrl, scepContent.URL);
  assert.equal(android.certificate.caName, scepContent.Name);
  assert.equal(android.certificate.challenge, scepContent.Challenge);
  assert.equal(android.certificate.subject, 'CN=F2LX1234ABCD, OU=alice, O=Contoso');
  assert.equal(android.certificate.keyType, scepContent['Key Type']);
  assert.equal(android.certificate.keySize, scepContent.Keysize);
  const san = scepContent.SubjectAltName as Record<string, string>;
  assert.equal(android.certificate.sanEmail, san.rfc822Name);
  assert.equal(android.certificate.sanUpn, san.ntPrincipalName);
  assert.equal(android.certificate.caFingerprint, FINGERPRINT_HEX);
  assert.equal(
    android.certificate.caFingerprint,
    Buffer.from(scepContent.CAFingerprint as Uint8Array)
      .toString('hex')
      .toUpperCase(),
  );

  assert.deepEqual(JSON.parse(JSON.stringify(android)), android, 'JSON-able as is');
});

test('android/gateway port apart from the host; the template key size as is', () => {
  const { android } = buildDeviceProfiles(
    input({ gatewayHost: '[2001:db8::5]:8443', template: { ...TEMPLATE, keySize: 3072 } }),
  );
  assert.equal(android.exchange.host, '2001:db8::5');
  assert.equal(android.exchange.port, 8443);
  // Android generates 3072-bit keys; only iOS is rounded up to a size Apple lists.
  assert.equal(android.certificate.keySize, 3072);
});

test('android/optional keys absent when not given', () => {
  const { android } = buildDeviceProfiles(
    input({
      template: { ...TEMPLATE, sanEmail: null, sanUpn: null },
      caName: undefined,
      caFingerprint: undefined,
      displayName: undefined,
    }),
  );
  for (const key of ['caName', 'caFingerprint', 'sanEmail', 'sanUpn']) {
    assert.ok(!(key in android.certificate), key);
  }
  assert.ok(!('displayName' in android.profile));
});
