/**
 * A throwaway certificate authority implementing ScepAuthority, for the SCEP tests (unit and
 * certmonger): a root and an issuing CA made with @peculiar/x509 at test time, static or dynamic
 * challenges (one-time, bound to the identity they were issued for, expiring after 60 minutes
 * on an injected clock), renewal with a certificate it issued, and CertPoll answers that can be
 * held PENDING. Not Herald's CA: the real one lives in src/pki.
 */
import 'reflect-metadata';
import { KeyObject, X509Certificate as NodeCertificate, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type {
  ScepAuthority,
  ScepEnrollRequest,
  ScepEnrollResult,
  ScepPollRequest,
  ScepPollResult,
} from './types.ts';

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
} as const;
const CHALLENGE_TTL_MS = 60 * 60 * 1000;
const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

export interface TestCaCertificate {
  der: Buffer;
  pem: string;
  certificate: x509.X509Certificate;
}

export interface TestScepCaOptions {
  /** The CA's clock: challenge expiry and certificate validity. Default: the real clock. */
  now?: () => Date;
  /** A template's static challenge, accepted any number of times. */
  staticChallenge?: string;
  /** Serve the issuing CA alone (GetCACert with one certificate) instead of issuing CA + root. */
  singleCertificate?: boolean;
  modulusLength?: number;
}

export interface TestScepCa extends ScepAuthority {
  root: TestCaCertificate;
  issuing: TestCaCertificate;
  /** A one-time challenge for `identity` (the CSR subject's CN), valid for 60 minutes. */
  issueChallenge(identity: string): string;
  /** CertPoll for this transaction answers PENDING until release() (a CA still deciding). */
  hold(transactionId: string): void;
  release(transactionId: string): void;
  /** Every enroll() call, in order, for assertions. */
  readonly requests: ScepEnrollRequest[];
}

interface Challenge {
  identity: string;
  expiresAt: number;
  used: boolean;
}

function der(value: { rawData: ArrayBuffer }): Buffer {
  return Buffer.from(value.rawData);
}

async function rsaKeys(modulusLength: number): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ ...RSA, modulusLength }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
}

function serial(): string {
  const bytes = randomBytes(12);
  bytes[0] = (bytes[0]! % 0x7f) + 1;
  return bytes.toString('hex');
}

function refuse(failInfo: 'badRequest' | 'badCertId' | 'badTime', reason: string): ScepEnrollResult {
  return { status: 'FAILURE', failInfo, reason };
}

function commonName(name: x509.Name): string | undefined {
  return name.getField('CN')[0];
}

export async function createTestScepCa(options: TestScepCaOptions = {}): Promise<TestScepCa> {
  const now = options.now ?? (() => new Date());
  const modulusLength = options.modulusLength ?? 2048;
  const start = new Date(now().getTime() - 60_000);
  const end = new Date(start.getTime() + 10 * YEAR_MS);

  const rootKeys = await rsaKeys(modulusLength);
  const rootCertificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=Herald SCEP Test Root,O=Herald Tests',
    notBefore: start,
    notAfter: end,
    keys: rootKeys,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const issuingKeys = await rsaKeys(modulusLength);
  const issuingCertificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=Herald SCEP Test Issuing CA,O=Herald Tests',
    issuer: rootCertificate.subject,
    notBefore: start,
    notAfter: end,
    publicKey: issuingKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      // keyEncipherment: SCEP clients encrypt their requests to this certificate.
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(issuingKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootCertificate),
    ],
  });
  const wrap = (certificate: x509.X509Certificate): TestCaCertificate => ({
    der: der(certificate),
    pem: certificate.toString('pem'),
    certificate,
  });
  const root = wrap(rootCertificate);
  const issuing = wrap(issuingCertificate);
  const issuingPrivateKey = KeyObject.from(issuingKeys.privateKey);
  const issuingNode = new NodeCertificate(issuing.der);

  const challenges = new Map<string, Challenge>();
  const results = new Map<string, ScepEnrollResult>();
  const held = new Set<string>();
  const answered = new Map<string, ScepEnrollRequest>();
  const requests: ScepEnrollRequest[] = [];

  async function issue(request: ScepEnrollRequest): Promise<ScepEnrollResult> {
    const csr = new x509.Pkcs10CertificateRequest(request.csrDer);
    const notBefore = new Date(now().getTime() - 60_000);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: csr.subjectName,
      issuer: issuingCertificate.subjectName,
      notBefore,
      notAfter: new Date(notBefore.getTime() + YEAR_MS),
      publicKey: csr.publicKey,
      signingKey: issuingKeys.privateKey,
      signingAlgorithm: RSA,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(issuingCertificate),
      ],
    });
    return { status: 'SUCCESS', certificateDer: der(certificate) };
  }

  /** Who may have this certificate: a dynamic challenge for its CN, the static one, or renewal. */
  function authorize(request: ScepEnrollRequest): ScepEnrollResult | undefined {
    const csr = new x509.Pkcs10CertificateRequest(request.csrDer);
    const identity = commonName(csr.subjectName);
    if (request.renewal) {
      const current = new NodeCertificate(request.renewal.signerCertificateDer);
      if (!current.checkIssued(issuingNode) || !current.verify(issuingNode.publicKey)) {
        return refuse('badCertId', 'The signing certificate was not issued by this CA.');
      }
      const at = now().getTime();
      if (at < Date.parse(current.validFrom) || at > Date.parse(current.validTo)) {
        return refuse('badTime', 'The signing certificate is not valid now.');
      }
      const currentSubject = new x509.X509Certificate(request.renewal.signerCertificateDer).subject;
      if (currentSubject !== csr.subject) return refuse('badRequest', 'A renewal keeps the subject.');
      return undefined;
    }
    if (request.challenge === undefined) return refuse('badRequest', 'A challenge password is required.');
    if (options.staticChallenge !== undefined && request.challenge === options.staticChallenge)
      return undefined;
    const challenge = challenges.get(request.challenge);
    if (!challenge) return refuse('badRequest', 'The challenge password is not valid.');
    if (challenge.used) return refuse('badRequest', 'The challenge password has been used already.');
    if (now().getTime() >= challenge.expiresAt)
      return refuse('badRequest', 'The challenge password has expired.');
    if (challenge.identity !== identity) {
      return refuse('badRequest', 'The challenge password was issued for another identity.');
    }
    challenge.used = true;
    return undefined;
  }

  return {
    root,
    issuing,
    requests,
    caChain: () => ({ der: options.singleCertificate ? [issuing.der] : [issuing.der, root.der] }),
    recipient: () => ({ certificateDer: issuing.der, privateKey: issuingPrivateKey }),
    issueChallenge(identity: string): string {
      const value = randomBytes(18).toString('base64url');
      challenges.set(value, { identity, expiresAt: now().getTime() + CHALLENGE_TTL_MS, used: false });
      return value;
    },
    async enroll(request: ScepEnrollRequest): Promise<ScepEnrollResult> {
      requests.push(request);
      // A resent request (its reply was lost) is answered as before, not refused for reusing its
      // challenge. Keyed on the CSR too: certmonger keeps the transaction id across resubmits.
      const previous = answered.get(request.transactionId);
      if (previous?.csrDer.equals(request.csrDer)) {
        return results.get(request.transactionId)!;
      }
      answered.set(request.transactionId, request);
      const refusal = authorize(request);
      if (refusal) {
        results.set(request.transactionId, refusal);
        return refusal;
      }
      const result = await issue(request);
      results.set(request.transactionId, result);
      return result;
    },
    async poll(request: ScepPollRequest): Promise<ScepPollResult> {
      if (held.has(request.transactionId)) return { status: 'PENDING' };
      return (
        results.get(request.transactionId) ?? {
          status: 'FAILURE',
          failInfo: 'badCertId',
          reason: 'No request with this transaction id.',
        }
      );
    },
    hold: (transactionId: string) => held.add(transactionId),
    release: (transactionId: string) => held.delete(transactionId),
  };
}
