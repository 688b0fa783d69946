/**
 * Device profiles through the PKI admin API (docs/pki-profiles.md): one call makes a one-time
 * SCEP challenge for the device (as POST /challenges does) and returns the profile that enrols
 * with it: `POST /profiles/mobileconfig` (iOS, `application/x-apple-aspen-config`) or
 * `POST /profiles/android` (the Android managed configuration, JSON); every call creates a new
 * single-use challenge. The operator contract's form, `GET /profiles/{deviceUid}.mobileconfig`
 * (or `.json`) with the rest in the query, does the same; the log redacts the query's `user=`
 * and `email=` values. The profile holds the challenge, so nothing of it is logged.
 * Profiles are not signed yet (no signing key is configured).
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  buildDeviceProfiles,
  identifierPrefixFromUrl,
  MOBILECONFIG_CONTENT_TYPE,
  profileLookupValues,
} from '../../pki/profiles/index.ts';
import type { PkiProvider } from './publication.ts';

const text = (max: number) => z.string().trim().min(1).max(max);

const profileBody = z.strictObject({
  template: text(64),
  deviceUid: text(256).describe('DeviceUid: makes the PayloadIdentifier stable per device'),
  user: text(320).describe('UserPrincipalName: the ActiveSync user name'),
  email: text(320).describe('EmailAddress: the mailbox'),
  enrollmentUser: text(320).optional(),
  displayName: text(256).optional(),
  registrationId: text(64).optional(),
  gatewayHost: text(260).describe('host[:port] of the secure email gateway devices use for ActiveSync'),
  organization: text(256),
  identifier: text(200).optional().describe('reverse-DNS PayloadIdentifier prefix (default from publicUrl)'),
});

const profileParams = z.object({ format: z.enum(['mobileconfig', 'android']) });

/** `GET /profiles/{deviceUid}.mobileconfig|.json`: the operator contract's form (operator.md). */
const profileFile = z.object({
  file: z
    .string()
    .regex(/^[^/]{1,256}\.(mobileconfig|json)$/, 'must be {deviceUid}.mobileconfig or {deviceUid}.json'),
});
const profileQuery = profileBody.omit({ deviceUid: true, organization: true }).extend({
  organization: text(256).default('Herald'),
});

type ProfileRequest = z.infer<typeof profileBody>;

export function pkiProfiles(deps: { pki: PkiProvider; publicUrl: string }): FastifyPluginAsync {
  async function answer(body: ProfileRequest, ios: boolean, reply: FastifyReply) {
    const { deviceUid } = body;
    const ca = await deps.pki.get();
    const template = await ca.getTemplate(body.template);
    const values = profileLookupValues({
      deviceUid,
      user: body.user,
      email: body.email,
      ...(body.enrollmentUser ? { enrollmentUser: body.enrollmentUser } : {}),
    });
    const { challenge, expiresAt } = await ca.createChallenge({
      template: template.name,
      values,
      ...(body.registrationId ? { registrationId: body.registrationId } : {}),
    });
    const profiles = buildDeviceProfiles({
      deviceUid,
      user: body.user,
      email: body.email,
      ...(body.enrollmentUser ? { enrollmentUser: body.enrollmentUser } : {}),
      ...(body.displayName ? { displayName: body.displayName } : {}),
      template,
      challenge,
      scepUrl: `${deps.publicUrl}/pki/scep`,
      gatewayHost: body.gatewayHost,
      organization: body.organization,
      identifier: body.identifier ?? identifierPrefixFromUrl(deps.publicUrl),
    });
    void reply
      .header('cache-control', 'no-store')
      .header('x-herald-challenge-expires', new Date(expiresAt).toISOString());
    if (!ios) return reply.type('application/json; charset=utf-8').send(profiles.android);
    return reply
      .type(MOBILECONFIG_CONTENT_TYPE)
      .header('content-disposition', `attachment; filename="${profiles.identifier}.mobileconfig"`)
      .send(profiles.mobileconfig);
  }

  return async (app) => {
    const api = app.withTypeProvider<ZodTypeProvider>();
    api.get(
      '/profiles/:file',
      {
        schema: {
          hide: true,
          summary: "A device's profile (the operator contract's GET form); who it is for in the query",
          params: profileFile,
          querystring: profileQuery,
        },
      },
      async (request, reply) => {
        const { file } = request.params;
        const dot = file.lastIndexOf('.');
        const deviceUid = decodeURIComponent(file.slice(0, dot));
        return answer({ ...request.query, deviceUid }, file.endsWith('.mobileconfig'), reply);
      },
    );
    api.post(
      '/profiles/:format',
      {
        schema: {
          hide: true,
          summary: "A device's profile with a new one-time SCEP challenge: iOS .mobileconfig or Android JSON",
          params: profileParams,
          body: profileBody,
        },
      },
      async (request, reply) => answer(request.body, request.params.format === 'mobileconfig', reply),
    );
  };
}
