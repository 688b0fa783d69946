/**
 * `GET /metrics`: Prometheus exposition, behind the admin token (Prometheus sends it with
 * `authorization: { credentials_file: … }`), because the listener also faces devices and Exchange.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics/index.ts';
import { adminAuth } from './admin-api.ts';

export function metricsRoute(deps: { metrics: Metrics; token: string }): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/metrics',
      { schema: { hide: true }, onRequest: adminAuth(deps.token) },
      async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()),
    );
  };
}
