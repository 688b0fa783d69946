/**
 * Writing CMS SignedData (RFC 5652 §5) for SCEP: the signed pkiMessage of a CertRep and the
 * degenerate, certificates-only kind (GetCACert chains, the issued certificate). The signature
 * is computed with node:crypto; pkijs only builds the structure.
 */
import { createHash, type KeyObject, sign } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { issuerAndSerial, parseCertificate } from './certificates.ts';
import { encode, octetString, toArrayBuffer } from './der.ts';
import { DIGEST_OID, OID } from './oids.ts';

/**
 * The encapsulated content as DER wants it: one primitive OCTET STRING, present even when
 * empty. pkijs would split it into a constructed string and drop an empty one; OpenSSL's
 * PKCS7_verify (certmonger, sscep) refuses a pkiMessage without content ("no content").
 */
class DataContent extends pkijs.EncapsulatedContentInfo {
  readonly bytes: Buffer;

  constructor(bytes: Buffer) {
    super({ eContentType: OID.data });
    this.bytes = bytes;
  }

  override toSchema(): asn1js.Sequence {
    return new asn1js.Sequence({
      value: [
        new asn1js.ObjectIdentifier({ value: OID.data }),
        new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [octetString(this.bytes)] }),
      ],
    });
  }
}

export function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/**
 * DER orders a SET OF by the encodings of its elements (X.690 §11.6). OpenSSL re-encodes the
 * signed attributes before checking the signature, so an unsorted SET would not verify there.
 */
function derSetOrder(attributes: pkijs.Attribute[]): pkijs.Attribute[] {
  const encoded = attributes.map((a) => ({ attribute: a, der: encode(a) }));
  encoded.sort((x, y) => {
    const length = Math.max(x.der.length, y.der.length);
    const a = Buffer.concat([x.der, Buffer.alloc(length - x.der.length)]);
    const b = Buffer.concat([y.der, Buffer.alloc(length - y.der.length)]);
    return Buffer.compare(a, b);
  });
  return encoded.map((e) => e.attribute);
}

export interface SignOptions {
  /** The encapsulated content (eContent), possibly empty. */
  content: Buffer;
  /** Signed attributes besides contentType and messageDigest, which are added here. */
  attributes: pkijs.Attribute[];
  signer: { certificateDer: Buffer; privateKey: KeyObject };
  /** Certificates to carry so the reader can verify (the signer first). */
  certificatesDer: Buffer[];
  digest?: 'sha256' | 'sha512';
}

/** A SignedData with one RSA PKCS #1 v1.5 signer, as a ContentInfo DER. */
export function signData(options: SignOptions): Buffer {
  const digest = options.digest ?? 'sha256';
  const digestAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: DIGEST_OID[digest]! });
  const messageDigest = createHash(digest).update(options.content).digest();
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 0,
    attributes: derSetOrder([
      attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: OID.data })),
      attribute(OID.messageDigest, octetString(messageDigest)),
      ...options.attributes,
    ]),
  });
  // The signature covers the attributes encoded as a SET (RFC 5652 §5.4), not as [0].
  const toSign = encode(signedAttrs);
  toSign[0] = 0x31;
  const signature = sign(digest, toSign, options.signer.privateKey);

  const signer = parseCertificate(options.signer.certificateDer, 'signer certificate');
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [digestAlgorithm],
    encapContentInfo: new DataContent(options.content),
    certificates: options.certificatesDer.map((der) => parseCertificate(der)),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: issuerAndSerial(signer),
        digestAlgorithm,
        signedAttrs,
        signatureAlgorithm: new pkijs.AlgorithmIdentifier({
          algorithmId: OID.rsaEncryption,
          algorithmParams: new asn1js.Null(),
        }),
        signature: new asn1js.OctetString({ valueHex: toArrayBuffer(signature) }),
      }),
    ],
  });
  return encode(new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema() }));
}

/** A degenerate ("certs-only") SignedData: no content, no signers, just certificates. */
export function certificatesOnly(certificatesDer: Buffer[]): Buffer {
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    certificates: certificatesDer.map((der) => parseCertificate(der)),
    signerInfos: [],
  });
  return encode(new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema() }));
}
