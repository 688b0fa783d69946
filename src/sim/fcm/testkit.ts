/**
 * Test helpers for the simulator's own tests: JWT assertions signed with jose exactly as a
 * Google client library signs them, and small fetch wrappers. Not used by the simulator itself.
 */
import { importPKCS8, SignJWT } from 'jose';
import type { FcmSimulator, ServiceAccount } from './index.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Shaped like a real registration token: instance id, colon, APA91b… */
export const TOKEN_A = `cDf3Xn0qRkW9vYy2Lm8pQa:APA91bH${'a1B2c3D4e5F6'.repeat(11)}`;
export const TOKEN_B = `eHj7Kp2sTuV4wXz6Ab9cDe:APA91bG${'Z9y8X7w6V5u4'.repeat(11)}`;

/** A settable clock for the `now` option. */
export function testClock(start = Date.UTC(2030, 0, 1)) {
  const clock = { t: start, now: () => clock.t, advance: (ms: number) => (clock.t += ms) };
  return clock;
}

export interface AssertionOptions {
  /** Epoch ms the client believes it is. */
  now: number;
  iss?: string;
  aud?: unknown;
  /** null = leave the claim out. */
  scope?: string | null;
  iat?: number | null;
  exp?: number | null;
  /** null = no kid header. */
  kid?: string | null;
  /** Sign with this PEM instead of the account's private_key. */
  privateKey?: string;
}

/** The JWT a Google client library posts to token_uri for a service account. */
export async function assertion(sa: ServiceAccount, options: AssertionOptions): Promise<string> {
  const key = await importPKCS8(options.privateKey ?? sa.private_key, 'RS256');
  const iat = Math.floor(options.now / 1000);
  const payload: Record<string, unknown> = {
    iss: options.iss ?? sa.client_email,
    aud: options.aud ?? sa.token_uri,
    scope: options.scope === undefined ? FCM_SCOPE : options.scope,
    iat: options.iat === undefined ? iat : options.iat,
    exp: options.exp === undefined ? iat + 3600 : options.exp,
  };
  for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
  const kid = options.kid === undefined ? sa.private_key_id : options.kid;
  return new SignJWT(payload)
    .setProtectedHeader(kid === null ? { alg: 'RS256', typ: 'JWT' } : { alg: 'RS256', typ: 'JWT', kid })
    .sign(key);
}

// biome-ignore lint/suspicious/noExplicitAny: the tests read arbitrary JSON answers field by field
export type AnyJson = Record<string, any>;

export async function postToken(
  sim: FcmSimulator,
  params: Record<string, string>,
  as: 'form' | 'json' = 'form',
): Promise<{ status: number; json: AnyJson; headers: Headers }> {
  const response = await fetch(sim.tokenUri, {
    method: 'POST',
    headers: { 'Content-Type': as === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: as === 'form' ? new URLSearchParams(params).toString() : JSON.stringify(params),
  });
  return { status: response.status, json: (await response.json()) as AnyJson, headers: response.headers };
}

export async function accessToken(sim: FcmSimulator, sa: ServiceAccount, now: number): Promise<string> {
  const { status, json } = await postToken(sim, {
    grant_type: JWT_BEARER,
    assertion: await assertion(sa, { now }),
  });
  if (status !== 200) throw new Error(`token request failed: ${status} ${JSON.stringify(json)}`);
  return json.access_token as string;
}

/** POST messages:send; `body` objects are JSON-encoded, strings sent as they are. */
export async function send(
  sim: FcmSimulator,
  projectId: string,
  bearer: string | undefined,
  body: unknown,
): Promise<{ status: number; json: AnyJson; headers: Headers }> {
  const response = await fetch(`${sim.url}/v1/projects/${projectId}/messages:send`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json; charset=UTF-8',
      ...(bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as AnyJson, headers: response.headers };
}
