/**
 * Issuing device certificates: from a CSR, or with a key Herald generates and delivers as
 * PKCS #12. Names follow operator.md: with lookup values (a dynamic challenge, or an operator who
 * gives them) the subject and SANs come from the template filled with them, never from the CSR;
 * with `useCsrSubject` (a static challenge) the CSR's subject is used, and its email/UPN SANs
 * where the template has those kinds.
 */
import { randomBytes } from 'node:crypto';
import type { PkiCertificate, PkiTemplate, TransactionScope } from '../store/index.ts';
import { buildCertificate } from './certificate.ts';
import { type PkiContext, requireTemplate } from './context.ts';
import { checkKeySize, type ParsedCsr, parseCsr } from './csr.ts';
import { PkiError } from './errors.ts';
import { generateRsaKey, pkcs8Der, spkiDer } from './keys.ts';
import { checkRequestedAddress, fillSans, fillSubject, type LookupValues } from './names.ts';
import { buildPkcs12 } from './pkcs12.ts';
import { newSerial } from './serial.ts';
import type { x509 } from './x509.ts';

const DAY = 86_400_000;

export interface IssueFromCsrOptions {
  template: string;
  /** Lookup values: subject and SANs come from the template filled with them. */
  values?: LookupValues;
  /** Take the subject (and email/UPN SANs, unless `values` are given) from the CSR. */
  useCsrSubject?: boolean;
  registrationId?: string | null;
  /** SCEP transactionID. */
  transactionId?: string | null;
}

export interface IssueWithGeneratedKeyOptions {
  template: string;
  values: LookupValues;
  /** Of the PKCS #12; generated (and returned) when absent. */
  passphrase?: string;
  registrationId?: string | null;
}

export interface GeneratedKeyResult {
  certificate: PkiCertificate;
  /** Key, certificate and CA chain, PBES2/AES-256 + HMAC-SHA256 under `passphrase`. */
  pkcs12: Buffer;
  passphrase: string;
}

export interface Names {
  subject: x509.Name;
  sanEmail: string | null;
  sanUpn: string | null;
}

export interface IssueRequest extends Names {
  template: PkiTemplate;
  spki: Buffer;
  registrationId?: string | null;
  transactionId?: string | null;
  /** Runs in the transaction that records the certificate (e.g. consuming a one-time challenge). */
  beforeInsert?: (tx: TransactionScope) => Promise<void>;
}

export function namesFor(template: PkiTemplate, csr: ParsedCsr, options: IssueFromCsrOptions): Names {
  const { values, useCsrSubject } = options;
  if (useCsrSubject) {
    if (values !== undefined) return { subject: csr.subject, ...fillSans(template, values) };
    return {
      subject: csr.subject,
      sanEmail: template.sanEmail === null ? null : checkRequestedAddress(csr.requestedEmail, 'email'),
      sanUpn: template.sanUpn === null ? null : checkRequestedAddress(csr.requestedUpn, 'upn'),
    };
  }
  if (values === undefined) {
    throw new PkiError(
      'pki_invalid_values',
      'give the lookup values for the template, or use the CSR subject',
    );
  }
  return { subject: fillSubject(template.subject, values), ...fillSans(template, values) };
}

/** Signs and records one certificate from the active issuing CA. */
export async function issue(ctx: PkiContext, request: IssueRequest): Promise<PkiCertificate> {
  const issuer = ctx.issuing();
  const now = ctx.now();
  if (now >= issuer.certificate.notAfter.getTime()) {
    throw new PkiError('pki_unavailable', 'the issuing CA has expired: import or create a new one');
  }
  const notBefore = now - ctx.settings.backdateMinutes * 60_000;
  // Never beyond the issuer's own validity (RFC 5280 §6 would reject the chain then anyway).
  const notAfter = Math.min(now + request.template.days * DAY, issuer.certificate.notAfter.getTime());
  const serial = newSerial();
  const certificate = await buildCertificate({
    serial,
    subject: request.subject,
    sanEmail: request.sanEmail,
    sanUpn: request.sanUpn,
    spki: request.spki,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    issuer,
    urls: ctx.urls,
  });
  const stored = await ctx.store.transaction(async (tx) => {
    await request.beforeInsert?.(tx);
    return tx.pki.certificates.insert({
      serial,
      authorityId: issuer.id,
      template: request.template.name,
      subject: certificate.subject,
      sanEmail: request.sanEmail,
      sanUpn: request.sanUpn,
      // As encoded (whole seconds), so the record and the certificate agree.
      notBefore: certificate.notBefore.getTime(),
      notAfter: certificate.notAfter.getTime(),
      registrationId: request.registrationId ?? null,
      transactionId: request.transactionId ?? null,
      certificateDer: Buffer.from(certificate.rawData),
    });
  });
  // Serial and template only: subject and SANs are personal data.
  ctx.logger.info(
    { serial: stored.serial, template: stored.template, authorityId: issuer.id },
    'pki: issued a certificate',
  );
  return stored;
}

export async function issueFromCsr(
  ctx: PkiContext,
  csrInput: Buffer | string,
  options: IssueFromCsrOptions,
): Promise<PkiCertificate> {
  const template = await requireTemplate(ctx, options.template);
  const csr = await parseCsr(csrInput);
  checkKeySize(csr.publicKey, template.keySize);
  return issue(ctx, {
    template,
    spki: csr.spki,
    ...namesFor(template, csr, options),
    registrationId: options.registrationId,
    transactionId: options.transactionId,
  });
}

export async function issueWithGeneratedKey(
  ctx: PkiContext,
  options: IssueWithGeneratedKeyOptions,
): Promise<GeneratedKeyResult> {
  const template = await requireTemplate(ctx, options.template);
  const names = {
    subject: fillSubject(template.subject, options.values),
    ...fillSans(template, options.values),
  };
  const key = await generateRsaKey(template.keySize);
  const certificate = await issue(ctx, {
    template,
    spki: spkiDer(key),
    ...names,
    registrationId: options.registrationId,
  });
  const passphrase = options.passphrase ?? randomBytes(18).toString('base64url');
  if (passphrase.length === 0) throw new PkiError('pki_invalid_values', 'the PKCS #12 passphrase is empty');
  const pkcs12 = await buildPkcs12(
    {
      keyPkcs8: pkcs8Der(key),
      certificateDer: certificate.certificateDer,
      chainDer: ctx.chain().map((authority) => authority.der),
      friendlyName: names.sanUpn ?? names.sanEmail ?? template.name,
    },
    {
      passphrase,
      pbkdf2Iterations: ctx.settings.pkcs12Pbkdf2Iterations,
      macIterations: ctx.settings.pkcs12MacIterations,
    },
  );
  return { certificate, pkcs12, passphrase };
}
