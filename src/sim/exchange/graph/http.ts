/**
 * The HTTP face of the Graph simulator, on the EWS simulator's port, at the real paths:
 * - `POST /{tenant}/oauth2/v2.0/token` (Entra ID v2.0 token endpoint, form-encoded)
 * - `GET /{tenant|common}/discovery/v2.0/keys`, `/common/discovery/keys` (JWKS) and
 *   `/{tenant|common}/v2.0/.well-known/openid-configuration`
 * - `/v1.0/subscriptions[/{id}[/reauthorize]]`, `/v1.0/{users/{id}|me}/messages/{id}`,
 *   `/v1.0/{users/{id}|me}/mailFolders('Inbox')` (and `/mailFolders/inbox`)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RingLog } from '../log.ts';
import { EntraError, entraErrorBody, GraphError, graphErrorBody } from './errors.ts';
import { GraphFaultError } from './faults.ts';
import type { GraphSim } from './index.ts';
import { parseUserPath } from './resources.ts';

const MAX_BODY = 1024 * 1024;
const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/i;
const KEYS_PATH = /^\/([^/]+)\/discovery(\/v2\.0)?\/keys$/i;
const OPENID_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i;

export function isGraphPath(path: string): boolean {
  return (
    /^\/v1\.0(\/|$)/i.test(path) || TOKEN_PATH.test(path) || KEYS_PATH.test(path) || OPENID_PATH.test(path)
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new GraphError(413, 'RequestEntityTooLarge', 'The request body is over 1 MB.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function graphHandler(graph: GraphSim, log: RingLog) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    const started = performance.now();
    let status = 200;
    let who: string | undefined;
    try {
      const base = `http://${req.headers.host ?? 'localhost'}`;
      const token = TOKEN_PATH.exec(path);
      const keys = KEYS_PATH.exec(path);
      const openid = OPENID_PATH.exec(path);
      if (token) {
        if (req.method !== 'POST')
          throw new EntraError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
        const type = String(req.headers['content-type'] ?? '');
        const text = await readBody(req);
        if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
          throw new EntraError(
            400,
            'invalid_request',
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
          );
        }
        const answer = await graph.entra.grant(token[1]!, new URLSearchParams(text), `${base}${path}`);
        who = `app:${new URLSearchParams(text).get('client_id')}`;
        send(res, 200, answer);
      } else if (keys) {
        send(res, 200, await graph.entra.jwks());
      } else if (openid) {
        const tenant = graph.entra.tenantId;
        send(res, 200, {
          token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
          jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
          issuer: `${base}/${tenant}/v2.0`,
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: [
            'client_secret_post',
            'private_key_jwt',
            'client_secret_basic',
          ],
          tenant_region_scope: 'EU',
        });
      } else {
        const caller = await graph.entra.authenticate(req.headers.authorization);
        who = caller.kind === 'app' ? `app:${caller.appId}` : `user:${caller.email}`;
        const fault = graph.faults.take(req.method ?? 'GET', path.replace(/^\/v1\.0/i, ''));
        if (fault) throw new GraphFaultError(fault);
        const text = req.method === 'GET' || req.method === 'DELETE' ? '' : await readBody(req);
        const body = text.trim() ? parseJson(text) : {};
        const result = await route(
          graph,
          caller,
          req.method ?? 'GET',
          path.replace(/^\/v1\.0/i, ''),
          url.searchParams,
          body,
        );
        status = result.status;
        send(res, result.status, result.body);
      }
    } catch (error) {
      if (error instanceof EntraError) {
        status = error.status;
        send(res, status, entraErrorBody(error, graph.now()));
      } else if (error instanceof GraphError) {
        status = error.status;
        const headers: Record<string, string> =
          status === 401
            ? {
                'WWW-Authenticate':
                  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
              }
            : error instanceof GraphFaultError && error.retryAfterSeconds !== undefined
              ? { 'Retry-After': String(error.retryAfterSeconds) }
              : {};
        send(res, status, graphErrorBody(error, graph.now(), headerOf(req, 'client-request-id')), headers);
      } else {
        status = 500;
        send(
          res,
          500,
          graphErrorBody(
            new GraphError(500, 'generalException', 'An internal simulator error occurred.'),
            graph.now(),
          ),
        );
        throw error;
      }
    } finally {
      log.add({
        time: new Date(graph.now()).toISOString(),
        kind: 'graph',
        method: req.method ?? '',
        url: path + url.search,
        status,
        auth: who,
        durationMs: Math.round(performance.now() - started),
      });
    }
  };
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new GraphError(
    400,
    'BadRequest',
    'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
  );
}

async function route(
  graph: GraphSim,
  caller: Awaited<ReturnType<GraphSim['entra']['authenticate']>>,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Record<string, unknown>,
): Promise<{ status: number; body?: unknown }> {
  const service = graph.service;
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  const notAllowed = () =>
    new GraphError(405, 'Request_BadRequest', `The ${method} method is not allowed here.`);
  if (segments[0]?.toLowerCase() === 'subscriptions') {
    const [, id, action] = segments;
    if (id === undefined) {
      if (method === 'POST') return { status: 201, body: await service.create(caller, body) };
      if (method === 'GET') return { status: 200, body: service.list(caller) };
      throw notAllowed();
    }
    if (action?.toLowerCase() === 'reauthorize' && segments.length === 3) {
      if (method !== 'POST') throw notAllowed();
      service.reauthorize(caller, id);
      return { status: 204 };
    }
    if (segments.length !== 2) throw unknownSegment(path);
    if (method === 'GET') return { status: 200, body: service.get(caller, id) };
    if (method === 'PATCH') return { status: 200, body: await service.update(caller, id, body) };
    if (method === 'DELETE') {
      service.delete(caller, id);
      return { status: 204 };
    }
    throw notAllowed();
  }
  const parsed = parseUserPath(path);
  if (!parsed) throw unknownSegment(path);
  const rest = parsed.rest;
  if (method !== 'GET') throw notAllowed();
  if (rest.length === 2 && rest[0] === 'messages') {
    return { status: 200, body: service.getMessage(caller, parsed.user, rest[1]!, query) };
  }
  if (rest.length === 4 && rest[0] === 'mailfolders' && rest[1] === 'inbox' && rest[2] === 'messages') {
    return { status: 200, body: service.getMessage(caller, parsed.user, rest[3]!, query) };
  }
  if (rest.length === 2 && rest[0] === 'mailfolders' && rest[1] === 'inbox') {
    return { status: 200, body: service.getInbox(caller, parsed.user) };
  }
  throw unknownSegment(path);
}

const unknownSegment = (path: string) =>
  new GraphError(
    400,
    'BadRequest',
    `Resource not found for the segment '${path.split('/').filter(Boolean).pop() ?? ''}'.`,
  );
