/**
 * OAuth 2.0 access tokens for a Google service account: the JWT-bearer grant (RFC 7523; Google,
 * "Using OAuth 2.0 for Server to Server Applications"). The assertion is RS256-signed with the
 * account's private key and POSTed to the account's own `token_uri` (honoured, not assumed, so
 * tests and private deployments can point it elsewhere).
 *
 * One token per account, cached until shortly before it expires; callers that need one while it
 * is being fetched share that fetch.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Dispatcher } from 'undici';
import { parseRetryAfter } from '../common.ts';
import { type PostedResponse, parseJson, post, transportReason } from '../http.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google issues assertions' and tokens' lifetimes in hours; an assertion may live one hour. */
const ASSERTION_LIFETIME_SECONDS = 3600;
const MAX_REFRESH_MARGIN_MS = 5 * 60_000;

/** The fields of a Google service-account JSON key file that Herald uses. */
export interface ServiceAccount {
  project_id: string;
  private_key: string;
  private_key_id: string;
  client_email: string;
  token_uri: string;
}

const REQUIRED_FIELDS = ['project_id', 'private_key', 'private_key_id', 'client_email', 'token_uri'] as const;

/** Checks a parsed key file; throws an Error naming what is wrong (never the key itself). */
export function parseServiceAccount(value: unknown): ServiceAccount {
  if (typeof value !== 'object' || value === null) throw new Error('not a JSON object');
  const record = value as Record<string, unknown>;
  if (record.type !== undefined && record.type !== 'service_account') {
    throw new Error(`type is "${String(record.type)}", expected "service_account"`);
  }
  for (const field of REQUIRED_FIELDS) {
    if (typeof record[field] !== 'string' || record[field] === '') throw new Error(`${field} is missing`);
  }
  const tokenUri = record.token_uri as string;
  if (!URL.canParse(tokenUri) || !/^https?:$/.test(new URL(tokenUri).protocol)) {
    throw new Error('token_uri is not an http(s) URL');
  }
  return {
    project_id: record.project_id as string,
    private_key: record.private_key as string,
    private_key_id: record.private_key_id as string,
    client_email: record.client_email as string,
    token_uri: tokenUri,
  };
}

/** The account's RSA private key; throws if it is not one. */
export function serviceAccountKey(account: ServiceAccount): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(account.private_key);
  } catch {
    throw new Error('private_key is not a PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new Error('private_key is not an RSA key');
  return key;
}

/** Why no token could be had; `retryable` tells a passing outage from a broken credential. */
export class AccessTokenError extends Error {
  readonly retryable: boolean;
  readonly reason: string;
  readonly retryAfterMs: number | undefined;

  constructor(reason: string, retryable: boolean, retryAfterMs?: number) {
    super(`access token unavailable: ${reason}`);
    this.name = 'AccessTokenError';
    this.reason = reason;
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface GoogleAccessTokens {
  /** A valid access token (cached, or fetched now). Rejects with AccessTokenError. */
  get(): Promise<string>;
  /** FCM refused `token` (401): forget it, so the next get() fetches a new one. */
  invalidate(token: string): void;
  stats(): { fetched: number; failed: number };
}

export interface GoogleAccessTokensOptions {
  account: ServiceAccount;
  /** Parsed once by the caller; derived from the account when absent. */
  privateKey?: KeyObject;
  dispatcher: Dispatcher;
  /** Epoch ms; tests inject a clock. */
  now?: () => number;
  timeoutMs?: number;
  scope?: string;
}

interface Cached {
  token: string;
  /** Epoch ms after which a new token is fetched (before the real expiry). */
  refreshAt: number;
}

export function createGoogleAccessTokens(options: GoogleAccessTokensOptions): GoogleAccessTokens {
  const { account, dispatcher } = options;
  const key = options.privateKey ?? serviceAccountKey(account);
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const scope = options.scope ?? FCM_SCOPE;
  let cached: Cached | undefined;
  let inFlight: Promise<string> | undefined;
  let fetched = 0;
  let failed = 0;

  async function fetchToken(): Promise<string> {
    const started = now();
    const iat = Math.floor(started / 1000);
    const assertion = await new SignJWT({ scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: account.private_key_id })
      .setIssuer(account.client_email)
      .setAudience(account.token_uri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
    let response: PostedResponse;
    try {
      response = await post(account.token_uri, {
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString(),
        dispatcher,
        timeoutMs,
      });
    } catch (err) {
      throw new AccessTokenError(`oauth_${transportReason(err)}`, true);
    }
    const { status, text, retryAfter } = response;
    const body = parseJson(text) as
      | { access_token?: unknown; expires_in?: unknown; error?: unknown }
      | undefined;
    if (status === 200 && typeof body?.access_token === 'string' && body.access_token !== '') {
      const ttlMs =
        (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600) * 1000;
      // Refresh 5 minutes early, or 10% early for short-lived tokens, so no send races expiry.
      cached = {
        token: body.access_token,
        refreshAt: started + ttlMs - Math.min(MAX_REFRESH_MARGIN_MS, ttlMs / 10),
      };
      fetched += 1;
      return body.access_token;
    }
    const error = typeof body?.error === 'string' ? body.error : `http_${status}`;
    if (status === 429 || status >= 500) {
      throw new AccessTokenError(`oauth_${error}`, true, parseRetryAfter(retryAfter, now()));
    }
    // 400 invalid_grant (revoked key, skewed clock), 401 invalid_client...: an operator must act.
    throw new AccessTokenError(`oauth_${error}`, false);
  }

  return {
    get() {
      if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
      inFlight ??= fetchToken()
        .catch((err: unknown) => {
          failed += 1;
          throw err;
        })
        .finally(() => {
          inFlight = undefined;
        });
      return inFlight;
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
    stats: () => ({ fetched, failed }),
  };
}
