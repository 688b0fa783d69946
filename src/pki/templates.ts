/**
 * Certificate templates as in the MS PKI/ENS guide: subject with lookup values, SAN email and UPN,
 * key length, validity, automatic renewal period, challenge kind and revoke-on-unenrol. This file
 * validates input and converts between the stored form and what callers see; the static challenge
 * secret is sealed under the master key and never leaves this module in clear except to compare.
 */
import { timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';
import type { NewPkiTemplate, PkiChallengeMode, PkiTemplate } from '../store/index.ts';
import { PkiError } from './errors.ts';
import { parseSubjectTemplate, placeholders } from './names.ts';

export const KEY_SIZES = [2048, 3072, 4096] as const;
export const MAX_DAYS = 3650;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SEAL_PURPOSE = 'pki-template-challenge';
const MIN_STATIC_SECRET = 8;

/** What `herald ca template add` and the admin API pass. */
export interface TemplateInput {
  name: string;
  /** e.g. `CN={DeviceUid},O=Contoso`. */
  subject: string;
  /** e.g. `{EmailAddress}`; omit for no email SAN. */
  sanEmail?: string | null;
  /** e.g. `{UserPrincipalName}`; omit for no UPN SAN. */
  sanUpn?: string | null;
  /** RSA modulus bits: 2048 (default), 3072 or 4096; CSRs must have at least this. */
  keySize?: number;
  /** Validity in days, 1..3650 (default 365). */
  days?: number;
  /** Renewal period before expiry, in days, less than `days` (default 30, or days − 1 if shorter). */
  renewDays?: number;
  /** `dynamic` (default: one-time challenges) or `static:SECRET`. */
  challenge?: string;
  /** Revoke the template's certificates when their device unenrols (default true). */
  revokeOnUnenrol?: boolean;
}

/** A template as callers see it: everything but the static secret. */
export interface CertificateTemplate {
  name: string;
  subject: string;
  sanEmail: string | null;
  sanUpn: string | null;
  keySize: number;
  days: number;
  renewDays: number;
  challenge: PkiChallengeMode;
  revokeOnUnenrol: boolean;
  createdAt: number;
  updatedAt: number;
}

function invalid(message: string): PkiError {
  return new PkiError('pki_invalid_template', message);
}

function integerIn(value: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be a whole number from ${min} to ${max} (got ${value})`);
  }
  return value;
}

function addressTemplate(value: string | null | undefined, what: string): string | null {
  if (value === undefined || value === null || value.trim() === '') return null;
  const text = value.trim();
  placeholders(text, what);
  return text;
}

/** Validates `input`; the static secret comes back sealed. */
export function newTemplate(input: TemplateInput, master: MasterKey): NewPkiTemplate {
  if (!NAME.test(input.name ?? '')) {
    throw invalid(
      'the name must be 1-64 letters, digits, dots, dashes or underscores, starting alphanumeric',
    );
  }
  const subject = (input.subject ?? '').trim();
  parseSubjectTemplate(subject);
  const keySize = input.keySize ?? 2048;
  if (!(KEY_SIZES as readonly number[]).includes(keySize)) {
    throw invalid(`the key size must be one of ${KEY_SIZES.join(', ')} (got ${keySize})`);
  }
  const days = integerIn(input.days ?? 365, 1, MAX_DAYS, 'days');
  const renewDays = integerIn(
    input.renewDays ?? Math.min(30, days - 1),
    0,
    days - 1,
    'renewDays (less than days)',
  );

  const challenge = input.challenge ?? 'dynamic';
  let mode: PkiChallengeMode;
  let challengeSecretEnc: string | null = null;
  if (challenge === 'dynamic') {
    mode = 'dynamic';
  } else if (challenge.startsWith('static:')) {
    const secret = challenge.slice('static:'.length);
    if (secret.length < MIN_STATIC_SECRET || /\s/.test(secret) || secret.length > 255) {
      throw invalid(`a static challenge must be ${MIN_STATIC_SECRET}-255 characters without spaces`);
    }
    mode = 'static';
    challengeSecretEnc = master.seal(secret, SEAL_PURPOSE, input.name);
  } else {
    throw invalid('the challenge must be "dynamic" or "static:SECRET"');
  }

  return {
    name: input.name,
    subject,
    sanEmail: addressTemplate(input.sanEmail, 'SAN email'),
    sanUpn: addressTemplate(input.sanUpn, 'SAN UPN'),
    keySize,
    days,
    renewDays,
    challenge: mode,
    challengeSecretEnc,
    revokeOnUnenrol: input.revokeOnUnenrol ?? true,
  };
}

export function publicTemplate(template: PkiTemplate): CertificateTemplate {
  const { challengeSecretEnc: _secret, ...rest } = template;
  return rest;
}

/** Whether `candidate` is this template's static challenge (constant time on equal lengths). */
export function matchesStaticChallenge(template: PkiTemplate, candidate: string, master: MasterKey): boolean {
  if (template.challenge !== 'static' || template.challengeSecretEnc === null) return false;
  const secret = master.open(template.challengeSecretEnc, SEAL_PURPOSE, template.name);
  const given = Buffer.from(candidate, 'utf8');
  return given.length === secret.length && timingSafeEqual(given, secret);
}
