/**
 * The control API under /sim/: JSON in, JSON out, no authentication. Errors are
 * `{"error": "..."}` with a 4xx status; a body over 1 MiB is refused with 413.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InputError } from './oauth.ts';
import { checkFault, type FcmSim } from './simulator.ts';
import type { FcmFault } from './types.ts';

type Json = Record<string, unknown>;
type Handler = (ctx: { body: Json; query: URLSearchParams }) => unknown;

interface Route {
  method: string;
  path: string;
  status?: number;
  handler: Handler;
}

class ControlError extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

function tokenFilter(query: URLSearchParams): { token?: string } {
  const token = query.get('token');
  return token === null ? {} : { token };
}

function routes(sim: FcmSim): Route[] {
  return [
    {
      method: 'GET',
      path: 'messages',
      handler: ({ query }) => ({ messages: sim.received(tokenFilter(query)) }),
    },
    {
      method: 'DELETE',
      path: 'messages',
      handler: () => {
        sim.clear();
        return { cleared: true };
      },
    },
    {
      method: 'GET',
      path: 'requests',
      handler: ({ query }) => ({ requests: sim.requests(tokenFilter(query)) }),
    },
    { method: 'GET', path: 'token-requests', handler: () => ({ tokenRequests: sim.tokenRequests() }) },
    { method: 'GET', path: 'faults', handler: () => ({ faults: sim.faults() }) },
    {
      method: 'POST',
      path: 'faults',
      status: 201,
      handler: ({ body }) => {
        const { token, ...fault } = body;
        checkFault(token, fault);
        return sim.fault(token as string, fault as FcmFault);
      },
    },
    {
      method: 'DELETE',
      path: 'faults',
      handler: ({ query }) => ({ cleared: sim.clearFaults(query.get('token') ?? undefined) }),
    },
    {
      method: 'POST',
      path: 'unregister',
      handler: ({ body }) => {
        sim.unregister(body.token as string);
        return { token: body.token, unregistered: true };
      },
    },
    {
      method: 'POST',
      path: 'service-accounts',
      status: 201,
      handler: ({ body }) => {
        for (const key of ['projectId', 'clientEmail']) {
          if (body[key] !== undefined && typeof body[key] !== 'string') {
            throw new ControlError(`${key} must be a string`);
          }
        }
        return sim.oauth.createServiceAccount({
          projectId: body.projectId as string | undefined,
          clientEmail: body.clientEmail as string | undefined,
        });
      },
    },
    { method: 'POST', path: 'revoke-tokens', handler: () => ({ revoked: sim.oauth.revokeAll() }) },
    { method: 'GET', path: 'stats', handler: () => sim.stats() },
  ];
}

export const MAX_CONTROL_BODY = 1024 * 1024;

function parseJson(raw: string): Json {
  const text = raw.trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ControlError('request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ControlError('request body must be a JSON object');
  }
  return parsed as Json;
}

/**
 * Answer a control request whose body has been read (undefined = over the limit); returns the
 * status sent.
 */
export function controlHandler(sim: FcmSim, onError: (error: unknown) => void = () => {}) {
  const table = routes(sim);
  return (req: IncomingMessage, res: ServerResponse, url: URL, raw: string | undefined): number => {
    let status = 200;
    let payload: unknown;
    try {
      const path = url.pathname.replace(/^\/sim\/?/, '').replace(/\/$/, '');
      const candidates = table.filter((r) => r.path === path);
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        if (candidates.length > 0) {
          res.setHeader('Allow', candidates.map((r) => r.method).join(', '));
          throw new ControlError(`${req.method} is not allowed on ${url.pathname}`, 405);
        }
        throw new ControlError(`no control route ${url.pathname}`, 404);
      }
      if (raw === undefined) throw new ControlError(`request body over ${MAX_CONTROL_BODY} bytes`, 413);
      const body = route.method === 'POST' ? parseJson(raw) : {};
      payload = route.handler({ body, query: url.searchParams });
      status = route.status ?? 200;
    } catch (error) {
      if (error instanceof ControlError) {
        status = error.status;
        payload = { error: error.message };
      } else if (error instanceof InputError) {
        status = 400;
        payload = { error: error.message };
      } else {
        onError(error);
        status = 500;
        payload = { error: 'internal simulator error' };
      }
    }
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      ...(status === 413 ? { Connection: 'close' } : {}),
    });
    res.end(text);
    return status;
  };
}
