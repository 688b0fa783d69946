/**
 * A subject name in the form Apple's SCEP payload takes: an array of RDNs, each an array of
 * [type, value] pairs, e.g. `[[["CN","dev-1"]],[["O","Contoso"]]]` for `CN=dev-1, O=Contoso`.
 * Apple names the short forms C, L, ST, O, OU and CN and takes any other type as a dotted OID
 * (SCEP.PayloadContent "Subject", apple/device-management mdm/profiles/com.apple.security.scep.yaml).
 * The name is read back from the DER the template filling produced, so the profile asks for exactly
 * the subject the CA will issue.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import type { x509 } from '../x509.ts';

/** The attribute types Apple accepts by short name. */
const APPLE_SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.3': 'CN',
};

export type AppleSubject = [string, string][][];

export function appleSubject(name: x509.Name): AppleSubject {
  const rdns = AsnConvert.parse(name.toArrayBuffer(), Name);
  return rdns.map((rdn) =>
    rdn.map((attribute): [string, string] => [
      APPLE_SHORT_NAMES[attribute.type] ?? attribute.type,
      attribute.value.toString(),
    ]),
  );
}
