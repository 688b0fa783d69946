/**
 * App-only access tokens for Microsoft Graph: the OAuth 2.0 client credentials grant against
 * `{authorityHost}/{tenantId}/oauth2/v2.0/token` (Microsoft identity platform, "OAuth 2.0
 * client credentials flow"), authenticated with a client secret or with a certificate
 * ("Microsoft identity platform application authentication certificate credentials": a JWT
 * client assertion signed with the certificate's key, header `x5t#S256` (and `x5t` for RS256),
 * claims aud = the token URL, iss = sub = the client id, jti, nbf, exp of at most 10 minutes).
 *
 * The token is cached until shortly before `expires_in`; concurrent callers share one request;
 * `invalidate(token)` (the Graph client calls it after a 401) makes the next call fetch a new one.
 */
import { createHash, createPrivateKey, type KeyObject, randomUUID, X509Certificate } from 'node:crypto';
import { SignJWT } from 'jose';
import { GraphAuthError, type GraphAuthReason, GraphRequestError } from './errors.ts';
import { baseUrl, checkHttpOptions, type HttpOptions, send } from './http.ts';

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
export const GRAPH_DEFAULT_SCOPE = 'https://graph.microsoft.com/.default';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ASSERTION_LIFETIME_S = 300;
/** Refresh this long before expiry (or at half the lifetime for short-lived tokens). */
const DEFAULT_REFRESH_SKEW_MS = 5 * 60_000;
const TENANT = /^[A-Za-z0-9.-]{1,256}$/;

/** Something that hands out bearer tokens for Graph. */
export interface GraphTokenProvider {
  getToken(): Promise<string>;
  /** Forget `token` (Graph refused it with a 401); the next getToken fetches a fresh one. */
  invalidate?(token: string): void;
}

export type ClientCredential =
  | { type: 'secret'; secret: string }
  | {
      type: 'certificate';
      /** PEM of the certificate registered on the app (its DER gives the thumbprints). */
      certificate: string;
      /** PEM (PKCS#8 or PKCS#1) or a KeyObject of its private key. */
      privateKey: string | KeyObject;
      /** Default PS256 (x5t#S256); RS256 also sends x5t (SHA-1 thumbprint). */
      algorithm?: 'RS256' | 'PS256';
    };

export interface ClientCredentialsOptions extends HttpOptions {
  tenantId: string;
  clientId: string;
  credential: ClientCredential;
  /** Default https://login.microsoftonline.com (national clouds and the simulator differ). */
  authorityHost?: string;
  /** Default https://graph.microsoft.com/.default */
  scope?: string;
  /** Clock for the assertion and the cache, epoch ms (default Date.now). */
  now?: () => number;
  refreshSkewMs?: number;
}

interface Cached {
  token: string;
  refreshAt: number;
}

/** AADSTS numbers → what went wrong, in words an administrator acts on. */
const AADSTS: Record<number, [GraphAuthReason, string]> = {
  7000215: ['invalid_secret', 'the client secret is wrong (use the secret value, not its id)'],
  7000222: ['expired_secret', 'the client secret has expired'],
  7000218: ['invalid_request', 'neither a client secret nor a client assertion was sent'],
  700016: ['unknown_app', 'the application (client id) is not known in this tenant'],
  90002: ['unknown_tenant', 'the tenant is not known'],
  900023: ['unknown_tenant', 'the tenant id is not valid'],
  700027: ['certificate_not_registered', 'the certificate is not registered on the application'],
  700024: ['assertion_rejected', 'the client assertion is expired or has the wrong audience'],
  700021: ['assertion_rejected', 'the client assertion has the wrong issuer'],
  50027: ['assertion_rejected', 'the client assertion is malformed'],
  5002738: ['assertion_rejected', 'the client assertion uses an unsupported algorithm'],
  70011: ['invalid_scope', 'the scope is not valid (app-only tokens need …/.default)'],
  1002012: ['invalid_scope', 'the scope is not valid (app-only tokens need …/.default)'],
  900144: ['invalid_request', 'a required parameter is missing'],
};

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Map an Entra token-endpoint error body onto a GraphAuthError. */
export function entraError(status: number, body: unknown, clientId: string): GraphAuthError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const error = str(b.error);
  const codes = Array.isArray(b.error_codes) ? b.error_codes.filter((c) => Number.isSafeInteger(c)) : [];
  const known = codes.map((c) => AADSTS[c as number]).find(Boolean);
  const reason: GraphAuthReason =
    known?.[0] ??
    (error === 'invalid_client'
      ? 'invalid_secret'
      : error === 'unauthorized_client'
        ? 'unknown_app'
        : error === 'invalid_tenant'
          ? 'unknown_tenant'
          : error === 'invalid_scope'
            ? 'invalid_scope'
            : error === 'invalid_request'
              ? 'invalid_request'
              : 'refused');
  const code = codes.length ? ` (AADSTS${codes.join(', AADSTS')})` : '';
  const what = known?.[1] ?? `Entra ID answered ${error ?? `HTTP ${status}`}`;
  return new GraphAuthError(reason, `Entra ID refused a token for app ${clientId}: ${what}${code}`, {
    status,
    error,
    errorCodes: codes as number[],
    traceId: str(b.trace_id),
    correlationId: str(b.correlation_id),
  });
}

export class ClientCredentialsTokenSource implements GraphTokenProvider {
  readonly tokenUrl: string;
  readonly #options: ClientCredentialsOptions;
  readonly #now: () => number;
  readonly #skew: number;
  readonly #key: KeyObject | undefined;
  readonly #header: Record<string, string> | undefined;
  #cached: Cached | undefined;
  #pending: Promise<Cached> | undefined;
  /** Token requests sent (for metrics and tests). */
  requests = 0;

  constructor(options: ClientCredentialsOptions) {
    checkHttpOptions(options);
    if (!TENANT.test(options.tenantId)) throw new TypeError('tenantId must be a GUID or a domain name');
    if (typeof options.clientId !== 'string' || !/^[\x21-\x7E]{1,256}$/.test(options.clientId)) {
      throw new TypeError('clientId must be a non-empty printable string');
    }
    const authority = baseUrl(options.authorityHost ?? DEFAULT_AUTHORITY_HOST, 'authorityHost');
    this.tokenUrl = `${authority}/${options.tenantId}/oauth2/v2.0/token`;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#skew = options.refreshSkewMs ?? DEFAULT_REFRESH_SKEW_MS;
    const credential = options.credential;
    if (credential.type === 'secret') {
      if (typeof credential.secret !== 'string' || !credential.secret) {
        throw new TypeError('the client secret must be a non-empty string');
      }
    } else if (credential.type === 'certificate') {
      let der: Buffer;
      try {
        der = new X509Certificate(credential.certificate).raw;
        this.#key =
          typeof credential.privateKey === 'string'
            ? createPrivateKey(credential.privateKey)
            : credential.privateKey;
      } catch (cause) {
        throw new TypeError('the certificate credential needs a PEM certificate and its private key', {
          cause,
        });
      }
      if (this.#key.asymmetricKeyType !== 'rsa') throw new TypeError('the certificate key must be RSA');
      const alg = credential.algorithm ?? 'PS256';
      this.#header = {
        alg,
        typ: 'JWT',
        'x5t#S256': createHash('sha256').update(der).digest('base64url'),
        ...(alg === 'RS256' ? { x5t: createHash('sha1').update(der).digest('base64url') } : {}),
      };
    } else {
      throw new TypeError('credential.type must be secret or certificate');
    }
  }

  async getToken(): Promise<string> {
    const cached = this.#cached;
    if (cached && this.#now() < cached.refreshAt) return cached.token;
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return (await this.#pending).token;
  }

  invalidate(token: string): void {
    if (this.#cached?.token === token) this.#cached = undefined;
  }

  async #assertion(): Promise<string> {
    const now = Math.floor(this.#now() / 1000);
    return new SignJWT({})
      .setProtectedHeader(this.#header as { alg: string })
      .setAudience(this.tokenUrl)
      .setIssuer(this.#options.clientId)
      .setSubject(this.#options.clientId)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ASSERTION_LIFETIME_S)
      .sign(this.#key!);
  }

  async #fetch(): Promise<Cached> {
    const { clientId, credential } = this.#options;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      scope: this.#options.scope ?? GRAPH_DEFAULT_SCOPE,
    });
    if (credential.type === 'secret') form.set('client_secret', credential.secret);
    else {
      form.set('client_assertion_type', JWT_BEARER);
      form.set('client_assertion', await this.#assertion());
    }
    this.requests++;
    const started = this.#now();
    let answer: Awaited<ReturnType<typeof send>>;
    try {
      answer = await send(this.#options, {
        method: 'POST',
        url: this.tokenUrl,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      });
    } catch (cause) {
      const code = cause instanceof GraphRequestError ? cause.code : 'network';
      throw new GraphAuthError(
        code === 'network' || code === 'timeout' ? 'unreachable' : 'invalid_response',
        `the token endpoint could not be used (${code})`,
        { cause },
      );
    }
    if (answer.status !== 200) throw entraError(answer.status, answer.json, clientId);
    const body = (answer.json ?? {}) as Record<string, unknown>;
    const token = body.access_token;
    const expiresIn = Number(body.expires_in);
    if (
      typeof token !== 'string' ||
      !/^[\x21-\x7E]{1,16384}$/.test(token) ||
      String(body.token_type).toLowerCase() !== 'bearer' ||
      !Number.isFinite(expiresIn) ||
      expiresIn <= 0
    ) {
      throw new GraphAuthError(
        'invalid_response',
        'the token endpoint answered without a usable Bearer token',
        {
          status: answer.status,
        },
      );
    }
    const lifetime = expiresIn * 1000;
    const cached = { token, refreshAt: started + lifetime - Math.min(this.#skew, lifetime / 2) };
    this.#cached = cached;
    return cached;
  }
}

/** A delegated access token the device sent: used as is, never refreshed here. */
export function staticToken(accessToken: string): GraphTokenProvider {
  if (typeof accessToken !== 'string' || !/^[\x21-\x7E]{1,16384}$/.test(accessToken)) {
    throw new GraphAuthError('invalid_request', 'the delegated access token is empty or not printable ASCII');
  }
  return { getToken: async () => accessToken };
}
