/**
 * The iOS configuration profile (.mobileconfig): a SCEP payload that enrolls the device's
 * certificate and an Exchange ActiveSync payload that points Mail at the gateway and
 * authenticates with that certificate. Keys follow Apple's Device Management reference
 * (apple/device-management, mdm/profiles/): TopLevel.yaml, CommonPayloadKeys.yaml,
 * com.apple.security.scep.yaml and com.apple.eas.account.yaml.
 *
 * The XML is written by the `plist` package (xmlbuilder underneath), which escapes `<`, `&` and
 * `>` in every key and string.
 */
import { randomUUID } from 'node:crypto';
import { build, type PlistValue } from 'plist';
import { PkiError } from '../errors.ts';
import type { AppleSubject } from './subject.ts';

/** Key sizes Apple lists for the SCEP payload's `Keysize` (SCEP.PayloadContent). */
export const APPLE_KEY_SIZES = [1024, 2048, 4096] as const;
/** `Key Usage` bitmask: 1 signing, 4 encryption; 5 asks for a key usable for both. */
const KEY_USAGE_SIGN_AND_ENCRYPT = 5;
/** Apple's defaults for polling a PENDING enrollment (SCEP.PayloadContent Retries, RetryDelay). */
const RETRIES = 3;
const RETRY_DELAY_SECONDS = 10;

export interface MobileconfigParts {
  /** The profile's PayloadIdentifier; the payloads append `.scep` and `.eas`. */
  identifier: string;
  displayName: string;
  description: string;
  organization: string;
  scep: {
    url: string;
    caName?: string;
    subject: AppleSubject;
    challenge: string;
    keySize: number;
    sanEmail: string | null;
    sanUpn: string | null;
    caFingerprint?: Buffer;
  };
  eas: {
    host: string;
    email: string;
    userName: string;
    accountName: string;
  };
}

/** A PayloadUUID: random (v4), upper case as Apple's `uuidgen` writes it. */
export function payloadUuid(): string {
  return randomUUID().toUpperCase();
}

/**
 * The smallest key size Apple lists that the template accepts. The CA takes any CSR with at least
 * the template's size, so a 3072-bit template asks devices for 4096 bits.
 */
export function appleKeySize(templateKeySize: number): number {
  const size = APPLE_KEY_SIZES.find((candidate) => candidate >= templateKeySize);
  if (size === undefined) {
    throw new PkiError('pki_invalid_template', `iOS cannot make keys of ${templateKeySize} bits`);
  }
  return size;
}

/** The profile as a plist object; exported so tests can compare a parsed profile with it. */
export function mobileconfigObject(parts: MobileconfigParts): Record<string, PlistValue> {
  const scepUuid = payloadUuid();
  const subjectAltName: Record<string, string> = {};
  if (parts.scep.sanEmail !== null) subjectAltName.rfc822Name = parts.scep.sanEmail;
  if (parts.scep.sanUpn !== null) subjectAltName.ntPrincipalName = parts.scep.sanUpn;

  const scepContent: Record<string, PlistValue> = {
    URL: parts.scep.url,
    Subject: parts.scep.subject,
    Challenge: parts.scep.challenge,
    Keysize: parts.scep.keySize,
    'Key Type': 'RSA',
    'Key Usage': KEY_USAGE_SIGN_AND_ENCRYPT,
    Retries: RETRIES,
    RetryDelay: RETRY_DELAY_SECONDS,
  };
  if (parts.scep.caName !== undefined) scepContent.Name = parts.scep.caName;
  if (Object.keys(subjectAltName).length > 0) scepContent.SubjectAltName = subjectAltName;
  if (parts.scep.caFingerprint !== undefined) scepContent.CAFingerprint = parts.scep.caFingerprint;

  const scep: Record<string, PlistValue> = {
    PayloadType: 'com.apple.security.scep',
    PayloadVersion: 1,
    PayloadIdentifier: `${parts.identifier}.scep`,
    PayloadUUID: scepUuid,
    PayloadDisplayName: 'Device certificate',
    PayloadDescription: 'Enrolls the certificate this device uses to reach mail.',
    PayloadOrganization: parts.organization,
    PayloadContent: scepContent,
  };

  const eas: Record<string, PlistValue> = {
    PayloadType: 'com.apple.eas.account',
    PayloadVersion: 1,
    PayloadIdentifier: `${parts.identifier}.eas`,
    PayloadUUID: payloadUuid(),
    PayloadDisplayName: parts.eas.accountName,
    PayloadDescription: 'Configures the Exchange account through the secure email gateway.',
    PayloadOrganization: parts.organization,
    EmailAddress: parts.eas.email,
    Host: parts.eas.host,
    SSL: true,
    UserName: parts.eas.userName,
    // The identity from the SCEP payload above authenticates the account to the gateway
    // (ExchangeActiveSync PayloadCertificateUUID: "the UUID of the certificate payload within
    // the same profile to use for the identity credential").
    PayloadCertificateUUID: scepUuid,
  };

  return {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: parts.identifier,
    PayloadUUID: payloadUuid(),
    PayloadDisplayName: parts.displayName,
    PayloadDescription: parts.description,
    PayloadOrganization: parts.organization,
    PayloadContent: [scep, eas],
  };
}

/** The profile as XML plist bytes (UTF-8). */
export function mobileconfigXml(profile: Record<string, PlistValue>): Buffer {
  return Buffer.from(build(profile), 'utf8');
}
