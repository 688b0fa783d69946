/**
 * Signing a .mobileconfig: a CMS SignedData (RFC 5652 §5) with the plist as encapsulated content
 * (not detached), one signer identified by issuer and serial, SHA-256, the signed attributes
 * contentType, messageDigest and signingTime, and the signer's certificate plus its chain. That
 * is what `security cms -S` on macOS and `openssl smime -sign -nodetach -outform der` write, and
 * what iOS reads to show a profile as "Verified". pkijs builds the structure; node:crypto signs.
 */
import { createHash, createPrivateKey, type KeyObject, sign, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { PkiError } from '../errors.ts';
import type { ProfileSigner } from './types.ts';

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

function der(value: { toSchema(): { toBER(): ArrayBuffer } } | { toBER(): ArrayBuffer }): Buffer {
  return Buffer.from('toBER' in value ? value.toBER() : value.toSchema().toBER());
}

/**
 * The encapsulated content as one primitive OCTET STRING (DER). pkijs would cut it into a
 * constructed string of 64 KB pieces, which is valid BER but not what `security cms` writes.
 */
class PlistContent extends pkijs.EncapsulatedContentInfo {
  readonly bytes: Buffer;

  constructor(bytes: Buffer) {
    super({ eContentType: OID.data });
    this.bytes = bytes;
  }

  override toSchema(): asn1js.Sequence {
    return new asn1js.Sequence({
      value: [
        new asn1js.ObjectIdentifier({ value: OID.data }),
        new asn1js.Constructed({
          idBlock: { tagClass: 3, tagNumber: 0 },
          value: [new asn1js.OctetString({ valueHex: toArrayBuffer(this.bytes) })],
        }),
      ],
    });
  }
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/** DER orders a SET OF by its elements' encodings (X.690 §11.6); OpenSSL re-encodes to verify. */
function derSetOrder(attributes: pkijs.Attribute[]): pkijs.Attribute[] {
  const encoded = attributes.map((a) => ({ attribute: a, der: der(a) }));
  encoded.sort((x, y) => {
    const length = Math.max(x.der.length, y.der.length);
    return Buffer.compare(
      Buffer.concat([x.der, Buffer.alloc(length - x.der.length)]),
      Buffer.concat([y.der, Buffer.alloc(length - y.der.length)]),
    );
  });
  return encoded.map((e) => e.attribute);
}

function unavailable(message: string, cause?: unknown): PkiError {
  return new PkiError('pki_unavailable', message, cause === undefined ? undefined : { cause });
}

/** Every CERTIFICATE block in `pem`, parsed. */
function certificatesIn(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw unavailable(`the profile signing ${what} holds no PEM certificate`);
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch (error) {
    throw unavailable(`the profile signing ${what} is not a readable certificate`, error);
  }
}

export interface LoadedSigner {
  certificate: X509Certificate;
  privateKey: KeyObject;
  chain: X509Certificate[];
}

/** Reads and checks the signing material: the key must belong to the certificate. */
export function loadSigner(signer: ProfileSigner): LoadedSigner {
  const certificate = certificatesIn(signer.certificatePem, 'certificate')[0]!;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(signer.privateKeyPem);
  } catch (error) {
    throw unavailable('the profile signing key is not a readable private key', error);
  }
  if (privateKey.asymmetricKeyType !== 'rsa' && privateKey.asymmetricKeyType !== 'ec') {
    throw unavailable('the profile signing key must be RSA or EC');
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw unavailable('the profile signing key does not belong to the profile signing certificate');
  }
  const chain = (signer.chainPem ?? []).flatMap((pem) => certificatesIn(pem, 'chain'));
  return { certificate, privateKey, chain };
}

/** The SignedData ContentInfo (DER) wrapping `content`, signed by `signer` at `signingTime`. */
export function signProfile(content: Buffer, signer: LoadedSigner, signingTime = new Date()): Buffer {
  const digestAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha256 });
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 0,
    attributes: derSetOrder([
      attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: OID.data })),
      attribute(
        OID.messageDigest,
        new asn1js.OctetString({ valueHex: toArrayBuffer(createHash('sha256').update(content).digest()) }),
      ),
      // UTCTime for dates from 1950 to 2049 (RFC 5652 §11.3).
      attribute(OID.signingTime, new asn1js.UTCTime({ valueDate: signingTime })),
    ]),
  });
  // The signature covers the attributes encoded as a SET (RFC 5652 §5.4), not as [0].
  const toSign = der(signedAttrs);
  toSign[0] = 0x31;
  const signature = sign('sha256', toSign, signer.privateKey);
  const signatureAlgorithm =
    signer.privateKey.asymmetricKeyType === 'rsa'
      ? new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() })
      : new pkijs.AlgorithmIdentifier({ algorithmId: OID.ecdsaWithSha256 });

  const parse = (certificate: X509Certificate) => pkijs.Certificate.fromBER(toArrayBuffer(certificate.raw));
  const signerCertificate = parse(signer.certificate);
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [digestAlgorithm],
    encapContentInfo: new PlistContent(content),
    certificates: [signerCertificate, ...signer.chain.map(parse)],
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({
          issuer: signerCertificate.issuer,
          serialNumber: signerCertificate.serialNumber,
        }),
        digestAlgorithm,
        signedAttrs,
        signatureAlgorithm,
        signature: new asn1js.OctetString({ valueHex: toArrayBuffer(signature) }),
      }),
    ],
  });
  return der(new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema() }));
}
