/**
 * The end-entity certificate Herald issues to devices (MS PKI/ENS guide profile): subject and
 * SANs (rfc822Name email, otherName UPN 1.3.6.1.4.1.311.20.2.3 as UTF8String), key usage
 * "signing and encryption" (digitalSignature + keyEncipherment, critical), EKU Client
 * Authentication, SKI/AKI, CA:false, and where to check it: CDP (full CRL), Freshest CRL (delta
 * CRL) and AIA caIssuers, all HTTP URLs under publicUrl.
 */
import type { LoadedAuthority } from './authorities.ts';
import { PkiError } from './errors.ts';
import { freshestCrlExtension, OID_CLIENT_AUTH } from './extensions.ts';
import type { PkiUrls } from './urls.ts';
import { arrayBuffer, x509 } from './x509.ts';

export interface CertificateSpec {
  serial: string;
  subject: x509.Name;
  sanEmail: string | null;
  sanUpn: string | null;
  /** SubjectPublicKeyInfo DER. */
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  issuer: LoadedAuthority;
  urls: PkiUrls;
}

export async function buildCertificate(spec: CertificateSpec): Promise<x509.X509Certificate> {
  const { issuer, urls } = spec;
  if (issuer.signer === undefined) {
    throw new PkiError('pki_unavailable', `CA ${issuer.id} has no private key to sign with`);
  }
  const names: x509.JsonGeneralNames = [];
  if (spec.sanEmail !== null) names.push({ type: 'email', value: spec.sanEmail });
  if (spec.sanUpn !== null) names.push({ type: 'upn', value: spec.sanUpn });
  const emptySubject = spec.subject.toJSON().length === 0;
  if (emptySubject && names.length === 0) {
    throw new PkiError('pki_invalid_values', 'a certificate needs a subject or a subject alternative name');
  }
  const publicKey = arrayBuffer(spec.spki);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([OID_CLIENT_AUTH], false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
    new x509.CRLDistributionPointsExtension([urls.crl(issuer.id)]),
    freshestCrlExtension(urls.deltaCrl(issuer.id)),
    new x509.AuthorityInfoAccessExtension({ caIssuers: urls.caCertificate(issuer.id) }),
  ];
  // With an empty subject the SAN must be critical (RFC 5280 §4.2.1.6).
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, emptySubject));
  return x509.X509CertificateGenerator.create({
    serialNumber: spec.serial,
    subject: spec.subject,
    issuer: issuer.certificate.subjectName,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey,
    signingKey: issuer.signer.key,
    signingAlgorithm: issuer.signer.algorithm,
    extensions,
  });
}
