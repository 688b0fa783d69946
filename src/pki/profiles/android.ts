/**
 * The Android counterpart of the .mobileconfig: a managed configuration (the application
 * restrictions bundle an EMM pushes to an email app), carrying the same enrollment and account.
 * Android has no standard ActiveSync or SCEP payload, so these are Herald's documented keys
 * (docs/pki-profiles.md), not a Google schema:
 *
 *   version                      1
 *   profile.identifier           the iOS PayloadIdentifier (stable per device)
 *   profile.deviceUid            the device id the certificate is issued for
 *   profile.organization         who provides the configuration
 *   profile.displayName          the user's name, when known
 *   exchange.host / .port        the secure email gateway (port 443 unless given)
 *   exchange.ssl                 always true
 *   exchange.email / .username   the mailbox address and the UPN
 *   exchange.clientCertificate   always true: authenticate with the enrolled certificate
 *   certificate.scepUrl          Herald's SCEP endpoint
 *   certificate.caName           SCEP CA identifier, when set
 *   certificate.challenge        the one-time SCEP password
 *   certificate.subject          RFC 4514 subject to request
 *   certificate.keyType/keySize  RSA and the modulus size to generate
 *   certificate.sanEmail/sanUpn  rfc822Name and UPN otherName SANs to request, when the template has them
 *   certificate.caFingerprint    upper-case hex of the CA fingerprint, when given
 */
import type { AndroidManagedConfig } from './types.ts';

export interface AndroidParts {
  identifier: string;
  deviceUid: string;
  organization: string;
  displayName?: string;
  gateway: { host: string; port: number };
  email: string;
  username: string;
  scepUrl: string;
  caName?: string;
  challenge: string;
  subject: string;
  keySize: number;
  sanEmail: string | null;
  sanUpn: string | null;
  caFingerprint?: Buffer;
}

export function androidConfig(parts: AndroidParts): AndroidManagedConfig {
  const certificate: AndroidManagedConfig['certificate'] = {
    scepUrl: parts.scepUrl,
    challenge: parts.challenge,
    subject: parts.subject,
    keyType: 'RSA',
    keySize: parts.keySize,
  };
  if (parts.caName !== undefined) certificate.caName = parts.caName;
  if (parts.sanEmail !== null) certificate.sanEmail = parts.sanEmail;
  if (parts.sanUpn !== null) certificate.sanUpn = parts.sanUpn;
  if (parts.caFingerprint !== undefined) {
    certificate.caFingerprint = parts.caFingerprint.toString('hex').toUpperCase();
  }
  const profile: AndroidManagedConfig['profile'] = {
    identifier: parts.identifier,
    deviceUid: parts.deviceUid,
    organization: parts.organization,
  };
  if (parts.displayName !== undefined) profile.displayName = parts.displayName;
  return {
    version: 1,
    profile,
    exchange: {
      host: parts.gateway.host,
      port: parts.gateway.port,
      ssl: true,
      email: parts.email,
      username: parts.username,
      clientCertificate: true,
    },
    certificate,
  };
}
