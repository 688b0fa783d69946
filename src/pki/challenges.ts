/**
 * One-time SCEP challenges, as NDES's mscep_admin page hands out: 16 random bytes shown once as
 * 32 hex digits, valid for 60 minutes, single use. Only a hash is stored, with the template and
 * the lookup values it binds: the certificate enrolled with it takes its subject and SANs from
 * the template filled with those values, whatever the CSR claims.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type PkiContext, requireTemplate } from './context.ts';
import { PkiError } from './errors.ts';
import { checkLookupValues, fillTemplate, type LookupValues } from './names.ts';

export interface ChallengeRequest {
  template: string;
  values: LookupValues;
  /** The device registration the certificate will belong to (for revoke on unenrol). */
  registrationId?: string | null;
}

export interface CreatedChallenge {
  /** The one-time password; shown once, never stored. */
  challenge: string;
  template: string;
  expiresAt: number;
}

/** The stored form. The challenge has full entropy, so a plain hash is enough (as for API tokens). */
export function challengeHash(challenge: string): string {
  return createHash('sha256').update(`herald-scep-challenge:${challenge.trim().toUpperCase()}`).digest('hex');
}

export async function createChallenge(ctx: PkiContext, request: ChallengeRequest): Promise<CreatedChallenge> {
  const template = await requireTemplate(ctx, request.template);
  if (template.challenge !== 'dynamic') {
    throw new PkiError(
      'pki_invalid_template',
      `template ${template.name} uses a static challenge; one-time challenges need a dynamic template`,
    );
  }
  const values = checkLookupValues(request.values);
  // Fails now, with the placeholder named, rather than when the device enrolls.
  fillTemplate(template, values);
  const challenge = randomBytes(16).toString('hex').toUpperCase();
  const expiresAt = ctx.now() + ctx.settings.challengeMinutes * 60_000;
  await ctx.store.pki.challenges.insert({
    hash: challengeHash(challenge),
    template: template.name,
    lookupValues: values,
    registrationId: request.registrationId ?? null,
    expiresAt,
  });
  ctx.logger.info(
    { template: template.name, expiresAt: new Date(expiresAt).toISOString() },
    'pki: one-time challenge created',
  );
  return { challenge, template: template.name, expiresAt };
}
