/**
 * The PKCS #10 request inside a PKCSReq or RenewalReq (RFC 8894 §3.3.1): read with
 * @peculiar/x509, its self-signature checked (proof of possession of the key), and its
 * challengePassword (PKCS #9, 1.2.840.113549.1.9.7) taken out for the authority.
 */
import 'reflect-metadata';
import { ChallengePasswordAttribute, Pkcs10CertificateRequest } from '@peculiar/x509';
import { parseAsn1 } from './der.ts';
import { ScepRefusal } from './errors.ts';
import { OID } from './oids.ts';

export interface ReadCsr {
  csrDer: Buffer;
  challenge?: string;
}

export async function readCsr(der: Buffer): Promise<ReadCsr> {
  let csr: Pkcs10CertificateRequest;
  try {
    parseAsn1(der, 'certificate request');
    csr = new Pkcs10CertificateRequest(der);
  } catch (error) {
    throw new ScepRefusal('badRequest', 'The enveloped content is not a PKCS #10 certificate request.', {
      cause: error,
    });
  }
  let verified: boolean;
  try {
    verified = await csr.verify();
  } catch (error) {
    throw new ScepRefusal('badAlg', 'The certificate request is signed with an unsupported algorithm.', {
      cause: error,
    });
  }
  if (!verified)
    throw new ScepRefusal('badMessageCheck', 'The certificate request signature does not verify.');

  const attribute = csr.getAttribute(OID.challengePassword);
  if (attribute === null) return { csrDer: der };
  if (!(attribute instanceof ChallengePasswordAttribute)) {
    throw new ScepRefusal('badRequest', 'The challengePassword attribute cannot be read.');
  }
  return { csrDer: der, challenge: attribute.password };
}
