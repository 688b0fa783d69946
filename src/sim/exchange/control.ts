/**
 * The control API under /sim/: JSON in, JSON out, errors as {"error": {"code", "message"}} with
 * a 4xx status. Path segments are URL-decoded after splitting, so ids containing `/`, `+` or `=`
 * must be percent-encoded by the caller (encodeURIComponent).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { graphRoutes } from './graph/control.ts';
import type { LogEntry } from './log.ts';
import type { ExchangeSim } from './simulator.ts';
import { SimError } from './store.ts';

export type Json = Record<string, unknown>;
type Handler = (ctx: { params: string[]; body: Json; query: URLSearchParams }) => Promise<unknown> | unknown;

export interface Route {
  method: string;
  pattern: string[];
  status?: number;
  handler: Handler;
}

const MAX_JSON = 1024 * 1024;

function wantsWait(body: Json, query: URLSearchParams): boolean {
  const q = query.get('wait');
  return body.wait === true || q === 'true' || q === '1' || q === '';
}

function routes(sim: ExchangeSim, baseUrl: () => string): Route[] {
  return [
    ...graphRoutes(sim.graph, baseUrl),
    { method: 'GET', pattern: ['mailboxes'], handler: () => ({ mailboxes: sim.mailboxes() }) },
    {
      method: 'POST',
      pattern: ['mailboxes'],
      status: 201,
      handler: ({ body }) =>
        sim.createMailbox({
          email: String(body.email ?? ''),
          password: body.password as string | undefined,
          username: typeof body.username === 'string' ? body.username : undefined,
          tokens: body.tokens as string[] | undefined,
          ...(typeof body.autodiscoverEwsUrl === 'string'
            ? { autodiscoverEwsUrl: body.autodiscoverEwsUrl }
            : {}),
        }),
    },
    { method: 'GET', pattern: ['mailboxes', ':email'], handler: ({ params }) => sim.mailbox(params[0]!) },
    {
      method: 'POST',
      pattern: ['mailboxes', ':email', 'deliver'],
      handler: ({ params, body, query }) =>
        sim.deliver(
          params[0]!,
          {
            subject: body.subject as string,
            from: body.from as { name?: string; address: string },
            body: body.body as string | undefined,
            bodyType: body.bodyType as 'Text' | 'HTML' | undefined,
          },
          { wait: wantsWait(body, query) },
        ),
    },
    {
      method: 'POST',
      pattern: ['mailboxes', ':email', 'items', ':itemId', 'read'],
      handler: ({ params, body, query }) =>
        sim.markRead(params[0]!, params[1]!, body.isRead === undefined ? true : body.isRead === true, {
          wait: wantsWait(body, query),
        }),
    },
    {
      method: 'GET',
      pattern: ['mailboxes', ':email', 'subscriptions'],
      handler: ({ params }) => ({ subscriptions: sim.subscriptions(params[0]!) }),
    },
    {
      method: 'POST',
      pattern: ['mailboxes', ':email', 'tokens'],
      handler: ({ params, body }) => sim.addToken(params[0]!, body.token as string),
    },
    { method: 'GET', pattern: ['subscriptions'], handler: () => ({ subscriptions: sim.subscriptions() }) },
    {
      method: 'GET',
      pattern: ['subscriptions', ':id'],
      handler: ({ params }) => sim.subscription(params[0]!),
    },
    {
      method: 'DELETE',
      pattern: ['subscriptions', ':id'],
      handler: ({ params }) => sim.killSubscription(params[0]!),
    },
    {
      method: 'POST',
      pattern: ['subscriptions', ':id', 'lose-events'],
      handler: ({ params, body }) =>
        sim.loseEvents(params[0]!, body.count === undefined ? 1 : Number(body.count)),
    },
    {
      method: 'POST',
      pattern: ['tokens', 'revoke'],
      handler: ({ body }) => sim.revokeToken(body.token as string),
    },
    { method: 'GET', pattern: ['clock'], handler: () => sim.clock.state() },
    { method: 'POST', pattern: ['clock', 'advance'], handler: ({ body }) => sim.advance(body.ms as number) },
    {
      method: 'GET',
      pattern: ['log'],
      handler: ({ query }) => ({
        entries: sim.log.list({
          since: query.has('since') ? Number(query.get('since')) : undefined,
          limit: query.has('limit') ? Number(query.get('limit')) : undefined,
          kind: (query.get('kind') ?? undefined) as LogEntry['kind'] | undefined,
        }),
      }),
    },
  ];
}

function match(route: Route, segments: string[]): string[] | undefined {
  if (route.pattern.length !== segments.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const want = route.pattern[i]!;
    if (want.startsWith(':')) params.push(segments[i]!);
    else if (want !== segments[i]) return undefined;
  }
  return params;
}

async function readJson(req: IncomingMessage): Promise<Json> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON) throw new SimError('body_too_large', 'request body over 1 MB', 413);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SimError('invalid_json', 'request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SimError('invalid_json', 'request body must be a JSON object');
  }
  return parsed as Json;
}

export function controlHandler(
  sim: ExchangeSim,
  onError: (error: unknown) => void = () => {},
  baseUrl: () => string = () => '',
) {
  const table = routes(sim, baseUrl);
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> => {
    let status = 200;
    let payload: unknown;
    try {
      let segments: string[];
      try {
        segments = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
      } catch {
        throw new SimError('invalid_path', 'path is not valid percent-encoding');
      }
      const candidates = table.filter((r) => match(r, segments));
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        if (candidates.length > 0) {
          res.setHeader('Allow', candidates.map((r) => r.method).join(', '));
          throw new SimError('method_not_allowed', `${req.method} is not allowed here`, 405);
        }
        throw new SimError('not_found', `no control route ${url.pathname}`, 404);
      }
      const body = req.method === 'GET' || req.method === 'DELETE' ? {} : await readJson(req);
      payload = await route.handler({ params: match(route, segments)!, body, query: url.searchParams });
      status = route.status ?? 200;
    } catch (error) {
      if (error instanceof SimError) {
        status = error.status;
        payload = { error: { code: error.code, message: error.message } };
      } else {
        onError(error);
        status = 500;
        payload = { error: { code: 'internal', message: 'internal simulator error' } };
      }
    }
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(text);
    return status;
  };
}
