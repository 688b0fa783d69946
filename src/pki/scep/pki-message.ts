/**
 * Reading a request pkiMessage (RFC 8894 §3.2): ContentInfo → SignedData with one signer whose
 * signed attributes carry messageType, transactionID and senderNonce, and whose eContent is the
 * pkcsPKIEnvelope. The signature is checked here with node:crypto against the certificate the
 * message carries (self-signed for a first enrolment, an issued one for a renewal).
 *
 * What cannot be read throws ScepMalformedError (HTTP 400); what can be read but does not verify
 * comes back with `refusal` set, so the caller can still answer with a signed CertRep FAILURE
 * that echoes the transaction id and nonce.
 */
import { createHash, type KeyObject, verify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { identifies, isSelfSigned, nodeCertificate } from './certificates.ts';
import { encode, octets, parseAsn1 } from './der.ts';
import { ScepMalformedError, ScepRefusal } from './errors.ts';
import { DIGESTS, OID, RSA_SIGNATURES } from './oids.ts';

export interface PkiMessage {
  messageType: number;
  transactionId: string;
  senderNonce: Buffer;
  /** The certificate the signer info names, when the message carries it. */
  signerCertificateDer?: Buffer;
  /** Whether that certificate is self-signed (a first enrolment) or issued (a renewal). */
  signerSelfSigned: boolean;
  /** The eContent: the pkcsPKIEnvelope of PKCSReq, RenewalReq, CertPoll... */
  envelope: Buffer;
  /** Set when the message is not authentic: answer CertRep FAILURE with it. */
  refusal?: ScepRefusal;
}

const MAX_TRANSACTION_ID = 256;
const MAX_NONCE = 64;

function readSignedData(der: Buffer): pkijs.SignedData {
  const asn1 = parseAsn1(der, 'pkiMessage');
  let info: pkijs.ContentInfo;
  try {
    info = new pkijs.ContentInfo({ schema: asn1 });
  } catch (error) {
    throw new ScepMalformedError('The pkiMessage is not a CMS ContentInfo.', { cause: error });
  }
  if (info.contentType !== OID.signedData) {
    throw new ScepMalformedError('The pkiMessage is not CMS SignedData.');
  }
  try {
    return new pkijs.SignedData({ schema: info.content });
  } catch (error) {
    throw new ScepMalformedError('The pkiMessage is not valid CMS SignedData.', { cause: error });
  }
}

function attributeValue(signerInfo: pkijs.SignerInfo, type: string): unknown {
  const found = signerInfo.signedAttrs?.attributes.filter((a) => a.type === type) ?? [];
  if (found.length > 1) throw new ScepMalformedError(`The signed attribute ${type} appears more than once.`);
  return found[0]?.values?.[0];
}

function stringAttribute(signerInfo: pkijs.SignerInfo, type: string, name: string): string {
  const value = attributeValue(signerInfo, type);
  if (!(value instanceof asn1js.BaseStringBlock)) {
    throw new ScepMalformedError(`The pkiMessage has no ${name} attribute.`);
  }
  return value.getValue();
}

function readAttributes(signerInfo: pkijs.SignerInfo) {
  const messageTypeText = stringAttribute(signerInfo, OID.messageType, 'messageType');
  if (!/^\d{1,3}$/.test(messageTypeText)) throw new ScepMalformedError('The messageType is not a number.');
  const transactionId = stringAttribute(signerInfo, OID.transactionId, 'transactionID');
  // Echoed in the reply and logged: bounded, printable.
  if (
    transactionId.length === 0 ||
    transactionId.length > MAX_TRANSACTION_ID ||
    !/^[\x20-\x7e]+$/.test(transactionId)
  ) {
    throw new ScepMalformedError('The transactionID is empty, too long or not printable.');
  }
  const nonce = attributeValue(signerInfo, OID.senderNonce);
  if (nonce === undefined) throw new ScepMalformedError('The pkiMessage has no senderNonce attribute.');
  const senderNonce = octets(nonce, 'senderNonce');
  if (senderNonce.length === 0 || senderNonce.length > MAX_NONCE) {
    throw new ScepMalformedError('The senderNonce is empty or too long.');
  }
  return { messageType: Number(messageTypeText), transactionId, senderNonce };
}

/** RFC 5652 §5.4 and §5.6: content type, message digest, then the signature over the SET. */
function checkSignature(signerInfo: pkijs.SignerInfo, publicKey: KeyObject, content: Buffer): void {
  const digest = DIGESTS[signerInfo.digestAlgorithm.algorithmId];
  if (!digest) {
    throw new ScepRefusal(
      'badAlg',
      `The digest algorithm ${signerInfo.digestAlgorithm.algorithmId} is not supported.`,
    );
  }
  const signatureOid = signerInfo.signatureAlgorithm.algorithmId;
  if (!(signatureOid in RSA_SIGNATURES) || publicKey.asymmetricKeyType !== 'rsa') {
    throw new ScepRefusal('badAlg', `The signature algorithm ${signatureOid} is not supported (RSA only).`);
  }
  const contentType = attributeValue(signerInfo, OID.contentType);
  if (!(contentType instanceof asn1js.ObjectIdentifier) || contentType.getValue() !== OID.data) {
    throw new ScepRefusal('badMessageCheck', 'The contentType attribute does not match the content.');
  }
  const messageDigest = attributeValue(signerInfo, OID.messageDigest);
  const expected = createHash(digest).update(content).digest();
  if (
    !(messageDigest instanceof asn1js.OctetString) ||
    !octets(messageDigest, 'messageDigest').equals(expected)
  ) {
    throw new ScepRefusal('badMessageCheck', 'The messageDigest attribute does not match the content.');
  }
  const signedAttributes = Buffer.from(new Uint8Array(signerInfo.signedAttrs!.encodedValue));
  const signature = Buffer.from(signerInfo.signature.valueBlock.valueHexView);
  const hash = RSA_SIGNATURES[signatureOid] ?? digest;
  if (!verify(hash, signedAttributes, publicKey, signature)) {
    throw new ScepRefusal('badMessageCheck', 'The message signature does not verify.');
  }
}

export function decodePkiMessage(der: Buffer): PkiMessage {
  const signedData = readSignedData(der);
  if (signedData.signerInfos.length !== 1) {
    throw new ScepMalformedError('The pkiMessage must have exactly one signer.');
  }
  const signerInfo = signedData.signerInfos[0]!;
  if (!signerInfo.signedAttrs) throw new ScepMalformedError('The pkiMessage has no signed attributes.');
  const { messageType, transactionId, senderNonce } = readAttributes(signerInfo);

  const encapsulated = signedData.encapContentInfo;
  if (encapsulated.eContentType !== OID.data || !encapsulated.eContent) {
    throw new ScepMalformedError('The pkiMessage carries no data content.');
  }
  const envelope = octets(encapsulated.eContent, 'pkiMessage content');

  const message: PkiMessage = { messageType, transactionId, senderNonce, envelope, signerSelfSigned: false };
  const signer = (signedData.certificates ?? []).find(
    (c): c is pkijs.Certificate => c instanceof pkijs.Certificate && identifies(signerInfo.sid, c),
  );
  if (!signer) {
    message.refusal = new ScepRefusal(
      'badMessageCheck',
      'The message does not carry its signer certificate.',
    );
    return message;
  }
  message.signerCertificateDer = encode(signer);
  let publicKey: KeyObject;
  try {
    const certificate = nodeCertificate(message.signerCertificateDer);
    publicKey = certificate.publicKey;
    message.signerSelfSigned = isSelfSigned(certificate);
  } catch (error) {
    // A certificate OpenSSL cannot read (a mangled key, say): nothing to verify against.
    message.refusal = new ScepRefusal('badMessageCheck', 'The signer certificate cannot be read.', {
      cause: error,
    });
    return message;
  }
  try {
    checkSignature(signerInfo, publicKey, envelope);
  } catch (error) {
    if (!(error instanceof ScepRefusal)) throw error;
    message.refusal = error;
  }
  return message;
}
