/**
 * PKIOperation (RFC 8894 §3.3, §4.3): decode and verify the request, decrypt its envelope, hand
 * PKCSReq / RenewalReq to the authority's enroll and CertPoll to its poll, and answer with a
 * CertRep. Every readable request gets a signed CertRep, FAILURE included; only an unreadable one
 * throws ScepMalformedError (HTTP 400). Unsupported message types (GetCert, GetCRL...) get
 * FAILURE badRequest. A CA without an RSA key throws ScepUnavailableError (HTTP 503).
 */
import type { KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { encodeCertRep } from './cert-rep.ts';
import type { ContentCipher } from './ciphers.ts';
import { readCsr } from './csr.ts';
import { parseAsn1 } from './der.ts';
import { openEnvelope } from './envelope.ts';
import { ScepRefusal, ScepUnavailableError } from './errors.ts';
import { MessageType } from './oids.ts';
import { decodePkiMessage, type PkiMessage } from './pki-message.ts';
import type { ScepAuthority, ScepIssuerAndSubject, ScepPollResult } from './types.ts';

/** What happened, for the log and metrics: never the challenge or the CSR. */
export interface PkiOperationOutcome {
  reply: Buffer;
  messageType: number;
  transactionId: string;
  status: ScepPollResult['status'];
  failInfo?: string;
  renewal: boolean;
}

function readIssuerAndSubject(der: Buffer): ScepIssuerAndSubject {
  try {
    const sequence = parseAsn1(der, 'IssuerAndSubject');
    if (!(sequence instanceof asn1js.Sequence)) throw new Error('not a SEQUENCE');
    const [issuer, subject] = sequence.valueBlock.value;
    if (
      sequence.valueBlock.value.length !== 2 ||
      !(issuer instanceof asn1js.Sequence) ||
      !(subject instanceof asn1js.Sequence)
    ) {
      throw new Error('not two Names');
    }
    return {
      issuerDer: Buffer.from(issuer.valueBeforeDecodeView),
      subjectDer: Buffer.from(subject.valueBeforeDecodeView),
    };
  } catch (error) {
    throw new ScepRefusal('badRequest', 'The CertPoll content is not an IssuerAndSubject.', { cause: error });
  }
}

type Recipient = { certificateDer: Buffer; privateKey: KeyObject };

/** SCEP key transport is RSA (RFC 8894 §3.1): with another key no request can be decrypted. */
function rsaRecipient(authority: ScepAuthority): Recipient {
  const recipient = authority.recipient();
  const type = recipient.privateKey.asymmetricKeyType;
  if (type !== 'rsa') throw new ScepUnavailableError(`SCEP needs an RSA issuing CA key, not ${type}.`);
  return recipient;
}

async function decide(
  authority: ScepAuthority,
  recipient: Recipient,
  message: PkiMessage,
): Promise<{ result: ScepPollResult; cipher?: ContentCipher; renewal: boolean }> {
  if (message.refusal) throw message.refusal;
  const { transactionId } = message;
  const isRenewal = message.messageType === MessageType.RenewalReq;
  switch (message.messageType) {
    case MessageType.PKCSReq:
    case MessageType.RenewalReq: {
      if (isRenewal && message.signerSelfSigned) {
        throw new ScepRefusal('badRequest', 'A RenewalReq must be signed with an issued certificate.');
      }
      const { content, cipher } = openEnvelope(message.envelope, recipient);
      const { csrDer, challenge } = await readCsr(content);
      // certmonger renews with a PKCSReq signed by the current certificate: that is a renewal too.
      const renewal = !message.signerSelfSigned;
      const result = await authority.enroll({
        csrDer,
        transactionId,
        ...(challenge === undefined ? {} : { challenge }),
        ...(renewal ? { renewal: { signerCertificateDer: message.signerCertificateDer! } } : {}),
      });
      return { result, cipher, renewal };
    }
    case MessageType.CertPoll: {
      const { content, cipher } = openEnvelope(message.envelope, recipient);
      const result = await authority.poll({ transactionId, issuerAndSubject: readIssuerAndSubject(content) });
      return { result, cipher, renewal: false };
    }
    default:
      throw new ScepRefusal('badRequest', `The messageType ${message.messageType} is not supported.`);
  }
}

export async function pkiOperation(authority: ScepAuthority, der: Buffer): Promise<PkiOperationOutcome> {
  const recipient = rsaRecipient(authority);
  const message = decodePkiMessage(der);
  let decided: Awaited<ReturnType<typeof decide>>;
  try {
    decided = await decide(authority, recipient, message);
  } catch (error) {
    if (!(error instanceof ScepRefusal)) throw error;
    decided = {
      result: { status: 'FAILURE', failInfo: error.failInfo, reason: error.message },
      renewal: false,
    };
  }
  const { result, cipher, renewal } = decided;
  const reply = encodeCertRep({
    transactionId: message.transactionId,
    recipientNonce: message.senderNonce,
    result,
    ...(result.status === 'SUCCESS' && cipher && message.signerCertificateDer
      ? { requester: { certificateDer: message.signerCertificateDer, cipher } }
      : {}),
    signer: recipient,
    certificatesDer: [
      recipient.certificateDer,
      ...authority.caChain().der.filter((der) => !der.equals(recipient.certificateDer)),
    ],
  });
  return {
    reply,
    messageType: message.messageType,
    transactionId: message.transactionId,
    status: result.status,
    ...(result.status === 'FAILURE' ? { failInfo: result.failInfo } : {}),
    renewal,
  };
}
