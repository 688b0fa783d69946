/**
 * Admin API v1 (docs/admin-api.md), mounted under `/api/admin/v1`: subscription health of the
 * registrations, read through notify's RegistrationInspector (the same objects `herald
 * registrations` prints), and the gateway's compliance rules (gateway-rules-api.ts). Every
 * route needs the admin token (`Authorization: Bearer`). The routes are hidden from the device
 * API's OpenAPI document.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HeraldError } from '../errors/index.ts';
import { MAX_PAGE, PLATFORMS, REGISTRATION_STATES, type RegistrationInspector } from '../notify/index.ts';
import type { GatewayRuleRepository } from '../store/index.ts';
import { gatewayRulesApi } from './gateway-rules-api.ts';
import { errorBody } from './schemas.ts';

export interface AdminApiDeps {
  inspector: RegistrationInspector;
  /** The admin bearer token (config `admin.apiToken` or `<dataDir>/admin.token`). */
  token: string;
  /** The gateway's compliance rules (`/gateway/rules`, gateway-rules-api.ts). */
  gatewayRules: GatewayRuleRepository;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function bearer(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  return authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
}

/**
 * An onRequest hook that lets a request through only with `Authorization: Bearer <token>`;
 * otherwise 401 `admin_unauthorized` with `WWW-Authenticate: Bearer`. The comparison is on
 * SHA-256 digests in constant time, so neither the token's length nor its content leaks through
 * timing. For every route that needs the admin token (the admin API, /metrics).
 */
export function adminAuth(token: string): onRequestAsyncHookHandler {
  const expected = sha256(token);
  return async (request) => {
    const presented = bearer(request);
    // Hash even when nothing was presented, so a missing header takes as long as a wrong one.
    const matches = timingSafeEqual(sha256(presented ?? ''), expected);
    if (presented === undefined || !matches) throw new HeraldError('admin_unauthorized');
  };
}

const isoTime = z.string().describe('ISO 8601');

const registrationSummary = z.object({
  id: z.string(),
  tenantId: z.string(),
  platform: z.enum(PLATFORMS),
  appId: z.string(),
  environment: z.enum(['production', 'sandbox']),
  provider: z.enum(['ews', 'graph']),
  state: z.enum(REGISTRATION_STATES),
  pushToken: z.string().describe('Masked: only the last characters'),
  statusFrequencyMinutes: z.number(),
  lastSeenAt: isoTime.nullable(),
  silentSince: isoTime.nullable(),
  checkinSentAt: isoTime.nullable(),
  deactivatedReason: z.string().nullable(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

const outboxCounts = z.object({
  pending: z.number(),
  processing: z.number(),
  done: z.number(),
  failed: z.number(),
});

const registrationDetail = registrationSummary.extend({
  health: z.string(),
  contentPolicy: z.enum(['full', 'badge', 'silent']).nullable(),
  unreadCount: z.number().nullable(),
  badgeSent: z.number().nullable(),
  subscriptionId: z.string().nullable(),
  outbox: outboxCounts,
  deliveries: z.array(
    z.object({
      at: isoTime,
      status: z.enum(['sent', 'failed', 'unregistered']),
      provider: z.enum(['apns', 'fcm', 'relay']),
      latencyMs: z.number(),
      error: z.string().nullable(),
      itemId: z.string().nullable(),
    }),
  ),
  graph: z
    .object({
      auth: z.enum(['app', 'delegated']),
      state: z.enum(['creating', 'active', 'reauthorize', 'removed', 'expired']),
      subscriptionId: z.string().nullable(),
      includeResourceData: z.boolean(),
      expiresAt: isoTime.nullable(),
      renewAt: isoTime.nullable(),
      renewalFailures: z.number(),
      lastError: z.string().nullable(),
      lastLifecycleEvent: z.string().nullable(),
      lastLifecycleAt: isoTime.nullable(),
    })
    .nullable(),
});

const listQuery = z.strictObject({
  state: z.enum(REGISTRATION_STATES).optional(),
  tenant: z.string().min(1).max(63).optional(),
  email: z.string().trim().min(1).max(320).optional(),
  platform: z.enum(PLATFORMS).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  after: z.string().min(1).max(64).optional(),
});

const listResponse = z.object({
  registrations: z.array(registrationSummary),
  next: z.string().nullable().describe('Pass as `after` for the next page; null on the last page'),
});

const healthResponse = z.object({
  registrations: z.object(
    Object.fromEntries(REGISTRATION_STATES.map((state) => [state, z.number()])) as Record<
      (typeof REGISTRATION_STATES)[number],
      z.ZodNumber
    >,
  ),
  outbox: outboxCounts,
});

const errors = { 400: errorBody, 401: errorBody, 404: errorBody };

export function adminApi(deps: AdminApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', adminAuth(deps.token));
    const api = app.withTypeProvider<ZodTypeProvider>();

    api.get(
      '/registrations',
      {
        schema: {
          hide: true,
          summary: 'Registrations with their state, filtered, in pages',
          querystring: listQuery,
          response: { 200: listResponse, ...errors },
        },
      },
      async (request) => {
        const { state, tenant, email, platform, limit, after } = request.query;
        return deps.inspector.list(
          {
            ...(state ? { state } : {}),
            ...(tenant ? { tenantId: tenant } : {}),
            ...(email ? { email } : {}),
            ...(platform ? { platform } : {}),
          },
          { limit, ...(after ? { afterId: after } : {}) },
        );
      },
    );

    api.get(
      '/registrations/:id',
      {
        schema: {
          hide: true,
          summary: 'One registration: its health explained, outbox counts, recent deliveries',
          params: z.object({ id: z.string().min(1).max(64) }),
          response: { 200: registrationDetail, ...errors },
        },
      },
      async (request) => {
        const detail = await deps.inspector.show(request.params.id);
        if (!detail) {
          throw new HeraldError('registration_not_found', { message: 'No registration with this id.' });
        }
        return detail;
      },
    );

    api.get(
      '/health',
      {
        schema: {
          hide: true,
          summary: 'Registrations per state and outbox events per status',
          response: { 200: healthResponse, 401: errorBody },
        },
      },
      async () => deps.inspector.overview(),
    );

    await app.register(gatewayRulesApi({ gatewayRules: deps.gatewayRules }));
  };
}
