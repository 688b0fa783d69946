/**
 * `buildDeviceProfiles`: one device's iOS configuration profile (signed when a signer is given)
 * and Android managed configuration, from the template, the one-time challenge and the gateway.
 * Pure apart from random PayloadUUIDs and the signing time: no store, no network, no logging
 * (the profiles hold the challenge, which never goes to a log).
 */
import { fillTemplate } from '../names.ts';
import { androidConfig } from './android.ts';
import {
  checkAddress,
  checkIdentifierPrefix,
  checkScepUrl,
  checkText,
  deviceIdentifier,
  parseFingerprint,
  parseGatewayHost,
  profileLookupValues,
} from './input.ts';
import { appleKeySize, mobileconfigObject, mobileconfigXml } from './mobileconfig.ts';
import { loadSigner, signProfile } from './sign.ts';
import { appleSubject } from './subject.ts';
import type { DeviceProfileInput, DeviceProfiles } from './types.ts';

export function buildDeviceProfiles(input: DeviceProfileInput): DeviceProfiles {
  const deviceUid = checkText(input.deviceUid, 'the device id');
  const user = checkText(input.user, 'the user');
  const email = checkAddress(input.email, 'the email address');
  const enrollmentUser =
    input.enrollmentUser === undefined ? undefined : checkText(input.enrollmentUser, 'the enrollment user');
  const displayName =
    input.displayName === undefined ? undefined : checkText(input.displayName, 'the display name');
  const challenge = checkText(input.challenge, 'the challenge');
  const scepUrl = checkScepUrl(input.scepUrl);
  const caName = input.caName === undefined ? undefined : checkText(input.caName, 'the CA name');
  const caFingerprint = input.caFingerprint === undefined ? undefined : parseFingerprint(input.caFingerprint);
  const gateway = parseGatewayHost(input.gatewayHost);
  const organization = checkText(input.organization, 'the organization');
  const identifier = deviceIdentifier(checkIdentifierPrefix(input.identifier), deviceUid);
  // Before any work: a bad signing key is a configuration error the caller must see.
  const signer = input.sign === undefined ? undefined : loadSigner(input.sign);

  // Checks the values and fills subject and SANs exactly as the CA will when the device enrolls.
  const filled = fillTemplate(
    input.template,
    profileLookupValues({ deviceUid, user, email, enrollmentUser }),
  );
  const who = displayName ?? email;

  const profile = mobileconfigObject({
    identifier,
    displayName: `${organization} mail for ${who}`,
    description: `Enrolls a device certificate from ${organization}'s certificate authority and sets up the Exchange account for ${email} through the secure email gateway.`,
    organization,
    scep: {
      url: scepUrl,
      caName,
      subject: appleSubject(filled.subject),
      challenge,
      keySize: appleKeySize(input.template.keySize),
      sanEmail: filled.sanEmail,
      sanUpn: filled.sanUpn,
      caFingerprint,
    },
    eas: { host: gateway.text, email, userName: user, accountName: `Exchange (${who})` },
  });
  const xml = mobileconfigXml(profile);

  return {
    mobileconfig: signer === undefined ? xml : signProfile(xml, signer),
    mobileconfigSigned: signer !== undefined,
    identifier,
    android: androidConfig({
      identifier,
      deviceUid,
      organization,
      displayName,
      gateway,
      email,
      username: user,
      scepUrl,
      caName,
      challenge,
      subject: filled.subjectText,
      keySize: input.template.keySize,
      sanEmail: filled.sanEmail,
      sanUpn: filled.sanUpn,
      caFingerprint,
    }),
  };
}
