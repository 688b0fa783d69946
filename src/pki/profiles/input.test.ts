/**
 * The helpers the route uses next to the builder: the identifier prefix from Herald's public URL,
 * and the lookup values to create the device's challenge with (the same the profile is built from).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillTemplate } from '../names.ts';
import { buildDeviceProfiles, identifierPrefixFromUrl, profileLookupValues } from './index.ts';
import { deviceIdentifier } from './input.ts';
import { input, parseProfile, TEMPLATE } from './testing.ts';

test('input/identifier prefix is the public host reversed', () => {
  const cases = [
    ['https://herald.contoso.com', 'com.contoso.herald'],
    ['https://Push.Contoso.COM:8443/base/', 'com.contoso.push'],
    ['http://10.1.2.3:8080', 'local.herald'],
    ['http://[::1]:8080', 'local.herald'],
    ['http://localhost:8080', 'local.herald'],
  ];
  for (const [url, prefix] of cases) assert.equal(identifierPrefixFromUrl(url!), prefix, url);
  // What it gives is accepted by the builder.
  const identifier = identifierPrefixFromUrl('https://herald.contoso.com');
  assert.equal(
    buildDeviceProfiles(input({ identifier })).identifier,
    'com.contoso.herald.device.F2LX1234ABCD',
  );
});

test('input/lookup values: EnrollmentUser defaults to the UPN', () => {
  assert.deepEqual(
    profileLookupValues({ deviceUid: 'D1', user: 'bob@corp.example', email: 'bob@example.com' }),
    {
      EnrollmentUser: 'bob@corp.example',
      DeviceUid: 'D1',
      EmailAddress: 'bob@example.com',
      UserPrincipalName: 'bob@corp.example',
    },
  );
  const values = profileLookupValues(input());
  assert.equal(values.EnrollmentUser, 'alice');
  // A challenge created with these values makes the CA issue exactly the subject the profile asks for.
  const filled = fillTemplate(TEMPLATE, values);
  const { scepContent } = parseProfile(buildDeviceProfiles(input()).mobileconfig);
  const subjectText = (scepContent.Subject as string[][][]).map((rdn) =>
    rdn.map(([t, v]) => `${t}=${v}`).join('+'),
  );
  assert.equal(subjectText.join(', '), filled.subjectText);
});

test('input/device identifiers differ for ids that sanitise alike', () => {
  const a = deviceIdentifier('p', 'dev_1');
  const b = deviceIdentifier('p', 'dev.1');
  assert.notEqual(a, b);
  assert.match(a, /^p\.device\.dev-1-[0-9a-f]{12}$/);
  assert.equal(deviceIdentifier('p', 'dev-1'), 'p.device.dev-1');
});
