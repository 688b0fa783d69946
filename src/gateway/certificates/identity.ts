/**
 * Parsing a client certificate into the gateway's identity: UPN (SAN otherName
 * 1.3.6.1.4.1.311.20.2.3, a UTF8String inside [0] EXPLICIT, as Microsoft's CAs and OpenSSL's
 * `otherName:1.3.6.1.4.1.311.20.2.3;UTF8:…` write it) and email (rfc822Name), plus the
 * extended key usages. Parsed with the @peculiar/asn1-x509 schemas rather than
 * `SubjectAlternativeNameExtension`, which throws on any otherName it does not know.
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  Certificate,
  DirectoryString,
  ExtendedKeyUsage,
  type Extension,
  SubjectAlternativeName,
} from '@peculiar/asn1-x509';
import { Name } from '@peculiar/x509';
import { distributionPointUrls, findExtension, fingerprint256, OID, serialHex, toDer } from './asn.ts';
import type { ClientIdentity } from './types.ts';

/** Everything the gateway reads from one certificate, in one parse. */
export interface ParsedCertificate {
  identity: ClientIdentity;
  /** Extended key usage OIDs; `undefined` when the certificate has no EKU extension. */
  extendedKeyUsages: string[] | undefined;
  /** http(s) URLs of the CRL Distribution Points extension. */
  crlUrls: string[];
  /** http(s) URLs of the Freshest CRL extension (delta CRLs). */
  deltaCrlUrls: string[];
}

export function parseCertificate(certDerOrPem: string | Uint8Array): ParsedCertificate {
  const der = toDer(certDerOrPem, ['CERTIFICATE']);
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  const extensions = tbs.extensions;
  const identity: ClientIdentity = {
    subject: new Name(tbs.subject).toString(),
    issuer: new Name(tbs.issuer).toString(),
    serialNumber: serialHex(tbs.serialNumber),
    fingerprint256: fingerprint256(der),
    notAfter: tbs.validity.notAfter.getTime(),
  };
  const san = findExtension(extensions, OID.subjectAltName);
  if (san) Object.assign(identity, namesFromSan(san));
  const eku = findExtension(extensions, OID.extKeyUsage);
  const cdp = findExtension(extensions, OID.crlDistributionPoints);
  const freshest = findExtension(extensions, OID.freshestCrl);
  return {
    identity,
    extendedKeyUsages: eku ? [...AsnConvert.parse(eku.extnValue.buffer, ExtendedKeyUsage)] : undefined,
    crlUrls: cdp ? distributionPointUrls(cdp.extnValue.buffer) : [],
    deltaCrlUrls: freshest ? distributionPointUrls(freshest.extnValue.buffer) : [],
  };
}

/** The identity of a certificate (DER bytes or PEM), for the gateway, its tests and the CLI. */
export function parseClientIdentity(certDerOrPem: string | Uint8Array): ClientIdentity {
  return parseCertificate(certDerOrPem).identity;
}

function namesFromSan(extension: Extension): { upn?: string; email?: string } {
  const names: { upn?: string; email?: string } = {};
  for (const name of AsnConvert.parse(extension.extnValue.buffer, SubjectAlternativeName)) {
    if (names.email === undefined && name.rfc822Name !== undefined) names.email = name.rfc822Name;
    if (names.upn === undefined && name.otherName?.typeId === OID.upn) {
      // OtherName.value is the content of the [0] EXPLICIT tag: the UTF8String itself.
      const value = AsnConvert.parse(name.otherName.value, DirectoryString).toString();
      if (value !== '') names.upn = value;
    }
  }
  return names;
}
