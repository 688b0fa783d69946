/**
 * The CA's objects as the PKI admin API (and `herald ca ... --json`) shows them: zod schemas for
 * the routes and the functions that fill them. Times are ISO 8601; serials lower-case hex as
 * stored; certificates PEM. Nothing secret appears: a template shows its challenge mode, never a
 * static secret.
 */
import { z } from 'zod';
import {
  type AuthorityInfo,
  type CertificateTemplate,
  type IssuedCertificate,
  LOOKUP_KEYS,
  type LookupValues,
  type PkiCrl,
  toPem,
} from '../../pki/index.ts';

const isoTime = z.string().describe('ISO 8601');
const iso = (ms: number) => new Date(ms).toISOString();

export const templateSchema = z.object({
  name: z.string(),
  subject: z.string(),
  sanEmail: z.string().nullable(),
  sanUpn: z.string().nullable(),
  keySize: z.number(),
  days: z.number(),
  renewDays: z.number(),
  challenge: z.enum(['static', 'dynamic']),
  revokeOnUnenrol: z.boolean(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export function templateJson(t: CertificateTemplate): z.infer<typeof templateSchema> {
  return { ...t, createdAt: iso(t.createdAt), updatedAt: iso(t.updatedAt) };
}

export const certificateSchema = z.object({
  serial: z.string().describe('Lower-case hex'),
  authorityId: z.string(),
  template: z.string().nullable(),
  subject: z.string(),
  sanEmail: z.string().nullable(),
  sanUpn: z.string().nullable(),
  notBefore: isoTime,
  notAfter: isoTime,
  status: z.enum(['issued', 'revoked']),
  revokedAt: isoTime.nullable(),
  revocationReason: z.string().nullable(),
  registrationId: z.string().nullable(),
  createdAt: isoTime,
});

export const certificateWithPemSchema = certificateSchema.extend({
  pem: z.string().describe('The certificate, PEM'),
});

export function certificateJson(c: IssuedCertificate): z.infer<typeof certificateSchema> {
  return {
    serial: c.serial,
    authorityId: c.authorityId,
    template: c.template,
    subject: c.subject,
    sanEmail: c.sanEmail,
    sanUpn: c.sanUpn,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    status: c.status,
    revokedAt: c.revokedAt === null ? null : iso(c.revokedAt),
    revocationReason: c.revocationReason,
    registrationId: c.registrationId,
    createdAt: iso(c.createdAt),
  };
}

export function certificateWithPem(c: IssuedCertificate): z.infer<typeof certificateWithPemSchema> {
  return { ...certificateJson(c), pem: toPem(c.certificateDer, 'CERTIFICATE') };
}

export const crlSchema = z.object({
  authorityId: z.string(),
  kind: z.enum(['full', 'delta']),
  number: z.number(),
  thisUpdate: isoTime,
  nextUpdate: isoTime,
});

export function crlJson(crl: PkiCrl): z.infer<typeof crlSchema> {
  return {
    authorityId: crl.authorityId,
    kind: crl.kind,
    number: crl.number,
    thisUpdate: iso(crl.thisUpdate),
    nextUpdate: iso(crl.nextUpdate),
  };
}

export const authoritySchema = z.object({
  id: z.string(),
  role: z.string(),
  subject: z.string(),
  active: z.boolean(),
  hasKey: z.boolean(),
  issuerId: z.string().nullable(),
  notBefore: isoTime,
  notAfter: isoTime,
  fingerprint: z.string(),
});

export function authorityJson(a: AuthorityInfo): z.infer<typeof authoritySchema> {
  return { ...a, notBefore: iso(a.notBefore), notAfter: iso(a.notAfter) };
}

// A lookup value is a short name or address (names.ts checks content and length again).
const lookupValue = z.string().trim().min(1).max(256);

/** `{ DeviceUid, EmailAddress, UserPrincipalName, EnrollmentUser }`, each optional. */
export const lookupValuesSchema = z.strictObject(
  Object.fromEntries(LOOKUP_KEYS.map((key) => [key, lookupValue.optional()])) as Record<
    (typeof LOOKUP_KEYS)[number],
    z.ZodOptional<typeof lookupValue>
  >,
);

/**
 * The NDES-style fields of a challenge request as lookup values: `user` is the UPN (and the
 * EnrollmentUser unless that is given), `email` the EmailAddress, `deviceUid` the DeviceUid.
 */
export function challengeValues(input: {
  user?: string | undefined;
  email?: string | undefined;
  deviceUid?: string | undefined;
  enrollmentUser?: string | undefined;
}): LookupValues {
  const values: LookupValues = {};
  if (input.user !== undefined) values.UserPrincipalName = input.user;
  const enrollmentUser = input.enrollmentUser ?? input.user;
  if (enrollmentUser !== undefined) values.EnrollmentUser = enrollmentUser;
  if (input.email !== undefined) values.EmailAddress = input.email;
  if (input.deviceUid !== undefined) values.DeviceUid = input.deviceUid;
  return values;
}
