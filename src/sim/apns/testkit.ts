/** Helpers for the APNs simulator's tests: an HTTP/2 provider client, JWTs, HTTPS control calls. */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import https from 'node:https';
import { importPKCS8, SignJWT } from 'jose';
import type { ApnsKey, ApnsSimulator } from './index.ts';

export type GeneratedKey = ApnsKey & { privateKey: string };

export function deviceToken(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}

/** An APNs provider token; `iat: null` leaves the claim out, `iat` is seconds. */
export async function providerToken(
  key: GeneratedKey,
  claims: { iat?: number | null; iss?: string; kid?: string; alg?: 'ES256' | 'ES384' } = {},
): Promise<string> {
  const alg = claims.alg ?? 'ES256';
  const signer =
    claims.alg === 'ES384'
      ? generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey
      : await importPKCS8(key.privateKey, 'ES256');
  const jwt = new SignJWT({ iss: claims.iss ?? key.teamId }).setProtectedHeader({
    alg,
    kid: claims.kid ?? key.keyId,
  });
  if (claims.iat === undefined) jwt.setIssuedAt();
  else if (claims.iat !== null) jwt.setIssuedAt(claims.iat);
  return jwt.sign(signer);
}

export function connect(sim: ApnsSimulator, options: http2.SecureClientSessionOptions = {}) {
  const session = http2.connect(sim.url, { ca: sim.ca, ...options });
  session.on('error', () => {});
  return session;
}

export interface PushResult {
  status: number;
  headers: http2.IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when empty. */
  json: { reason?: string; timestamp?: number } | undefined;
  text: string;
}

export interface PushOptions {
  token?: string;
  path?: string;
  method?: string;
  jwt?: string;
  headers?: Record<string, string | string[]>;
  /** Default {"aps":{"alert":"hi"}}; a string is sent as is. */
  body?: unknown;
  topic?: string | null;
}

export function push(session: http2.ClientHttp2Session, options: PushOptions = {}): Promise<PushResult> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': options.method ?? 'POST',
      ':path': options.path ?? `/3/device/${options.token ?? deviceToken()}`,
      ...(options.jwt ? { authorization: `bearer ${options.jwt}` } : {}),
      ...(options.topic === null ? {} : { 'apns-topic': options.topic ?? 'com.example.app' }),
      ...options.headers,
    };
    const body = options.body === undefined ? { aps: { alert: 'hi' } } : options.body;
    const stream = session.request(headers);
    let status = 0;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      if (status === 0) {
        reject(new Error(`stream closed without a response (rst ${stream.rstCode})`));
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status, headers: responseHeaders, json: text ? JSON.parse(text) : undefined, text });
    });
    stream.on('error', reject);
    if (['GET', 'HEAD', 'DELETE'].includes(options.method ?? '')) {
      if (!stream.writableEnded) stream.end();
    } else stream.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
  });
}

/** A control API call over HTTP/1.1. */
export function control(
  sim: ApnsSimulator,
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers field by field
): Promise<{ status: number; text: string; headers: Record<string, unknown>; json: () => any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(
      `${sim.url}/sim${path}`,
      {
        method,
        ca: sim.ca,
        headers: data === undefined ? {} : { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, text, headers: res.headers, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

export function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) return resolve();
    session.close(() => resolve());
  });
}
