/**
 * Certificates as SCEP needs them: the pkijs structure (for IssuerAndSerialNumber in CMS) and
 * node's X509Certificate (for public keys and signature checks), from one DER encoding.
 */
import { X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { parseAsn1 } from './der.ts';
import { ScepMalformedError } from './errors.ts';

export function parseCertificate(der: Uint8Array, what = 'certificate'): pkijs.Certificate {
  try {
    return new pkijs.Certificate({ schema: parseAsn1(der, what) });
  } catch (error) {
    if (error instanceof ScepMalformedError) throw error;
    throw new ScepMalformedError(`The ${what} is not an X.509 certificate.`, { cause: error });
  }
}

export function issuerAndSerial(certificate: pkijs.Certificate): pkijs.IssuerAndSerialNumber {
  return new pkijs.IssuerAndSerialNumber({
    issuer: certificate.issuer,
    serialNumber: certificate.serialNumber,
  });
}

/** Whether a CMS signer / recipient identifier names this certificate. */
export function identifies(id: unknown, certificate: pkijs.Certificate): boolean {
  if (id instanceof pkijs.IssuerAndSerialNumber) {
    return id.issuer.isEqual(certificate.issuer) && id.serialNumber.isEqual(certificate.serialNumber);
  }
  return false;
}

/** A certificate whose issuer is itself and whose signature its own key verifies. */
export function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

export function nodeCertificate(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (error) {
    throw new ScepMalformedError('A certificate in the message cannot be read.', { cause: error });
  }
}
