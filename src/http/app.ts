/**
 * buildApp: the notification service's HTTP surface, separate from the code that listens
 * (STYLE habit 1), so tests drive it in-process with inject() or on port 0.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { HeraldError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type {
  EventIntake,
  GraphIntake,
  RegistrationInspector,
  RegistrationService,
} from '../notify/index.ts';
import type { Store } from '../store/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { adminApi } from './admin-api.ts';
import { refuseOversizedUnreadBody } from './body-limit.ts';
import { deviceApi } from './device-api.ts';
import { sendJsonError } from './errors.ts';
import { ewsCallback } from './ews-callback.ts';
import { graphCallback } from './graph-callback.ts';
import { metricsRoute } from './metrics.ts';
import { type PkiProvider, pkiRoutes } from './pki/index.ts';

export interface AppDeps {
  logger: Logger;
  store: Store;
  tenants: TenantService;
  registrations: RegistrationService;
  intake: EventIntake;
  /** Microsoft Graph's notification and lifecycle callbacks. */
  graphIntake?: GraphIntake;
  version: string;
  publicUrl: string;
  limits: {
    bodyBytes: number;
    notificationBytes: number;
    tenantRequestsPerMinute: number;
    ipRequestsPerMinute: number;
  };
  /** Serve HTTPS directly (operator.md `tls:`); otherwise plain HTTP behind a TLS proxy. */
  https?: { cert: Buffer; key: Buffer };
  /** The read side of subscription health, for the admin API. */
  inspector: RegistrationInspector;
  /** Bearer token of the admin API (`admin.apiToken` or `<dataDir>/admin.token`). */
  adminToken: string;
  /** Served at `/metrics` behind the admin token. */
  metrics: Metrics;
  /** The certificate authority (`/pki`, `/api/pki/v1`); absent when `pki.enabled` is false. */
  pki?: PkiProvider;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type HeraldApp = Awaited<ReturnType<typeof buildApp>>;

export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.logger,
    bodyLimit: deps.limits.bodyBytes,
    // Honour a caller's X-Request-Id when it is sane, so logs can be joined across systems.
    genReqId: (req) => {
      const header = req.headers['x-request-id'];
      return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    },
    return503OnClosing: true,
    // A URL the router cannot read (bad percent-encoding, an overlong parameter): our JSON error.
    frameworkErrors: (error, request, reply) => {
      sendJsonError(error, request, reply);
    },
    forceCloseConnections: 'idle',
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('onRequest', refuseOversizedUnreadBody);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Herald device API',
        version: deps.version,
        description: 'Registration of mail-app devices for Exchange push notifications (docs/device-api.md).',
      },
      servers: [{ url: `${deps.publicUrl}/api/ens` }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Tenant API token' } },
      },
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((error, request, reply) => sendJsonError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendJsonError(
      new HeraldError('not_found', { message: `No route ${request.method} ${request.url.split('?')[0]}.` }),
      request,
      reply,
    ),
  );

  await app.register(
    async (ens) => {
      await ens.register(deviceApi(deps));
      await ens.register(
        ewsCallback({ intake: deps.intake, bodyLimit: deps.limits.notificationBytes, metrics: deps.metrics }),
      );
      if (deps.graphIntake) {
        await ens.register(
          graphCallback({ intake: deps.graphIntake, bodyLimit: deps.limits.notificationBytes }),
        );
      }
      ens.get('/openapi.json', { schema: { hide: true } }, async () => {
        const document = app.swagger() as { paths?: Record<string, unknown> };
        // The document describes the device API, relative to its base URL /api/ens.
        const paths = Object.fromEntries(
          Object.entries(document.paths ?? {}).map(([path, item]) => [path.replace(/^\/api\/ens/, ''), item]),
        );
        return { ...document, paths };
      });
    },
    { prefix: '/api/ens' },
  );
  await app.register(
    adminApi({ inspector: deps.inspector, token: deps.adminToken, gatewayRules: deps.store.gatewayRules }),
    {
      prefix: '/api/admin/v1',
    },
  );
  await app.register(metricsRoute({ metrics: deps.metrics, token: deps.adminToken }));
  if (deps.pki) {
    await app.register(
      pkiRoutes({ pki: deps.pki, token: deps.adminToken, logger: deps.logger, publicUrl: deps.publicUrl }),
    );
  }
  return app;
}
