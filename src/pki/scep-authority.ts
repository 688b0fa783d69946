/**
 * The CA behind the SCEP protocol (src/pki/scep/ decodes, verifies and decrypts; this decides).
 * A request is authorised by exactly one of:
 *
 * - a one-time challenge (dynamic): consumed atomically in the transaction that records the
 *   certificate; subject and SANs come from its template filled with the values it binds;
 * - a template's static challenge: the CSR's subject (and its email/UPN SANs) are used;
 * - renewal: the message was signed with a certificate this CA issued that is still valid and not
 *   revoked, and the CSR keeps its subject; the new certificate copies its names.
 *
 * A resent request (same transactionID and key, the reply was lost) gets the same certificate.
 * Herald decides at once, so there is never a PENDING answer; failures carry an RFC 8894 failInfo.
 */
import type { KeyObject } from 'node:crypto';
import type { PkiCertificate, PkiTemplate } from '../store/index.ts';
import { challengeHash } from './challenges.ts';
import type { PkiContext } from './context.ts';
import { checkKeySize, type ParsedCsr, parseCsr } from './csr.ts';
import { isPkiError, PkiError } from './errors.ts';
import { issue, namesFor } from './issuance.ts';
import type {
  ScepAuthority,
  ScepEnrollRequest,
  ScepEnrollResult,
  ScepFailInfo,
  ScepPollRequest,
  ScepPollResult,
  ScepRefused,
} from './scep/index.ts';
import { normalizeSerial } from './serial.ts';
import { matchesStaticChallenge } from './templates.ts';
import { arrayBuffer, x509 } from './x509.ts';

/** Thrown inside the issuing transaction to roll it back with a SCEP failure. */
class Refusal extends Error {
  readonly failInfo: ScepFailInfo;
  constructor(failInfo: ScepFailInfo, reason: string) {
    super(reason);
    this.failInfo = failInfo;
  }
}

function refused(failInfo: ScepFailInfo, reason: string): ScepRefused {
  return { status: 'FAILURE', failInfo, reason };
}

function sameKey(certificate: PkiCertificate, csr: ParsedCsr): boolean {
  const issued = new x509.X509Certificate(arrayBuffer(certificate.certificateDer));
  return Buffer.from(issued.publicKey.rawData).equals(csr.spki);
}

function nameText(name: x509.Name): string {
  return name.toString().trim().toLowerCase();
}

export function scepAuthority(ctx: PkiContext): ScepAuthority {
  async function renew(
    request: ScepEnrollRequest,
    csr: ParsedCsr,
    signerDer: Buffer,
  ): Promise<ScepEnrollResult> {
    let signer: x509.X509Certificate;
    try {
      signer = new x509.X509Certificate(arrayBuffer(signerDer));
    } catch {
      return refused('badCertId', 'the signing certificate cannot be read');
    }
    const previous = await ctx.store.pki.certificates.get(normalizeSerial(signer.serialNumber));
    // The serial alone proves nothing: the stored certificate must be the very one that signed.
    if (previous === undefined || !previous.certificateDer.equals(signerDer)) {
      return refused('badCertId', 'the signing certificate was not issued by this CA');
    }
    const now = ctx.now();
    if (previous.status !== 'issued') return refused('badCertId', 'the signing certificate is revoked');
    if (now < previous.notBefore || now >= previous.notAfter) {
      return refused('badTime', 'the signing certificate is not valid now');
    }
    if (nameText(csr.subject) !== nameText(signer.subjectName)) {
      return refused('badRequest', 'a renewal must keep the subject of the certificate it renews');
    }
    const template =
      previous.template === null ? undefined : await ctx.store.pki.templates.get(previous.template);
    if (template === undefined)
      return refused('badRequest', 'the template of this certificate no longer exists');
    checkKeySize(csr.publicKey, template.keySize);
    const certificate = await issue(ctx, {
      template,
      spki: csr.spki,
      subject: signer.subjectName,
      sanEmail: previous.sanEmail,
      sanUpn: previous.sanUpn,
      registrationId: previous.registrationId,
      transactionId: request.transactionId,
    });
    ctx.logger.info({ serial: certificate.serial, renewed: previous.serial }, 'pki: SCEP renewal');
    return { status: 'SUCCESS', certificateDer: certificate.certificateDer };
  }

  async function withDynamicChallenge(
    request: ScepEnrollRequest,
    csr: ParsedCsr,
    hash: string,
  ): Promise<ScepEnrollResult | undefined> {
    const challenge = await ctx.store.pki.challenges.get(hash);
    if (challenge === undefined) return undefined;
    if (challenge.usedAt !== null) return refused('badRequest', 'the challenge password was used already');
    if (ctx.now() >= challenge.expiresAt) return refused('badRequest', 'the challenge password has expired');
    const template = await ctx.store.pki.templates.get(challenge.template);
    if (template === undefined)
      return refused('badRequest', 'the challenge names a template that no longer exists');
    checkKeySize(csr.publicKey, template.keySize);
    const names = namesFor(template, csr, { template: template.name, values: challenge.lookupValues });
    try {
      const certificate = await issue(ctx, {
        template,
        spki: csr.spki,
        ...names,
        registrationId: challenge.registrationId,
        transactionId: request.transactionId,
        async beforeInsert(tx) {
          // The compare-and-set decides between concurrent uses; a loser rolls back unissued.
          if ((await tx.pki.challenges.consume(hash, ctx.now())) === undefined) {
            throw new Refusal('badRequest', 'the challenge password was used already or has expired');
          }
        },
      });
      return { status: 'SUCCESS', certificateDer: certificate.certificateDer };
    } catch (error) {
      if (error instanceof Refusal) return refused(error.failInfo, error.message);
      throw error;
    }
  }

  async function staticTemplate(challenge: string): Promise<PkiTemplate | undefined> {
    for (const template of await ctx.store.pki.templates.list()) {
      if (matchesStaticChallenge(template, challenge, ctx.master)) return template;
    }
    return undefined;
  }

  async function decide(request: ScepEnrollRequest): Promise<ScepEnrollResult> {
    let csr: ParsedCsr;
    try {
      csr = await parseCsr(request.csrDer);
    } catch (error) {
      if (isPkiError(error)) return refused('badMessageCheck', error.message);
      throw error;
    }
    // A resend of a request that was answered (the reply got lost): the same certificate again.
    const earlier = await ctx.store.pki.certificates.findByTransaction(request.transactionId);
    if (earlier !== undefined && earlier.status === 'issued' && sameKey(earlier, csr)) {
      return { status: 'SUCCESS', certificateDer: earlier.certificateDer };
    }
    if (request.renewal !== undefined) return renew(request, csr, request.renewal.signerCertificateDer);

    const challenge = request.challenge?.trim();
    if (!challenge) return refused('badRequest', 'a challenge password is required');
    const dynamic = await withDynamicChallenge(request, csr, challengeHash(challenge));
    if (dynamic !== undefined) return dynamic;
    const template = await staticTemplate(challenge);
    if (template === undefined) return refused('badRequest', 'the challenge password is not valid');
    checkKeySize(csr.publicKey, template.keySize);
    const certificate = await issue(ctx, {
      template,
      spki: csr.spki,
      ...namesFor(template, csr, { template: template.name, useCsrSubject: true }),
      transactionId: request.transactionId,
    });
    return { status: 'SUCCESS', certificateDer: certificate.certificateDer };
  }

  return {
    caChain: () => ({ der: ctx.chain().map((authority) => authority.der) }),

    recipient(): { certificateDer: Buffer; privateKey: KeyObject } {
      const issuing = ctx.issuing();
      if (issuing.privateKey?.asymmetricKeyType !== 'rsa') {
        throw new PkiError('pki_unavailable', 'SCEP needs an issuing CA with an RSA key');
      }
      return { certificateDer: issuing.der, privateKey: issuing.privateKey };
    },

    async enroll(request: ScepEnrollRequest): Promise<ScepEnrollResult> {
      let result: ScepEnrollResult;
      try {
        result = await decide(request);
      } catch (error) {
        if (!isPkiError(error)) throw error;
        result = refused(error.code === 'pki_key_rejected' ? 'badAlg' : 'badRequest', error.message);
      }
      if (result.status === 'FAILURE') {
        ctx.logger.info(
          { transactionId: request.transactionId, failInfo: result.failInfo, reason: result.reason },
          'pki: SCEP request refused',
        );
      }
      return result;
    },

    async poll(request: ScepPollRequest): Promise<ScepPollResult> {
      const certificate = await ctx.store.pki.certificates.findByTransaction(request.transactionId);
      if (certificate === undefined)
        return refused('badCertId', 'no certificate was issued for this transaction');
      return { status: 'SUCCESS', certificateDer: certificate.certificateDer };
    },
  };
}
