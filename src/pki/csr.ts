/**
 * Certificate requests (PKCS #10, RFC 2986) from devices, SCEP or an operator: parsed, their
 * self-signature verified, their key checked against the template. Only RSA keys are accepted:
 * the templates speak of RSA key lengths (2048/3072/4096) as the MS PKI/ENS guide does.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { PkiError } from './errors.ts';
import { describeKey } from './keys.ts';
import { arrayBuffer, derFromInput, x509 } from './x509.ts';

const OID_SAN = '2.5.29.17';

export interface ParsedCsr {
  der: Buffer;
  request: x509.Pkcs10CertificateRequest;
  subject: x509.Name;
  publicKey: KeyObject;
  spki: Buffer;
  /** The first rfc822Name and UPN the request asks for (used only with a static challenge). */
  requestedEmail: string | null;
  requestedUpn: string | null;
}

export async function parseCsr(input: Buffer | string): Promise<ParsedCsr> {
  const der = derFromInput(input, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  if (der === undefined) throw new PkiError('pki_invalid_csr', 'no CERTIFICATE REQUEST PEM block found');
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(arrayBuffer(der));
  } catch (error) {
    throw new PkiError('pki_invalid_csr', 'the certificate request is not a PKCS #10 request', {
      cause: error,
    });
  }
  let valid: boolean;
  try {
    valid = await request.verify();
  } catch (error) {
    throw new PkiError('pki_invalid_csr', 'the request is signed with an unsupported algorithm', {
      cause: error,
    });
  }
  if (!valid) throw new PkiError('pki_invalid_csr', 'the request signature does not verify');

  const spki = Buffer.from(request.publicKey.rawData);
  const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  let requestedEmail: string | null = null;
  let requestedUpn: string | null = null;
  const sanExtension = request.getExtension(OID_SAN);
  const san = sanExtension && new x509.SubjectAlternativeNameExtension(sanExtension.rawData);
  for (const name of san?.names.items ?? []) {
    if (name.type === 'email' && requestedEmail === null) requestedEmail = name.value;
    if (name.type === 'upn' && requestedUpn === null) requestedUpn = name.value;
  }
  return { der, request, subject: request.subjectName, publicKey, spki, requestedEmail, requestedUpn };
}

/** RSA with at least the template's modulus length (the template states a minimum). */
export function checkKeySize(publicKey: KeyObject, keySize: number): void {
  const bits = publicKey.asymmetricKeyDetails?.modulusLength;
  if (publicKey.asymmetricKeyType !== 'rsa' || bits === undefined) {
    throw new PkiError(
      'pki_key_rejected',
      `the template requires an RSA key; the request has ${describeKey(publicKey)}`,
    );
  }
  if (bits < keySize) {
    throw new PkiError(
      'pki_key_rejected',
      `the template requires an RSA key of at least ${keySize} bits; the request has ${bits}`,
    );
  }
}
