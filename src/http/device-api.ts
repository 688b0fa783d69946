/**
 * Device API v1 (../../shared/api/device-api.md): routes only; the work is done by notify/ and
 * tenants/. Every route but `alive` needs the tenant's API token.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HeraldError } from '../errors/index.ts';
import type { RegistrationService } from '../notify/index.ts';
import type { Store, Tenant } from '../store/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { deviceApiRateLimits, type RateLimitSettings } from './rate-limit.ts';
import {
  aliveResponse,
  checkinBody,
  checkinResponse,
  createRegistrationBody,
  createRegistrationResponse,
  errorBody,
  publicKeyResponse,
  registrationParams,
} from './schemas.ts';

export interface DeviceApiDeps {
  store: Store;
  tenants: TenantService;
  registrations: RegistrationService;
  version: string;
  /** Per-IP and per-tenant request limits (0: off); `alive` is never limited. */
  limits: RateLimitSettings;
}

declare module 'fastify' {
  interface FastifyRequest {
    tenant?: Tenant;
  }
}

/** `Authorization: Bearer <token>`, or `ApiToken: <token>` as ENS2 clients send it. */
function presentedToken(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1];
  }
  const apiToken = request.headers.apitoken;
  return typeof apiToken === 'string' ? apiToken.trim() : undefined;
}

function tenantOf(request: FastifyRequest): Tenant {
  if (!request.tenant) throw new HeraldError('unauthorized');
  return request.tenant;
}

const errors = {
  400: errorBody,
  401: errorBody,
  404: errorBody,
  413: errorBody,
  415: errorBody,
  422: errorBody,
  429: errorBody,
  502: errorBody,
  503: errorBody,
};

export function deviceApi(deps: DeviceApiDeps): FastifyPluginAsync {
  return async (app) => {
    const api = app.withTypeProvider<ZodTypeProvider>();

    api.get(
      '/alive',
      {
        schema: {
          summary: 'Liveness: answers only when the database answers',
          response: { 200: aliveResponse, 503: errorBody },
        },
      },
      async () => {
        if (!(await deps.store.ping()))
          throw new HeraldError('unavailable', { message: 'The database does not answer.' });
        return { status: 'ok' as const, version: deps.version };
      },
    );

    await api.register(async (authed) => {
      // Bodies are JSON only: a text/plain body gets 415 like any other media type.
      authed.removeContentTypeParser('text/plain');
      const limit = await deviceApiRateLimits(authed, deps.limits);
      // Counted before the token is checked, so that guessing tokens is limited too.
      if (limit.perIp) authed.addHook('onRequest', limit.perIp);
      authed.addHook('onRequest', async (request) => {
        const token = presentedToken(request);
        const tenant = token ? await deps.tenants.authenticate(token) : undefined;
        if (!tenant) throw new HeraldError('unauthorized');
        request.tenant = tenant;
      });
      if (limit.perTenant) authed.addHook('onRequest', limit.perTenant);
      const routes = authed.withTypeProvider<ZodTypeProvider>();

      routes.get(
        '/v1/publickey',
        {
          schema: {
            summary: "The tenant's current public key for encrypting device credentials",
            security: [{ bearer: [] }],
            response: { 200: publicKeyResponse, ...errors },
          },
        },
        async (request) => {
          const key = await deps.tenants.currentPublicKey(tenantOf(request).id);
          const { kty, n, e } = key.jwk as { kty: 'RSA'; n: string; e: string };
          return {
            keyId: key.kid,
            alg: 'RSA-OAEP-256' as const,
            enc: 'A256GCM' as const,
            jwk: { kty, n, e, kid: key.kid, alg: 'RSA-OAEP-256', use: 'enc' },
          };
        },
      );

      routes.post(
        '/v1/registrations',
        {
          schema: {
            summary:
              'Register a device for pushes about one mailbox; subscribes at Exchange before answering',
            security: [{ bearer: [] }],
            body: createRegistrationBody,
            response: { 201: createRegistrationResponse, ...errors },
          },
        },
        async (request, reply) => {
          const created = await deps.registrations.create(tenantOf(request), request.body);
          return reply.status(201).send(created);
        },
      );

      routes.post(
        '/v1/registrations/:id/checkin',
        {
          schema: {
            summary: 'Check in, optionally with fresh credentials (resubscribes)',
            security: [{ bearer: [] }],
            params: registrationParams,
            body: checkinBody,
            response: { 200: checkinResponse, ...errors },
          },
        },
        async (request) =>
          deps.registrations.checkin(tenantOf(request), request.params.id, request.body ?? {}),
      );

      routes.delete(
        '/v1/registrations/:id',
        {
          schema: {
            summary: 'Forget a registration and shred its key',
            security: [{ bearer: [] }],
            params: registrationParams,
            response: { 204: z.undefined().describe('Deleted'), ...errors },
          },
        },
        async (request, reply) => {
          await deps.registrations.delete(tenantOf(request), request.params.id);
          return reply.status(204).send(undefined);
        },
      );
    });
  };
}
