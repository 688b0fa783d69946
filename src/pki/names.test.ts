/**
 * Template filling and template validation: the four lookup values, clear errors for unknown
 * placeholders and missing values, no DN injection, the MS guide's limits on key size and days.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPkiError } from './errors.ts';
import { fillTemplate } from './names.ts';
import { newTemplate, publicTemplate } from './templates.ts';
import { TEST_MASTER } from './testing.ts';

const TEMPLATE = {
  subject: 'CN={DeviceUid},OU={EnrollmentUser},O=Contoso',
  sanEmail: '{EmailAddress}',
  sanUpn: '{UserPrincipalName}',
};
const VALUES = {
  DeviceUid: 'F2LX1234ABCD',
  EnrollmentUser: 'alice',
  EmailAddress: 'alice@contoso.example',
  UserPrincipalName: 'alice@corp.contoso.example',
};

function rejects(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isPkiError(error), `expected a PkiError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

test('fill/substitutes the four lookup values into subject and SANs', () => {
  const filled = fillTemplate(TEMPLATE, VALUES);
  assert.equal(filled.subjectText, 'CN=F2LX1234ABCD, OU=alice, O=Contoso');
  assert.equal(filled.sanEmail, 'alice@contoso.example');
  assert.equal(filled.sanUpn, 'alice@corp.contoso.example');
  // Fixed text around placeholders, and a template without SANs.
  const mixed = fillTemplate(
    {
      subject: 'CN=dev-{DeviceUid}+UID={EnrollmentUser},C=DE',
      sanEmail: null,
      sanUpn: '{EnrollmentUser}@corp.example',
    },
    VALUES,
  );
  assert.equal(mixed.subjectText, 'CN=dev-F2LX1234ABCD+0.9.2342.19200300.100.1.1=alice, C=DE');
  assert.equal(mixed.sanEmail, null);
  assert.equal(mixed.sanUpn, 'alice@corp.example');
});

test('fill/a value with DN syntax stays one value (no injection)', () => {
  const filled = fillTemplate(TEMPLATE, {
    ...VALUES,
    DeviceUid: 'x,O=Evil+CN=admin',
    EnrollmentUser: 'a\\b',
  });
  const json = filled.subject.toJSON();
  assert.equal(json.length, 3, 'still three RDNs');
  assert.deepEqual(json[0], { CN: ['x,O=Evil+CN=admin'] });
  assert.deepEqual(json[1], { OU: ['a\\b'] });
  assert.deepEqual(json[2], { O: ['Contoso'] });
});

test('fill/errors name the placeholder: unknown, missing, malformed', () => {
  rejects(
    () => fillTemplate({ ...TEMPLATE, subject: 'CN={DeviceId}' }, VALUES),
    'pki_invalid_template',
    /unknown placeholder \{DeviceId\}/,
  );
  rejects(
    () => fillTemplate({ ...TEMPLATE, subject: 'CN={DeviceUid' }, VALUES),
    'pki_invalid_template',
    /unbalanced/,
  );
  const { DeviceUid: _omitted, ...withoutDevice } = VALUES;
  rejects(
    () => fillTemplate(TEMPLATE, withoutDevice),
    'pki_invalid_values',
    /subject CN needs \{DeviceUid\}/,
  );
  const { UserPrincipalName: _upn, ...withoutUpn } = VALUES;
  rejects(
    () => fillTemplate(TEMPLATE, withoutUpn),
    'pki_invalid_values',
    /SAN UPN needs \{UserPrincipalName\}/,
  );
  rejects(
    () => fillTemplate(TEMPLATE, { ...VALUES, Mailbox: 'x' } as never),
    'pki_invalid_values',
    /unknown lookup value Mailbox/,
  );
  rejects(
    () => fillTemplate(TEMPLATE, { ...VALUES, EmailAddress: 'not-an-address' }),
    'pki_invalid_values',
    /EmailAddress must look like name@domain/,
  );
  // rfc822Name is IA5String: a non-ASCII address cannot be an email SAN (a UPN may be UTF-8).
  rejects(
    () => fillTemplate(TEMPLATE, { ...VALUES, EmailAddress: 'jürgen@contoso.example' }),
    'pki_invalid_values',
    /ASCII/,
  );
  assert.equal(
    fillTemplate(TEMPLATE, { ...VALUES, UserPrincipalName: 'jürgen@contoso.example' }).sanUpn,
    'jürgen@contoso.example',
  );
  rejects(
    () => fillTemplate(TEMPLATE, { ...VALUES, DeviceUid: 'a\nb' }),
    'pki_invalid_values',
    /control characters/,
  );
  rejects(
    () => fillTemplate({ ...TEMPLATE, subject: 'XX={DeviceUid}' }, VALUES),
    'pki_invalid_template',
    /unknown attribute type XX/,
  );
  rejects(
    () => fillTemplate({ ...TEMPLATE, subject: 'C={EnrollmentUser}' }, VALUES),
    'pki_invalid_values',
    /two-letter country/,
  );
});

test('template/key size 2048, 3072 or 4096; days 1..3650; renewDays below days', () => {
  const base = { name: 'devices', subject: 'CN={DeviceUid}' };
  for (const keySize of [1024, 2047, 8192]) {
    rejects(
      () => newTemplate({ ...base, keySize }, TEST_MASTER),
      'pki_invalid_template',
      /key size must be one of 2048, 3072, 4096/,
    );
  }
  rejects(
    () => newTemplate({ ...base, days: 0 }, TEST_MASTER),
    'pki_invalid_template',
    /days must be a whole number from 1 to 3650/,
  );
  rejects(() => newTemplate({ ...base, days: 3651 }, TEST_MASTER), 'pki_invalid_template', /days/);
  rejects(
    () => newTemplate({ ...base, days: 30, renewDays: 30 }, TEST_MASTER),
    'pki_invalid_template',
    /renewDays/,
  );
  rejects(() => newTemplate({ ...base, name: '../x' }, TEST_MASTER), 'pki_invalid_template', /name/);
  rejects(
    () => newTemplate({ ...base, challenge: 'static:short' }, TEST_MASTER),
    'pki_invalid_template',
    /static challenge/,
  );
  rejects(
    () => newTemplate({ ...base, challenge: 'sometimes' }, TEST_MASTER),
    'pki_invalid_template',
    /dynamic/,
  );
  rejects(
    () => newTemplate({ ...base, sanEmail: '{Email}' }, TEST_MASTER),
    'pki_invalid_template',
    /SAN email: unknown placeholder/,
  );

  const defaults = newTemplate(base, TEST_MASTER);
  assert.deepEqual(
    { ...defaults },
    {
      name: 'devices',
      subject: 'CN={DeviceUid}',
      sanEmail: null,
      sanUpn: null,
      keySize: 2048,
      days: 365,
      renewDays: 30,
      challenge: 'dynamic',
      challengeSecretEnc: null,
      revokeOnUnenrol: true,
    },
  );
  assert.equal(newTemplate({ ...base, days: 10 }, TEST_MASTER).renewDays, 9);
});

test('template/a static challenge is sealed and never shown', () => {
  const secret = 'S3cret-Challenge-42';
  const template = newTemplate(
    { name: 'kiosk', subject: 'CN={DeviceUid}', challenge: `static:${secret}` },
    TEST_MASTER,
  );
  assert.equal(template.challenge, 'static');
  assert.ok(template.challengeSecretEnc?.startsWith('v1.'));
  assert.ok(!template.challengeSecretEnc?.includes(secret));
  assert.ok(!template.challengeSecretEnc?.includes(Buffer.from(secret).toString('base64url')));
  const shown = publicTemplate({ ...template, createdAt: 1, updatedAt: 1 });
  assert.equal('challengeSecretEnc' in shown, false);
  assert.ok(!JSON.stringify(shown).includes(secret));
});
