/**
 * The contract between the SCEP protocol (this folder) and Herald's certificate authority: the
 * SCEP server decodes, verifies and decrypts requests and encodes replies; the authority decides
 * (templates, challenges, issuance). The CA core implements `ScepAuthority`; tests use a
 * throwaway one (testing-ca.ts).
 */
import type { KeyObject } from 'node:crypto';

/** RFC 8894 §3.2.1.4 failInfo values Herald answers with. */
export type ScepFailInfo = 'badAlg' | 'badMessageCheck' | 'badRequest' | 'badTime' | 'badCertId';

export interface ScepIssued {
  status: 'SUCCESS';
  certificateDer: Buffer;
}

export interface ScepRefused {
  status: 'FAILURE';
  failInfo: ScepFailInfo;
  /** Sent to the client as failInfoText (RFC 8894 §3.2.1.4): no secrets, no internal detail. */
  reason: string;
}

/** The CA has not decided yet; the client keeps polling with CertPoll (RFC 8894 §3.3.3). */
export interface ScepPending {
  status: 'PENDING';
}

export type ScepEnrollResult = ScepIssued | ScepRefused;
export type ScepPollResult = ScepIssued | ScepRefused | ScepPending;

export interface ScepEnrollRequest {
  /** The PKCS#10 request, its self-signature already verified. */
  csrDer: Buffer;
  /** The CSR's challengePassword (1.2.840.113549.1.9.7), when it has one. */
  challenge?: string;
  transactionId: string;
  /**
   * Set when the message was signed by a certificate that is not self-signed (RenewalReq, or a
   * PKCSReq signed with an existing certificate as certmonger sends when it renews): the SCEP
   * layer has verified the message signature with this certificate; the authority decides
   * whether it issued it and whether it still counts.
   */
  renewal?: { signerCertificateDer: Buffer };
}

/** RFC 8894 §3.3.3 IssuerAndSubject, as DER-encoded Names. */
export interface ScepIssuerAndSubject {
  issuerDer: Buffer;
  subjectDer: Buffer;
}

export interface ScepPollRequest {
  transactionId: string;
  issuerAndSubject?: ScepIssuerAndSubject;
}

export interface ScepAuthority {
  /** The issuing CA first, then its issuers up to the root. */
  caChain(): { der: Buffer[] };
  /**
   * The certificate requests are encrypted to and CertReps are signed with (the issuing CA,
   * RFC 8894 §2.2 without an RA). Its key must be RSA: SCEP's key transport is RSA only.
   */
  recipient(): { certificateDer: Buffer; privateKey: KeyObject };
  enroll(request: ScepEnrollRequest): Promise<ScepEnrollResult>;
  poll(request: ScepPollRequest): Promise<ScepPollResult>;
}
