/**
 * Helpers for the Graph simulator's tests: a webhook receiver (validation handshake and
 * notifications, with scripted answers), a self-signed RSA certificate, token and Graph calls.
 */
import 'reflect-metadata';
import { createPrivateKey, type KeyObject, webcrypto } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import type { ExchangeSimulator } from '../index.ts';

export type Reply = { status: number; body?: string; type?: string } | 'echo' | 'hang';

export interface Hit {
  path: string;
  validationToken?: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read notification JSON field by field
  json?: any;
  headers: http.IncomingHttpHeaders;
}

/** A webhook endpoint: answers validation requests by echoing the token, notifications with 202. */
export async function startWebhook() {
  const hits: Hit[] = [];
  let waiting: Array<() => void> = [];
  let reply: (hit: Hit, n: number) => Reply = (hit) =>
    hit.validationToken !== undefined ? 'echo' : { status: 202 };
  const hung = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const text = Buffer.concat(chunks).toString('utf8');
      const hit: Hit = {
        path: url.pathname,
        validationToken: url.searchParams.get('validationToken') ?? undefined,
        json: text ? JSON.parse(text) : undefined,
        headers: req.headers,
      };
      hits.push(hit);
      const answer = reply(hit, hits.length);
      const wake = waiting;
      waiting = [];
      for (const check of wake) check();
      if (answer === 'hang') {
        hung.add(res);
        return;
      }
      if (answer === 'echo') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(hit.validationToken);
        return;
      }
      res.writeHead(answer.status, { 'Content-Type': answer.type ?? 'text/plain' });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/notify?tenant=t1`,
    lifecycleUrl: `${base}/lifecycle`,
    hits,
    notifications: (path = '/notify') =>
      hits.filter((h) => h.path === path && h.validationToken === undefined),
    /** Resolves once `predicate` holds (checked at each request). */
    until(predicate: () => boolean): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const check = () => (predicate() ? resolve() : waiting.push(check));
        waiting.push(check);
      });
    },
    answer(fn: (hit: Hit, n: number) => Reply) {
      reply = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A self-signed RSA-2048 certificate and its private key. */
export async function rsaCertificate(): Promise<{ pem: string; der: Buffer; key: KeyObject }> {
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=herald graph test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: algorithm,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    pem: cert.toString('pem'),
    der: Buffer.from(cert.rawData),
    key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
  };
}

export async function token(
  sim: ExchangeSimulator,
  form: Record<string, string>,
  tenant = sim.graph.tenantId,
) {
  const response = await fetch(`${sim.url}/${tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers field by field
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

export async function appToken(sim: ExchangeSimulator, clientId: string, secret: string): Promise<string> {
  const { status, json } = await token(sim, {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: secret,
    scope: 'https://graph.microsoft.com/.default',
  });
  if (status !== 200) throw new Error(`token: ${status} ${JSON.stringify(json)}`);
  return json.access_token as string;
}

export async function graph(
  sim: ExchangeSimulator,
  bearer: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const response = await fetch(`${sim.graph.graphUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers field by field
  return { status: response.status, json: (text ? JSON.parse(text) : undefined) as Record<string, any> };
}

export async function control(sim: ExchangeSimulator, method: string, path: string, body?: unknown) {
  const response = await fetch(`${sim.url}/sim${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers field by field
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

export const inMinutes = (sim: ExchangeSimulator, minutes: number) =>
  new Date(sim.now() + minutes * 60_000).toISOString();
