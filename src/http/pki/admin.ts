/**
 * The CA's admin API, `/api/pki/v1` behind the admin token (docs/pki.md): templates, one-time
 * SCEP challenges (what NDES's mscep_admin page hands out), issuing from a CSR or with a key
 * Herald generates (PKCS #12), listing, revoking, and regenerating CRLs now. Each route turns the
 * request into one call on the CA and its result into JSON (device profiles: profiles.ts); the
 * CA decides everything, and its PkiErrors become the catalogue's JSON errors (errors.ts).
 * Hidden from the device API's OpenAPI document.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KEY_SIZES } from '../../pki/index.ts';
import { adminAuth } from '../admin-api.ts';
import { errorBody } from '../schemas.ts';
import {
  authorityJson,
  authoritySchema,
  certificateJson,
  certificateSchema,
  certificateWithPem,
  certificateWithPemSchema,
  challengeValues,
  crlJson,
  crlSchema,
  lookupValuesSchema,
  templateJson,
  templateSchema,
} from './json.ts';
import { pkiProfiles } from './profiles.ts';
import type { PkiProvider } from './publication.ts';

const name = z.string().min(1).max(64);
const registrationId = z.string().min(1).max(64);
/** A PEM CSR of a 4096-bit key with a few extensions is under 4 KiB. */
const MAX_CSR = 64 * 1024;

const newTemplate = z.strictObject({
  name,
  subject: z.string().min(1).max(1024).describe('e.g. CN={DeviceUid},O=Contoso'),
  sanEmail: z.string().max(320).nullish().describe('e.g. {EmailAddress}'),
  sanUpn: z.string().max(320).nullish().describe('e.g. {UserPrincipalName}'),
  keySize: z
    .number()
    .int()
    .optional()
    .describe(`RSA bits: ${KEY_SIZES.join(', ')}`),
  days: z.number().int().optional(),
  renewDays: z.number().int().optional(),
  challenge: z.string().min(1).max(300).optional().describe('dynamic (default) or static:SECRET'),
  revokeOnUnenrol: z.boolean().optional(),
});

const newChallenge = z.strictObject({
  template: name,
  user: z.string().min(1).max(320).optional().describe('UserPrincipalName (and EnrollmentUser)'),
  email: z.string().min(1).max(320).optional().describe('EmailAddress'),
  deviceUid: z.string().min(1).max(256).optional().describe('DeviceUid'),
  enrollmentUser: z.string().min(1).max(320).optional(),
  registrationId: registrationId.optional(),
});

const issueBody = z
  .strictObject({
    template: name,
    csr: z.string().min(1).max(MAX_CSR).optional().describe('PKCS #10, PEM'),
    generateKey: z.literal(true).optional(),
    values: lookupValuesSchema.optional(),
    passphrase: z.string().min(1).max(256).optional(),
    registrationId: registrationId.optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.csr === undefined) === (body.generateKey === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give either csr or generateKey: true' });
    }
    if (body.generateKey && body.values === undefined) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'a generated key needs the lookup values' });
    }
    if (body.passphrase !== undefined && !body.generateKey) {
      ctx.addIssue({ code: 'custom', path: ['passphrase'], message: 'a passphrase goes with generateKey' });
    }
  });

const listQuery = z.strictObject({
  status: z.enum(['issued', 'revoked']).optional(),
  template: name.optional(),
  registrationId: registrationId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const serialParams = z.object({
  serial: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[0-9A-Fa-f:]+$/, 'a serial number is hex'),
});

const errors = { 400: errorBody, 401: errorBody, 404: errorBody, 503: errorBody };

export function pkiAdminApi(deps: {
  pki: PkiProvider;
  token: string;
  publicUrl: string;
}): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', adminAuth(deps.token));
    const api = app.withTypeProvider<ZodTypeProvider>();
    const ca = () => deps.pki.get();

    api.get(
      '/ca',
      {
        schema: {
          hide: true,
          summary: 'The CA chain: its authorities and the chain PEM (issuing CA first)',
          response: {
            200: z.object({
              issuingId: z.string(),
              rootId: z.string(),
              authorities: z.array(authoritySchema),
              chainPem: z.string(),
            }),
            ...errors,
          },
        },
      },
      async () => {
        const authority = await ca();
        return {
          issuingId: authority.issuingId,
          rootId: authority.rootId,
          authorities: (await authority.listAuthorities()).map(authorityJson),
          chainPem: authority.chainPem(),
        };
      },
    );

    api.get(
      '/templates',
      {
        schema: {
          hide: true,
          summary: 'Certificate templates',
          response: { 200: z.object({ templates: z.array(templateSchema) }), ...errors },
        },
      },
      async () => ({ templates: (await (await ca()).listTemplates()).map(templateJson) }),
    );

    api.post(
      '/templates',
      {
        schema: {
          hide: true,
          summary: 'Add a certificate template',
          body: newTemplate,
          response: { 201: templateSchema, ...errors, 409: errorBody },
        },
      },
      async (request, reply) =>
        reply.status(201).send(templateJson(await (await ca()).addTemplate(request.body))),
    );

    api.get(
      '/templates/:name',
      {
        schema: {
          hide: true,
          summary: 'One certificate template',
          params: z.object({ name }),
          response: { 200: templateSchema, ...errors },
        },
      },
      async (request) => templateJson(await (await ca()).getTemplate(request.params.name)),
    );

    api.post(
      '/challenges',
      {
        schema: {
          hide: true,
          summary: 'A one-time SCEP challenge bound to lookup values (NDES mscep_admin)',
          body: newChallenge,
          response: {
            201: z.object({ challenge: z.string(), template: z.string(), expiresAt: z.string() }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const { template, registrationId: registration, ...fields } = request.body;
        const created = await (await ca()).createChallenge({
          template,
          values: challengeValues(fields),
          ...(registration ? { registrationId: registration } : {}),
        });
        return reply.status(201).send({ ...created, expiresAt: new Date(created.expiresAt).toISOString() });
      },
    );

    api.get(
      '/certificates',
      {
        schema: {
          hide: true,
          summary: 'Issued certificates, newest first',
          querystring: listQuery,
          response: { 200: z.object({ certificates: z.array(certificateSchema) }), ...errors },
        },
      },
      async (request) => {
        const { status, template, registrationId: registration, limit } = request.query;
        const list = await (await ca()).list({
          limit,
          ...(status ? { status } : {}),
          ...(template ? { template } : {}),
          ...(registration ? { registrationId: registration } : {}),
        });
        return { certificates: list.map(certificateJson) };
      },
    );

    api.post(
      '/certificates',
      {
        schema: {
          hide: true,
          summary: 'Issue a certificate from a CSR, or with a generated key (PKCS #12)',
          body: issueBody,
          response: {
            201: z.object({
              certificate: certificateWithPemSchema,
              pkcs12: z.string().optional().describe('base64 PKCS #12: key, certificate and CA chain'),
              passphrase: z.string().optional().describe('Only when Herald chose it'),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const authority = await ca();
        const registration = body.registrationId ? { registrationId: body.registrationId } : {};
        if (body.csr !== undefined) {
          // Without lookup values the CSR's subject (and email/UPN SANs) are used: the operator vouches.
          const issued = await authority.issueFromCsr(body.csr, {
            template: body.template,
            ...(body.values ? { values: body.values } : { useCsrSubject: true }),
            ...registration,
          });
          return reply.status(201).send({ certificate: certificateWithPem(issued) });
        }
        const result = await authority.issueWithGeneratedKey({
          template: body.template,
          values: body.values ?? {},
          ...(body.passphrase ? { passphrase: body.passphrase } : {}),
          ...registration,
        });
        return reply.status(201).send({
          certificate: certificateWithPem(result.certificate),
          pkcs12: result.pkcs12.toString('base64'),
          ...(body.passphrase ? {} : { passphrase: result.passphrase }),
        });
      },
    );

    api.get(
      '/certificates/:serial',
      {
        schema: {
          hide: true,
          summary: 'One issued certificate, with its PEM',
          params: serialParams,
          response: { 200: certificateWithPemSchema, ...errors },
        },
      },
      async (request) => certificateWithPem(await (await ca()).getCertificate(request.params.serial)),
    );

    api.post(
      '/certificates/:serial/revoke',
      {
        schema: {
          hide: true,
          summary: 'Revoke a certificate; a new delta CRL is published at once',
          params: serialParams,
          body: z.strictObject({ reason: z.string().min(1).max(64).optional() }).optional(),
          response: {
            200: z.object({
              certificate: certificateSchema,
              alreadyRevoked: z.boolean(),
              crlPublished: z.boolean(),
            }),
            ...errors,
          },
        },
      },
      async (request) => {
        const result = await (await ca()).revoke(request.params.serial, request.body?.reason);
        return { ...result, certificate: certificateJson(result.certificate) };
      },
    );

    api.post(
      '/crl',
      {
        schema: {
          hide: true,
          summary: 'Regenerate the full and delta CRLs now',
          response: { 200: z.object({ crls: z.array(crlSchema) }), ...errors },
        },
      },
      async () => ({ crls: (await (await ca()).generateCrls({ full: true })).map(crlJson) }),
    );

    await app.register(pkiProfiles(deps));
  };
}
