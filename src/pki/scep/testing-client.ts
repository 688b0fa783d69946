/**
 * A SCEP client for the tests, written the way real clients are: pkijs builds the CMS, WebCrypto
 * signs the pkiMessage (so the server's node:crypto verification is checked against another
 * implementation), and node:crypto does the RSA PKCS #1 v1.5 key transport (publicEncrypt) that
 * WebCrypto lacks. pkijs writes its OCTET STRINGs in constructed (BER) form, as some clients do.
 */
import 'reflect-metadata';
import {
  constants,
  createCipheriv,
  createDecipheriv,
  KeyObject,
  X509Certificate as NodeCertificate,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from './oids.ts';

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
} as const;

export const CLIENT_CIPHERS = {
  'des-ede3-cbc': { oid: '1.2.840.113549.3.7', keyLength: 24, ivLength: 8 },
  'aes-128-cbc': { oid: '2.16.840.1.101.3.4.1.2', keyLength: 16, ivLength: 16 },
  'aes-256-cbc': { oid: '2.16.840.1.101.3.4.1.42', keyLength: 32, ivLength: 16 },
} as const;
export type ClientCipher = keyof typeof CLIENT_CIPHERS;

export interface ScepTestIdentity {
  keys: webcrypto.CryptoKeyPair;
  /** The same private key for node:crypto (decrypting the CertRep). */
  privateKey: KeyObject;
  /** The certificate that signs requests: self-signed at first, then the issued one. */
  certificateDer: Buffer;
}

const ab = (bytes: Uint8Array): ArrayBuffer => {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
};

function parse(der: Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(ab(der));
  if (parsed.offset === -1) throw new Error(`not BER: ${parsed.result.error}`);
  return parsed.result;
}

/** OCTET STRING bytes, primitive or constructed, universal or IMPLICIT-tagged. */
function joinOctets(value: unknown): Buffer {
  if (value instanceof asn1js.OctetString && !value.idBlock.isConstructed) {
    return Buffer.from(value.valueBlock.valueHexView);
  }
  if (value instanceof asn1js.OctetString || value instanceof asn1js.Constructed) {
    return Buffer.concat(value.valueBlock.value.map((piece) => joinOctets(piece)));
  }
  if (value instanceof asn1js.Primitive) return Buffer.from(value.valueBlock.valueHexView);
  throw new Error('not an OCTET STRING');
}

export async function newIdentity(subject: string): Promise<ScepTestIdentity> {
  const keys = (await webcrypto.subtle.generateKey({ ...RSA, modulusLength: 2048 }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^./, '1'),
    name: subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: RSA,
  });
  return {
    keys,
    privateKey: KeyObject.from(keys.privateKey),
    certificateDer: Buffer.from(certificate.rawData),
  };
}

export async function createCsr(
  keys: webcrypto.CryptoKeyPair,
  subject: string,
  challenge?: string,
): Promise<Buffer> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys,
    signingAlgorithm: RSA,
    ...(challenge === undefined ? {} : { attributes: [new x509.ChallengePasswordAttribute(challenge)] }),
  });
  return Buffer.from(csr.rawData);
}

/** EnvelopedData to the CA certificate: RSA PKCS #1 v1.5 key transport, as SCEP clients do. */
export function envelopeFor(content: Buffer, recipientDer: Buffer, cipher: ClientCipher): Buffer {
  const spec = CLIENT_CIPHERS[cipher];
  const recipient = new pkijs.Certificate({ schema: parse(recipientDer) });
  const key = randomBytes(spec.keyLength);
  const iv = randomBytes(spec.ivLength);
  const encipher = createCipheriv(cipher, key, iv);
  const ciphertext = Buffer.concat([encipher.update(content), encipher.final()]);
  const encryptedKey = publicEncrypt(
    { key: new NodeCertificate(recipientDer).publicKey, padding: constants.RSA_PKCS1_PADDING },
    key,
  );
  const enveloped = new pkijs.EnvelopedData({
    version: 0,
    recipientInfos: [
      new pkijs.RecipientInfo({
        variant: 1,
        value: new pkijs.KeyTransRecipientInfo({
          version: 0,
          rid: new pkijs.IssuerAndSerialNumber({
            issuer: recipient.issuer,
            serialNumber: recipient.serialNumber,
          }),
          keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
            algorithmId: OID.rsaEncryption,
            algorithmParams: new asn1js.Null(),
          }),
          encryptedKey: new asn1js.OctetString({ valueHex: ab(encryptedKey) }),
        }),
      }),
    ],
    encryptedContentInfo: new pkijs.EncryptedContentInfo({
      contentType: OID.data,
      contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
        algorithmId: spec.oid,
        algorithmParams: new asn1js.OctetString({ valueHex: ab(iv) }),
      }),
      encryptedContent: new asn1js.OctetString({ valueHex: ab(ciphertext) }),
    }),
  });
  const info = new pkijs.ContentInfo({ contentType: OID.envelopedData, content: enveloped.toSchema() });
  return Buffer.from(info.toSchema().toBER());
}

export interface PkiMessageOptions {
  messageType: number;
  transactionId: string;
  senderNonce?: Buffer;
  /** The pkcsPKIEnvelope. */
  content: Buffer;
  signer: ScepTestIdentity;
  hash?: 'SHA-1' | 'SHA-256' | 'SHA-512';
}

/** A signed pkiMessage; pkijs signs with WebCrypto (sha*WithRSAEncryption). */
export async function signedPkiMessage(options: PkiMessageOptions): Promise<Buffer> {
  const hash = options.hash ?? 'SHA-256';
  const senderNonce = options.senderNonce ?? randomBytes(16);
  const signer = new pkijs.Certificate({ schema: parse(options.signer.certificateDer) });
  const digest = Buffer.from(await webcrypto.subtle.digest(hash, options.content));
  const attribute = (type: string, value: asn1js.AsnType) => new pkijs.Attribute({ type, values: [value] });
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: OID.data,
      eContent: new asn1js.OctetString({ valueHex: ab(options.content) }),
    }),
    certificates: [signer],
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: signer.issuer, serialNumber: signer.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({
          type: 0,
          attributes: [
            attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: OID.data })),
            attribute(OID.messageDigest, new asn1js.OctetString({ valueHex: ab(digest) })),
            attribute(OID.messageType, new asn1js.PrintableString({ value: String(options.messageType) })),
            attribute(OID.transactionId, new asn1js.PrintableString({ value: options.transactionId })),
            attribute(OID.senderNonce, new asn1js.OctetString({ valueHex: ab(senderNonce) })),
          ],
        }),
      }),
    ],
  });
  // pkijs takes the hash from a key's algorithm; sign with a key imported for the wanted hash.
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', options.signer.keys.privateKey);
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: RSA.name, hash }, false, ['sign']);
  await signedData.sign(key, 0, hash);
  const info = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) });
  return Buffer.from(info.toSchema().toBER());
}

/** RFC 8894 §3.3.3 IssuerAndSubject for a CertPoll. */
export function issuerAndSubject(issuerCertificateDer: Buffer, subject: string): Buffer {
  const issuer = new pkijs.Certificate({ schema: parse(issuerCertificateDer) });
  const subjectName = parse(Buffer.from(new x509.Name(subject).toArrayBuffer()));
  return Buffer.from(new asn1js.Sequence({ value: [issuer.subject.toSchema(), subjectName] }).toBER());
}

export interface ReadCertRep {
  signatureVerified: boolean;
  signerCertificateDer?: Buffer;
  messageType?: string;
  pkiStatus?: string;
  failInfo?: string;
  failInfoText?: string;
  transactionId?: string;
  senderNonce?: Buffer;
  recipientNonce?: Buffer;
  /** The issued certificate, decrypted (SUCCESS only). */
  issuedDer?: Buffer;
  /** The cipher the reply was encrypted with (SUCCESS only). */
  contentCipherOid?: string;
}

/** Verify (pkijs, WebCrypto) and read a CertRep; decrypt the issued certificate with node:crypto. */
export async function readCertRep(der: Buffer, requester: ScepTestIdentity): Promise<ReadCertRep> {
  const info = new pkijs.ContentInfo({ schema: parse(der) });
  assertOid(info.contentType, OID.signedData, 'CertRep content type');
  const signedData = new pkijs.SignedData({ schema: info.content });
  const verification = await signedData.verify({ signer: 0, checkChain: false, extendedMode: true });
  const result: ReadCertRep = { signatureVerified: verification.signatureVerified === true };
  if (verification.signerCertificate) {
    result.signerCertificateDer = Buffer.from(verification.signerCertificate.toSchema().toBER());
  }
  const attributes = signedData.signerInfos[0]?.signedAttrs?.attributes ?? [];
  const value = (type: string) => attributes.find((a) => a.type === type)?.values[0];
  const text = (type: string) => {
    const v = value(type);
    return v instanceof asn1js.BaseStringBlock ? v.getValue() : undefined;
  };
  const bytes = (type: string) => {
    const v = value(type);
    return v === undefined ? undefined : joinOctets(v);
  };
  for (const [key, type] of [
    ['messageType', OID.messageType],
    ['pkiStatus', OID.pkiStatus],
    ['failInfo', OID.failInfo],
    ['failInfoText', OID.failInfoText],
    ['transactionId', OID.transactionId],
  ] as const) {
    const v = text(type);
    if (v !== undefined) result[key] = v;
  }
  const senderNonce = bytes(OID.senderNonce);
  const recipientNonce = bytes(OID.recipientNonce);
  if (senderNonce) result.senderNonce = senderNonce;
  if (recipientNonce) result.recipientNonce = recipientNonce;
  if (result.pkiStatus !== '0') return result;

  const envelope = new pkijs.ContentInfo({ schema: parse(joinOctets(signedData.encapContentInfo.eContent)) });
  assertOid(envelope.contentType, OID.envelopedData, 'CertRep envelope');
  const enveloped = new pkijs.EnvelopedData({ schema: envelope.content });
  const keyTransport = enveloped.recipientInfos[0]!.value as pkijs.KeyTransRecipientInfo;
  const key = privateDecrypt(
    { key: requester.privateKey, padding: constants.RSA_PKCS1_PADDING },
    joinOctets(keyTransport.encryptedKey),
  );
  const algorithm = enveloped.encryptedContentInfo.contentEncryptionAlgorithm;
  const cipher = Object.entries(CLIENT_CIPHERS).find(([, spec]) => spec.oid === algorithm.algorithmId);
  if (!cipher) throw new Error(`unexpected content cipher ${algorithm.algorithmId}`);
  const decipher = createDecipheriv(cipher[0], key, joinOctets(algorithm.algorithmParams));
  const plain = Buffer.concat([
    decipher.update(joinOctets(enveloped.encryptedContentInfo.encryptedContent)),
    decipher.final(),
  ]);
  const inner = new pkijs.ContentInfo({ schema: parse(plain) });
  assertOid(inner.contentType, OID.signedData, 'degenerate SignedData');
  const certificates = new pkijs.SignedData({ schema: inner.content }).certificates ?? [];
  const issued = certificates[0];
  if (!(issued instanceof pkijs.Certificate)) throw new Error('no certificate in the CertRep');
  result.issuedDer = Buffer.from(issued.toSchema().toBER());
  result.contentCipherOid = algorithm.algorithmId;
  return result;
}

function assertOid(actual: string, expected: string, what: string): void {
  if (actual !== expected) throw new Error(`${what}: ${actual}, expected ${expected}`);
}
