/**
 * The HTTP server: `POST /EWS/Exchange.asmx` (path matched case-insensitively, as IIS does),
 * Graph and Entra ID at their real paths, Autodiscover v2, and the control API under `/sim/`.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { authenticate, challenge } from './auth.ts';
import { autodiscoverHandler, isAutodiscoverPath } from './autodiscover.ts';
import { controlHandler } from './control.ts';
import { handleEws, operationOf } from './ews.ts';
import { graphHandler, isGraphPath } from './graph/http.ts';
import type { ExchangeSim } from './simulator.ts';
import { faultEnvelope } from './soap.ts';

export const EWS_PATH = '/EWS/Exchange.asmx';

/** Validates a received EWS request (the whole envelope); used to check clients against the schema. */
export type RequestValidator = (
  envelope: string,
  operation: string | undefined,
) => Promise<{ valid: boolean; errors: string[] }>;

export interface ServerOptions {
  validateRequests?: RequestValidator;
  log?: (line: string) => void;
}

const MAX_EWS_BODY = 4 * 1024 * 1024;

async function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function createSimServer(sim: ExchangeSim, options: ServerOptions = {}): http.Server {
  const control = controlHandler(
    sim,
    (error) => options.log?.(`control error: ${String(error)}`),
    () => sim.baseUrl,
  );
  const graph = graphHandler(sim.graph, sim.log);
  const autodiscover = autodiscoverHandler(sim, EWS_PATH);

  async function ews(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const time = new Date(sim.clock.now()).toISOString();
    const started = performance.now();
    const send = (status: number, body: string, headers: Record<string, string | string[]> = {}) => {
      res.writeHead(status, {
        ...(body ? { 'Content-Type': 'text/xml; charset=utf-8' } : {}),
        'Content-Length': Buffer.byteLength(body),
        'request-id': randomUUID(),
        ...headers,
      });
      res.end(body);
    };
    const body = await readBody(req, MAX_EWS_BODY);
    const entry = { time, kind: 'ews' as const, method: req.method ?? '', url: url.pathname + url.search };
    if (body === undefined) {
      send(413, '');
      sim.log.add({ ...entry, status: 413, error: 'request body too large' });
      return;
    }
    // IIS authenticates before EWS sees the request.
    const auth = authenticate(req.headers.authorization, sim.store);
    if (!auth.ok) {
      send(401, '', challenge(req.headers.host ?? 'localhost', auth));
      sim.log.add({ ...entry, status: 401, auth: auth.reason, requestBody: body });
      return;
    }
    if (req.method !== 'POST') {
      send(405, '', { Allow: 'POST' });
      sim.log.add({ ...entry, status: 405, auth: auth.who });
      return;
    }
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    if (!contentType.startsWith('text/xml')) {
      // EWS speaks SOAP 1.1 only, whose media type is text/xml.
      send(415, '');
      sim.log.add({
        ...entry,
        status: 415,
        auth: auth.who,
        requestBody: body,
        error: `content-type ${contentType}`,
      });
      return;
    }
    let status: number;
    let answer: string;
    let operation = operationOf(body);
    let after: (() => void) | undefined;
    const verdict = options.validateRequests ? await options.validateRequests(body, operation) : undefined;
    if (verdict && !verdict.valid) {
      status = 500;
      answer = faultEnvelope(
        'ErrorSchemaValidation',
        `The request failed schema validation: ${verdict.errors.join('; ')}`,
      );
    } else {
      try {
        const result = handleEws(body, {
          mailbox: auth.mailbox,
          store: sim.store,
          notifier: sim.notifier,
          clock: sim.clock,
        });
        ({ status, body: answer, after } = result);
        operation = result.operation ?? operation;
      } catch (error) {
        options.log?.(`EWS handler error: ${String(error)}`);
        status = 500;
        answer = faultEnvelope(
          'ErrorInternalServerError',
          'An internal server error occurred. The operation failed.',
        );
      }
    }
    send(status, answer);
    after?.();
    sim.log.add({
      ...entry,
      status,
      auth: auth.who,
      operation,
      requestBody: body,
      responseBody: answer,
      durationMs: Math.round(performance.now() - started),
    });
  }

  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const path = url.pathname;
    const handle =
      path.toLowerCase() === EWS_PATH.toLowerCase()
        ? ews(req, res, url)
        : isGraphPath(path)
          ? graph(req, res, url)
          : isAutodiscoverPath(path)
            ? autodiscover(req, res, url)
            : path === '/sim' || path.startsWith('/sim/')
              ? control(req, res, url).then((status) => {
                  sim.log.add({
                    time: new Date(sim.clock.now()).toISOString(),
                    kind: 'control',
                    method: req.method ?? '',
                    url: path + url.search,
                    status,
                  });
                })
              : Promise.resolve().then(() => {
                  const text = JSON.stringify({
                    error: { code: 'not_found', message: `nothing at ${path}` },
                  });
                  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
                  res.end(text);
                });
    handle.catch((error: unknown) => {
      options.log?.(`request failed: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
}
