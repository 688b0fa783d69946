/**
 * Revocation: a compare-and-set in the store (revoking twice changes nothing and reports the first
 * revocation), then a new delta CRL at once, so relying parties that use deltas see it within the
 * delta's cache time. A CRL that cannot be made now is made by the scheduler's next pass
 * (ensureFresh notices revocations newer than the current delta).
 */
import type { PkiCertificate } from '../store/index.ts';
import type { PkiContext } from './context.ts';
import { PkiError } from './errors.ts';
import { REVOCATION_REASONS, type RevocationReason } from './extensions.ts';
import { normalizeSerial } from './serial.ts';

export interface RevocationResult {
  certificate: PkiCertificate;
  /** It was revoked before this call (nothing changed). */
  alreadyRevoked: boolean;
  /** Whether a delta CRL listing it was published by this call. */
  crlPublished: boolean;
}

/** RFC 5280 §5.3.1 names; certificateHold and removeFromCRL are refused (no holds in Herald). */
export function checkReason(reason: string | undefined): RevocationReason {
  const name = reason ?? 'unspecified';
  if (!Object.hasOwn(REVOCATION_REASONS, name)) {
    throw new PkiError(
      'pki_invalid_reason',
      `unknown revocation reason ${name}; use one of ${Object.keys(REVOCATION_REASONS)
        .filter((r) => r !== 'certificateHold' && r !== 'removeFromCRL')
        .join(', ')}`,
    );
  }
  if (name === 'certificateHold' || name === 'removeFromCRL') {
    throw new PkiError(
      'pki_invalid_reason',
      `Herald does not put certificates on hold: ${name} is not accepted`,
    );
  }
  return name as RevocationReason;
}

/** New delta CRLs for these CAs; false if one could not be made (logged; retried later). */
export async function publishDeltas(ctx: PkiContext, authorityIds: Iterable<string>): Promise<boolean> {
  let ok = true;
  for (const id of new Set(authorityIds)) {
    try {
      const authority = await ctx.authority(id);
      if (authority?.signer === undefined) continue;
      await ctx.crls.generate(authority, { full: false });
    } catch (error) {
      ok = false;
      ctx.logger.error(
        { err: error, authorityId: id },
        'pki: could not publish a delta CRL after a revocation',
      );
    }
  }
  return ok;
}

export async function revoke(
  ctx: PkiContext,
  serialInput: string,
  reason?: string,
): Promise<RevocationResult> {
  const serial = normalizeSerial(serialInput);
  const why = checkReason(reason);
  const revoked = await ctx.store.pki.certificates.revoke(serial, why, ctx.now());
  if (revoked === undefined) {
    const existing = await ctx.store.pki.certificates.get(serial);
    if (existing === undefined) {
      throw new PkiError(
        'pki_certificate_not_found',
        `no certificate with serial ${serial} was issued by this CA`,
      );
    }
    return { certificate: existing, alreadyRevoked: true, crlPublished: false };
  }
  ctx.logger.info({ serial, reason: why, authorityId: revoked.authorityId }, 'pki: revoked a certificate');
  const crlPublished = await publishDeltas(ctx, [revoked.authorityId]);
  return { certificate: revoked, alreadyRevoked: false, crlPublished };
}

/**
 * A device unenrolled: its certificates from templates with revokeOnUnenrol are revoked
 * (cessationOfOperation by default). @returns the certificates revoked now.
 */
export async function revokeForRegistration(
  ctx: PkiContext,
  registrationId: string,
  reason = 'cessationOfOperation',
): Promise<PkiCertificate[]> {
  const why = checkReason(reason);
  const candidates = await ctx.store.pki.certificates.list({ registrationId, status: 'issued', limit: 1000 });
  const revokeOnUnenrol = new Map<string, boolean>();
  const revoked: PkiCertificate[] = [];
  for (const certificate of candidates) {
    if (certificate.template === null) continue;
    let flag = revokeOnUnenrol.get(certificate.template);
    if (flag === undefined) {
      flag = (await ctx.store.pki.templates.get(certificate.template))?.revokeOnUnenrol ?? false;
      revokeOnUnenrol.set(certificate.template, flag);
    }
    if (!flag) continue;
    const done = await ctx.store.pki.certificates.revoke(certificate.serial, why, ctx.now());
    if (done) revoked.push(done);
  }
  if (revoked.length > 0) {
    ctx.logger.info({ registrationId, revoked: revoked.map((c) => c.serial) }, 'pki: revoked on unenrol');
    await publishDeltas(
      ctx,
      revoked.map((c) => c.authorityId),
    );
  }
  return revoked;
}
