/**
 * The control API under /sim/ (HTTP/1.1 or HTTP/2, no auth): JSON in, JSON out; bad input →
 * 400 {"error": "..."}, unknown route → 404, wrong method → 405. It drives the same methods as
 * the programmatic API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { readBody } from './body.ts';
import { SimInputError } from './errors.ts';
import type { ApnsFault, ApnsKey, ApnsRequestRecord, ApnsStats } from './types.ts';

/** The part of the simulator the control API drives. */
export interface ControlTarget {
  ca: string;
  received(filter?: { token?: string }): ApnsRequestRecord[];
  requests(filter?: { token?: string }): ApnsRequestRecord[];
  clear(): void;
  fault(token: string, fault: ApnsFault): void;
  clearFaults(token?: string): void;
  faults(): unknown[];
  unregister(token: string): number;
  registerDevice(token: string, topic: string): void;
  goawayAfter(streams: number | undefined): void;
  addKey(key: ApnsKey): void;
  generateKey(teamId?: string, keyId?: string): ApnsKey & { privateKey: string };
  keys(): Array<{ keyId: string; teamId: string; publicKey: string }>;
  stats(): ApnsStats;
}

type Json = Record<string, unknown>;
type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** A non-JSON answer. */
class Raw {
  readonly text: string;
  readonly type: string;
  constructor(text: string, type: string) {
    this.text = text;
    this.type = type;
  }
}

class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  handler: (ctx: { query: URLSearchParams; body: Json }) => unknown;
}

const MAX_JSON = 256 * 1024;

function str(body: Json, name: string, required: true): string;
function str(body: Json, name: string, required: false): string | undefined;
function str(body: Json, name: string, required: boolean): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw new ControlError(400, `${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw new ControlError(400, `${name} must be a string`);
  return value;
}

function tokenFilter(query: URLSearchParams): { token?: string } {
  const token = query.get('token');
  return token ? { token } : {};
}

function routes(target: ControlTarget): Route[] {
  return [
    {
      method: 'GET',
      path: 'pushes',
      handler: ({ query }) => ({ pushes: target.received(tokenFilter(query)) }),
    },
    {
      method: 'DELETE',
      path: 'pushes',
      handler: () => {
        target.clear();
        return { cleared: true };
      },
    },
    {
      method: 'GET',
      path: 'requests',
      handler: ({ query }) => ({ requests: target.requests(tokenFilter(query)) }),
    },
    { method: 'GET', path: 'faults', handler: () => ({ faults: target.faults() }) },
    {
      method: 'POST',
      path: 'faults',
      handler: ({ body }) => {
        const token = str(body, 'token', true);
        const { status, reason, times } = body;
        target.fault(token, { status, reason, times: times ?? undefined } as ApnsFault);
        return { token: token.toLowerCase(), status, reason, times: times ?? null };
      },
    },
    {
      method: 'DELETE',
      path: 'faults',
      handler: ({ query }) => {
        target.clearFaults(query.get('token') || undefined);
        return { cleared: true };
      },
    },
    {
      method: 'POST',
      path: 'unregister',
      handler: ({ body }) => {
        const token = str(body, 'token', true);
        return { token: token.toLowerCase(), timestamp: target.unregister(token) };
      },
    },
    {
      method: 'POST',
      path: 'devices',
      handler: ({ body }) => {
        const token = str(body, 'token', true);
        const topic = str(body, 'topic', true);
        target.registerDevice(token, topic);
        return { token: token.toLowerCase(), topic };
      },
    },
    {
      method: 'POST',
      path: 'goaway',
      handler: ({ body }) => {
        if (!('afterStreams' in body))
          throw new ControlError(400, 'afterStreams is required (a number, or null)');
        const n = body.afterStreams;
        if (n !== null && typeof n !== 'number') {
          throw new ControlError(400, 'afterStreams must be a positive integer or null');
        }
        target.goawayAfter(n ?? undefined);
        return { afterStreams: n };
      },
    },
    { method: 'GET', path: 'keys', handler: () => ({ keys: target.keys() }) },
    {
      method: 'POST',
      path: 'keys',
      handler: ({ body }) => {
        if (body.generate === true) {
          return target.generateKey(str(body, 'teamId', false), str(body, 'keyId', false));
        }
        const key = {
          keyId: str(body, 'keyId', true),
          teamId: str(body, 'teamId', true),
          publicKey: str(body, 'publicKey', true),
        };
        target.addKey(key);
        return { keyId: key.keyId, teamId: key.teamId };
      },
    },
    { method: 'GET', path: 'stats', handler: () => target.stats() },
    { method: 'GET', path: 'ca.pem', handler: () => new Raw(target.ca, 'application/x-pem-file') },
  ];
}

async function readJson(req: Request): Promise<Json> {
  const read = await readBody(req, MAX_JSON, MAX_JSON);
  if (read.aborted) throw new ControlError(400, 'request aborted');
  if (!read.complete) throw new ControlError(413, 'request body over 256 KB');
  const text = read.body.toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ControlError(400, 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ControlError(400, 'request body must be a JSON object');
  }
  return parsed as Json;
}

function send(res: Response, status: number, body: string, type: string, extra: Record<string, string> = {}) {
  if (res.headersSent || res.writableEnded) return;
  // Both response kinds take (status, headers); their overloads just don't unify.
  (res as ServerResponse).writeHead(status, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...extra,
  });
  (res as ServerResponse).end(body);
}

export function controlHandler(target: ControlTarget, onError: (error: unknown) => void = () => {}) {
  const table = routes(target);
  return async (req: Request, res: Response, pathname: string, query: URLSearchParams): Promise<number> => {
    const path = pathname.replace(/^\/sim\/?/, '').replace(/\/$/, '');
    let status = 200;
    let payload: unknown;
    let allow: string | undefined;
    try {
      const candidates = table.filter((r) => r.path === path);
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        if (candidates.length > 0) {
          allow = candidates.map((r) => r.method).join(', ');
          throw new ControlError(405, `${req.method} is not allowed on /sim/${path}`);
        }
        throw new ControlError(404, `no control route /sim/${path}`);
      }
      const body = route.method === 'POST' ? await readJson(req) : {};
      payload = route.handler({ query, body });
    } catch (error) {
      if (error instanceof ControlError) {
        status = error.status;
        payload = { error: error.message };
      } else if (error instanceof SimInputError) {
        status = 400;
        payload = { error: error.message };
      } else {
        onError(error);
        status = 500;
        payload = { error: 'internal simulator error' };
      }
    }
    if (payload instanceof Raw) send(res, status, payload.text, payload.type);
    else
      send(res, status, JSON.stringify(payload), 'application/json; charset=utf-8', allow ? { allow } : {});
    return status;
  };
}
