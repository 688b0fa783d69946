/**
 * The pkcsPKIEnvelope (RFC 8894 §3.2.2): CMS EnvelopedData with RSA PKCS #1 v1.5 key transport.
 * pkijs reads and writes the structure; node:crypto unwraps and wraps the content key
 * (WebCrypto, and so pkijs, has no RSAES-PKCS1-v1_5; Node 24's OpenSSL does it with implicit
 * rejection, so a wrong key shows up as content that does not decrypt) and runs the cipher.
 */
import { constants, type KeyObject, privateDecrypt, publicEncrypt } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { identifies, issuerAndSerial, nodeCertificate, parseCertificate } from './certificates.ts';
import { type ContentCipher, cipherByOid, decryptContent, encryptContent } from './ciphers.ts';
import { encode, implicitOctets, octetString, octets, parseAsn1 } from './der.ts';
import { ScepMalformedError, ScepRefusal } from './errors.ts';
import { OID } from './oids.ts';

export interface OpenedEnvelope {
  content: Buffer;
  cipher: ContentCipher;
}

function readEnvelopedData(der: Buffer): pkijs.EnvelopedData {
  try {
    const info = new pkijs.ContentInfo({ schema: parseAsn1(der, 'pkcsPKIEnvelope') });
    if (info.contentType !== OID.envelopedData) throw new Error(`content type ${info.contentType}`);
    return new pkijs.EnvelopedData({ schema: info.content });
  } catch (error) {
    throw new ScepRefusal('badRequest', 'The pkcsPKIEnvelope is not CMS EnvelopedData.', { cause: error });
  }
}

/** Decrypt an EnvelopedData addressed to `recipient`. Refusals carry the failInfo to answer. */
export function openEnvelope(
  der: Buffer,
  recipient: { certificateDer: Buffer; privateKey: KeyObject },
): OpenedEnvelope {
  const enveloped = readEnvelopedData(der);
  const info = enveloped.encryptedContentInfo;
  const cipher = cipherByOid(info.contentEncryptionAlgorithm.algorithmId);
  let iv: Buffer;
  let ciphertext: Buffer;
  try {
    iv = octets(info.contentEncryptionAlgorithm.algorithmParams, 'content encryption IV');
    if (!info.encryptedContent) throw new ScepMalformedError('no encrypted content');
    ciphertext = implicitOctets(info.encryptedContent, 'encrypted content');
  } catch (error) {
    throw new ScepRefusal('badRequest', 'The pkcsPKIEnvelope has no IV or no encrypted content.', {
      cause: error,
    });
  }

  const ours = parseCertificate(recipient.certificateDer, 'recipient certificate');
  const keyTransports = enveloped.recipientInfos
    .filter((r) => r.variant === 1 && r.value instanceof pkijs.KeyTransRecipientInfo)
    .map((r) => r.value as pkijs.KeyTransRecipientInfo);
  if (keyTransports.length === 0) {
    throw new ScepRefusal('badAlg', 'The pkcsPKIEnvelope has no key transport (RSA) recipient.');
  }
  // Recipients that name our certificate first; if none does (a subjectKeyIdentifier, an odd
  // client), each is tried: only our key can unwrap a key that then decrypts the content.
  const addressed = keyTransports.filter((k) => identifies(k.rid, ours));
  let lastRefusal: ScepRefusal | undefined;
  for (const keyTransport of addressed.length > 0 ? addressed : keyTransports) {
    if (keyTransport.keyEncryptionAlgorithm.algorithmId !== OID.rsaEncryption) {
      lastRefusal = new ScepRefusal(
        'badAlg',
        `The key encryption algorithm ${keyTransport.keyEncryptionAlgorithm.algorithmId} is not supported (RSA PKCS #1 v1.5 only).`,
      );
      continue;
    }
    try {
      const key = privateDecrypt(
        { key: recipient.privateKey, padding: constants.RSA_PKCS1_PADDING },
        octets(keyTransport.encryptedKey, 'encrypted key'),
      );
      return { content: decryptContent(cipher, key, iv, ciphertext), cipher };
    } catch (error) {
      lastRefusal =
        error instanceof ScepRefusal
          ? error
          : new ScepRefusal('badMessageCheck', 'The message could not be decrypted.', { cause: error });
    }
  }
  throw lastRefusal ?? new ScepRefusal('badMessageCheck', 'The message could not be decrypted.');
}

/** Encrypt `content` to the holder of `recipientCertificateDer`; returns ContentInfo DER. */
export function sealEnvelope(
  content: Buffer,
  recipientCertificateDer: Buffer,
  cipher: ContentCipher,
): Buffer {
  const recipient = parseCertificate(recipientCertificateDer, 'recipient certificate');
  const publicKey = nodeCertificate(recipientCertificateDer).publicKey;
  const { key, iv, ciphertext } = encryptContent(cipher, content);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, key);

  const encryptedContentInfo = new pkijs.EncryptedContentInfo({
    contentType: OID.data,
    contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: cipher.oid,
      algorithmParams: octetString(iv),
    }),
    encryptedContent: octetString(ciphertext),
    // DER: one primitive OCTET STRING rather than pkijs's 1 KiB pieces.
    disableSplit: true,
  });
  const enveloped = new pkijs.EnvelopedData({
    version: 0,
    recipientInfos: [
      new pkijs.RecipientInfo({
        variant: 1,
        value: new pkijs.KeyTransRecipientInfo({
          version: 0,
          rid: issuerAndSerial(recipient),
          keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({
            algorithmId: OID.rsaEncryption,
            algorithmParams: new asn1js.Null(),
          }),
          encryptedKey: octetString(encryptedKey),
        }),
      }),
    ],
    encryptedContentInfo,
  });
  return encode(new pkijs.ContentInfo({ contentType: OID.envelopedData, content: enveloped.toSchema() }));
}
