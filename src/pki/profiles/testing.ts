/**
 * Test support for device profiles: a template and an input as the route would pass them, and
 * the parsed .mobileconfig split into its two payloads.
 */
import assert from 'node:assert/strict';
import { type PlistValue, parse } from 'plist';
import type { CertificateTemplate } from '../templates.ts';
import type { DeviceProfileInput } from './types.ts';

export const TEMPLATE: CertificateTemplate = {
  name: 'device',
  subject: 'CN={DeviceUid},OU={EnrollmentUser},O=Contoso',
  sanEmail: '{EmailAddress}',
  sanUpn: '{UserPrincipalName}',
  keySize: 2048,
  days: 365,
  renewDays: 30,
  challenge: 'dynamic',
  revokeOnUnenrol: true,
  createdAt: 0,
  updatedAt: 0,
};

/** SHA-256 of some CA certificate, as the CA's AuthorityInfo gives it (hex). */
export const FINGERPRINT_HEX = '6D0E6B2A5B3C7F1E9A8D4C2B1F0E3D5C7A9B8C6D4E2F1A3B5C7D9E0F1A2B3C4D';

export function input(overrides: Partial<DeviceProfileInput> = {}): DeviceProfileInput {
  return {
    deviceUid: 'F2LX1234ABCD',
    user: 'alice@corp.contoso.example',
    email: 'alice@contoso.example',
    enrollmentUser: 'alice',
    displayName: 'Alice Example',
    template: TEMPLATE,
    challenge: '0123456789ABCDEF0123456789ABCDEF',
    scepUrl: 'https://herald.contoso.example/pki/scep',
    caName: 'herald',
    caFingerprint: FINGERPRINT_HEX,
    gatewayHost: 'mail.contoso.example',
    organization: 'Contoso',
    identifier: 'example.contoso.herald',
    ...overrides,
  };
}

export type Dict = Record<string, PlistValue>;

export interface ParsedProfile {
  top: Dict;
  scep: Dict;
  /** The SCEP payload's PayloadContent. */
  scepContent: Dict;
  eas: Dict;
}

function dict(value: PlistValue | undefined, what: string): Dict {
  assert.ok(
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array),
    `${what} is a dictionary`,
  );
  assert.ok(!(value instanceof Date));
  return value as Dict;
}

/** Parses an XML profile; asserts exactly one SCEP and one EAS payload. */
export function parseProfile(xml: Buffer | string): ParsedProfile {
  const top = dict(parse(typeof xml === 'string' ? xml : xml.toString('utf8')), 'the profile');
  const content = top.PayloadContent;
  assert.ok(Array.isArray(content), 'PayloadContent is an array');
  assert.equal(content.length, 2, 'exactly two payloads');
  const payloads = content.map((p, i) => dict(p, `payload ${i}`));
  const scep = payloads.filter((p) => p.PayloadType === 'com.apple.security.scep');
  const eas = payloads.filter((p) => p.PayloadType === 'com.apple.eas.account');
  assert.equal(scep.length, 1, 'one SCEP payload');
  assert.equal(eas.length, 1, 'one Exchange ActiveSync payload');
  return {
    top,
    scep: scep[0]!,
    scepContent: dict(scep[0]!.PayloadContent, 'SCEP PayloadContent'),
    eas: eas[0]!,
  };
}

export const UPPER_UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/;
