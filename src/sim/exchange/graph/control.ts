/** The Graph part of the control API, under /sim/graph/ (same conventions as the rest of /sim/). */
import type { Route } from '../control.ts';
import { SimError } from '../store.ts';
import type { AppSpec } from './entra.ts';
import type { GraphFaultSpec } from './faults.ts';
import type { GraphSim } from './index.ts';
import type { Attempt } from './service.ts';

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function graphRoutes(graph: GraphSim, baseUrl: () => string): Route[] {
  const service = graph.service;
  return [
    { method: 'GET', pattern: ['graph'], handler: () => graph.info(baseUrl()) },
    { method: 'GET', pattern: ['graph', 'apps'], handler: () => ({ apps: graph.entra.apps() }) },
    {
      method: 'POST',
      pattern: ['graph', 'apps'],
      status: 201,
      handler: ({ body }) => {
        const certificate = str(body.certificate);
        const spec: AppSpec = {
          clientId: str(body.clientId),
          secret: body.secret as string | undefined,
          certificates: certificate === undefined ? undefined : [certificate],
          roles: body.roles as string[] | undefined,
          mailboxes: body.mailboxes as string[] | undefined,
          displayName: str(body.displayName),
        };
        return { ...graph.entra.registerApp(spec), tenantId: graph.entra.tenantId };
      },
    },
    {
      method: 'POST',
      pattern: ['graph', 'apps', ':clientId', 'certificates'],
      status: 201,
      handler: ({ params, body }) => graph.entra.addCertificate(params[0]!, body.certificate as string),
    },
    {
      method: 'POST',
      pattern: ['graph', 'tokens'],
      handler: ({ body }) => {
        if (typeof body.email !== 'string') throw new SimError('invalid_email', 'email is required');
        return graph.delegatedToken(body.email, {
          clientId: str(body.clientId),
          lifetimeSeconds: body.lifetimeSeconds === undefined ? undefined : Number(body.lifetimeSeconds),
          token: str(body.token),
        });
      },
    },
    {
      method: 'GET',
      pattern: ['graph', 'subscriptions'],
      handler: () => ({ subscriptions: service.subscriptions() }),
    },
    {
      method: 'GET',
      pattern: ['graph', 'subscriptions', ':id'],
      handler: ({ params }) => service.subscription(params[0]!),
    },
    {
      method: 'POST',
      pattern: ['graph', 'subscriptions', ':id', 'lifecycle'],
      handler: ({ params, body }) => service.lifecycle(params[0]!, body.event),
    },
    {
      method: 'POST',
      pattern: ['graph', 'subscriptions', ':id', 'corrupt-signature'],
      handler: ({ params }) => service.corruptNextSignature(params[0]!),
    },
    { method: 'GET', pattern: ['graph', 'faults'], handler: () => ({ faults: graph.faults.list() }) },
    {
      method: 'POST',
      pattern: ['graph', 'faults'],
      status: 201,
      handler: ({ body }) => graph.faults.add(body as unknown as GraphFaultSpec),
    },
    {
      method: 'DELETE',
      pattern: ['graph', 'faults'],
      handler: () => {
        graph.faults.clear();
        return { faults: [] };
      },
    },
    {
      method: 'GET',
      pattern: ['graph', 'notifications'],
      handler: ({ query }) => ({
        attempts: service.attempts({
          subscriptionId: query.get('subscriptionId') ?? undefined,
          kind: (query.get('kind') ?? undefined) as Attempt['kind'] | undefined,
        }),
      }),
    },
  ];
}
