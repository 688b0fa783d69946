/**
 * The HTTP(S) server: Google's token endpoint at `/token`, FCM's
 * `POST /v1/projects/{projectId}/messages:send` and the control API under `/sim/`. Every body is
 * capped at 1 MiB (413); a request over the cap is answered at once and the rest of its body is
 * drained, then the connection closed.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import { controlHandler, MAX_CONTROL_BODY } from './control.ts';
import { rpcError } from './errors.ts';
import type { FcmSim } from './simulator.ts';

export const TOKEN_PATH = '/token';
export const MAX_BODY = 1024 * 1024;
/** Bytes of an oversized body we keep reading (and discarding) so the client sees the 413. */
const MAX_DRAIN = 16 * 1024 * 1024;
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;

export interface ServerOptions {
  tls?: { cert: string; key: string };
  responseDelayMs?: number;
  log?: (line: string) => void;
  /** Aborted on close: cancels delayed answers. */
  signal: AbortSignal;
}

/** The whole body, or undefined when it is over `limit` (the rest is drained in the background). */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (over) {
        if (size > limit + MAX_DRAIN) req.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      if (!over) reject(error);
    });
    req.on('close', () => {
      if (!over && !req.complete) reject(new Error('request aborted'));
    });
  });
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function tokenParams(req: http.IncomingMessage, body: string): Record<string, unknown> | undefined {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
  const form = new URLSearchParams(body);
  const params: Record<string, unknown> = {};
  for (const key of new Set(form.keys())) params[key] = form.get(key);
  return params;
}

const NO_STORE = {
  'Cache-Control': 'no-cache, no-store, max-age=0, must-revalidate',
  Pragma: 'no-cache',
};

export function createFcmServer(sim: FcmSim, options: ServerOptions): http.Server | https.Server {
  const control = controlHandler(sim, (error) => options.log?.(`fcm control error: ${String(error)}`));

  async function token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      sendJson(
        res,
        405,
        {
          error: 'invalid_request',
          error_description: `${req.method} is not supported; POST the token request`,
        },
        { Allow: 'POST', ...NO_STORE },
      );
      return;
    }
    const body = await readBody(req, MAX_BODY);
    if (body === undefined) {
      sendJson(
        res,
        413,
        { error: 'invalid_request', error_description: `request body over ${MAX_BODY} bytes` },
        { Connection: 'close', ...NO_STORE },
      );
      return;
    }
    const params = tokenParams(req, body);
    if (!params) {
      sendJson(
        res,
        400,
        { error: 'invalid_request', error_description: 'Invalid JSON payload received.' },
        NO_STORE,
      );
      return;
    }
    const result = await sim.token(params);
    sendJson(res, result.status, result.body, NO_STORE);
  }

  async function send(req: http.IncomingMessage, res: http.ServerResponse, projectId: string): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      const error = rpcError(404, 'NOT_FOUND', 'Method not found.');
      sendJson(res, error.httpStatus, error.body);
      return;
    }
    const body = await readBody(req, MAX_BODY);
    if (body === undefined) {
      options.log?.(`fcm send ${projectId} → 413 (body over ${MAX_BODY} bytes)`);
      const error = rpcError(
        413,
        'INVALID_ARGUMENT',
        `Request payload size exceeds the limit: ${MAX_BODY} bytes.`,
      );
      sendJson(res, error.httpStatus, error.body, { Connection: 'close' });
      return;
    }
    const answer = sim.send(projectId, req.headers.authorization, body);
    if (options.responseDelayMs) {
      try {
        await delay(options.responseDelayMs, undefined, { signal: options.signal });
      } catch {
        res.destroy();
        return;
      }
    }
    sendJson(res, answer.status, answer.body, answer.headers);
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let url: URL;
    try {
      const raw = req.url ?? '/';
      url = new URL(`http://sim.invalid${raw.startsWith('/') ? raw : `/${raw}`}`);
    } catch {
      req.resume();
      sendJson(res, 400, {
        error: { code: 400, message: 'malformed request target', status: 'INVALID_ARGUMENT' },
      });
      return;
    }
    const path = url.pathname;
    let work: Promise<unknown>;
    if (path === TOKEN_PATH) work = token(req, res);
    else if (path === '/sim' || path.startsWith('/sim/')) {
      work = readBody(req, MAX_CONTROL_BODY).then((body) => control(req, res, url, body));
    } else {
      let projectId: string | undefined;
      try {
        const match = SEND_PATH.exec(decodeURIComponent(path));
        projectId = match?.[1];
      } catch {
        projectId = undefined;
      }
      if (projectId !== undefined) work = send(req, res, projectId);
      else {
        req.resume();
        const error = rpcError(
          404,
          'NOT_FOUND',
          `The requested URL ${path.slice(0, 200)} was not found on this server.`,
        );
        sendJson(res, error.httpStatus, error.body);
        return;
      }
    }
    work.catch((error: unknown) => {
      // A client that went away mid-body is not worth a line.
      if (req.destroyed && !req.complete) {
        res.destroy();
        return;
      }
      options.log?.(`fcm request failed: ${String(error)}`);
      if (res.headersSent) res.destroy();
      else if (!res.destroyed)
        sendJson(res, 500, {
          error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' },
        });
    });
  };

  return options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : http.createServer(handler);
}
