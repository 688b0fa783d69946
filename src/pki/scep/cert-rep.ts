/**
 * The CertRep reply (RFC 8894 §3.3.2): a pkiMessage signed by the CA with SHA-256 whose signed
 * attributes echo the request's transactionID, return its senderNonce as recipientNonce, add a
 * fresh senderNonce and give pkiStatus (with failInfo when FAILURE). On SUCCESS the content is
 * an EnvelopedData, encrypted to the requester's signing certificate, around a degenerate
 * SignedData holding the issued certificate; otherwise the content is empty.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import type { ContentCipher } from './ciphers.ts';
import { octetString } from './der.ts';
import { sealEnvelope } from './envelope.ts';
import { FailInfoCode, MessageType, OID, PkiStatus } from './oids.ts';
import { attribute, certificatesOnly, signData } from './signed-data.ts';
import type { ScepPollResult } from './types.ts';

export interface CertRepOptions {
  transactionId: string;
  /** The request's senderNonce. */
  recipientNonce: Buffer;
  result: ScepPollResult;
  /** Who gets the issued certificate (the request's signer) and with which cipher; SUCCESS only. */
  requester?: { certificateDer: Buffer; cipher: ContentCipher };
  /** The CA certificate and key that sign the reply. */
  signer: { certificateDer: Buffer; privateKey: KeyObject };
  /** Certificates the reply carries so the client can verify it (the signer first). */
  certificatesDer: Buffer[];
}

const printable = (value: string) => new asn1js.PrintableString({ value });

export function encodeCertRep(options: CertRepOptions): Buffer {
  const { result } = options;
  const attributes = [
    attribute(OID.messageType, printable(String(MessageType.CertRep))),
    attribute(OID.pkiStatus, printable(PkiStatus[result.status])),
    attribute(OID.transactionId, printable(options.transactionId)),
    attribute(OID.recipientNonce, octetString(options.recipientNonce)),
    attribute(OID.senderNonce, octetString(randomBytes(16))),
  ];
  let content: Buffer = Buffer.alloc(0);
  if (result.status === 'FAILURE') {
    attributes.push(attribute(OID.failInfo, printable(FailInfoCode[result.failInfo])));
    attributes.push(attribute(OID.failInfoText, new asn1js.Utf8String({ value: result.reason })));
  } else if (result.status === 'SUCCESS') {
    if (!options.requester) throw new Error('a SUCCESS CertRep needs the requester certificate');
    content = sealEnvelope(
      certificatesOnly([result.certificateDer]),
      options.requester.certificateDer,
      options.requester.cipher,
    );
  }
  return signData({
    content,
    attributes,
    signer: options.signer,
    certificatesDer: options.certificatesDer,
  });
}
