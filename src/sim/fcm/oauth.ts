/**
 * Google's OAuth 2.0 token endpoint for service accounts ("Using OAuth 2.0 for Server to Server
 * Applications"): the client signs a JWT (RS256, `kid` = private_key_id) with claims iss =
 * client_email, scope, aud = token_uri, iat and exp (at most one hour apart) and posts it as
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT`; the answer is
 * `{"access_token", "expires_in", "token_type": "Bearer"}` or 400 `{"error", "error_description"}`
 * with Google's descriptions.
 *
 * Access tokens are opaque (`ya29.` + random) and remembered here with their account, project and
 * expiry; `revokeAll` forgets them.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { compactVerify, decodeJwt, decodeProtectedHeader } from 'jose';
import { type ApiError, credentialsMissing, invalidCredentials, permissionDenied } from './errors.ts';
import type { ServiceAccount } from './types.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const FCM_SCOPES = [
  'https://www.googleapis.com/auth/firebase.messaging',
  'https://www.googleapis.com/auth/cloud-platform',
] as const;

/** Seconds an assertion's iat may lie in the future (clock skew between client and Google). */
export const IAT_SKEW_SECONDS = 60;
const MAX_LIFETIME_SECONDS = 3600;
const MAX_ACCOUNTS = 10_000;
const MAX_KEYS_PER_ACCOUNT = 10;
const MAX_LIVE_TOKENS = 100_000;

const SHORT_LIVED =
  'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.';
const BAD_SIGNATURE = 'Invalid JWT Signature.';
const NO_ACCOUNT = 'Invalid grant: account not found';

const PROJECT_ID = /^[a-z0-9][a-z0-9.:-]{0,99}$/;
const EMAIL = /^[^@\s/]{1,64}@[^@\s/]{1,189}$/;

interface Account {
  projectId: string;
  clientEmail: string;
  keys: Map<string, KeyObject>;
}

interface AccessToken {
  clientEmail: string;
  projectId: string;
  expiresAt: number;
}

export interface GrantResult {
  status: number;
  body: Record<string, unknown>;
  clientEmail: string | undefined;
  error: string | undefined;
  errorDescription: string | undefined;
  reason: string | undefined;
}

export type AuthResult =
  | { ok: true; clientEmail: string }
  | { ok: false; error: ApiError; clientEmail: string | undefined };

/** Bad input to createServiceAccount/addServiceAccount (the control API answers 400). */
export class InputError extends Error {
  override name = 'InputError';
}

function randomDigits(n: number): string {
  let out = String(1 + (randomBytes(1)[0]! % 9));
  while (out.length < n) out += String(randomBytes(1)[0]! % 10);
  return out;
}

function randomLower(n: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');
}

function publicKeyOf(pem: string): KeyObject {
  let key: KeyObject;
  try {
    if (pem.includes('-----BEGIN CERTIFICATE-----')) key = new X509Certificate(pem).publicKey;
    else if (pem.includes('PRIVATE KEY-----')) key = createPublicKey(createPrivateKey(pem));
    else key = createPublicKey(pem);
  } catch (error) {
    throw new InputError(`publicKey is not a PEM public key, certificate or private key: ${String(error)}`);
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new InputError(
      `publicKey must be an RSA key (service accounts sign RS256), not ${key.asymmetricKeyType}`,
    );
  }
  return key;
}

export class OAuthServer {
  readonly #accounts = new Map<string, Account>();
  readonly #tokens = new Map<string, AccessToken>();
  readonly #now: () => number;
  readonly #ttlSeconds: number;
  tokenUri = '';

  constructor(options: { now: () => number; ttlSeconds: number }) {
    this.#now = options.now;
    this.#ttlSeconds = options.ttlSeconds;
  }

  createServiceAccount(input: { projectId?: string; clientEmail?: string } = {}): ServiceAccount {
    const projectId = input.projectId ?? 'herald-sim';
    const clientEmail =
      input.clientEmail ?? `firebase-adminsdk-${randomLower(5)}@${projectId}.iam.gserviceaccount.com`;
    this.#checkIdentity(projectId, clientEmail);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKeyId = randomBytes(20).toString('hex');
    this.#register(projectId, clientEmail, privateKeyId, publicKey);
    return {
      type: 'service_account',
      project_id: projectId,
      private_key_id: privateKeyId,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      client_email: clientEmail,
      client_id: randomDigits(21),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: this.tokenUri,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
      universe_domain: 'googleapis.com',
    };
  }

  /** Accept assertions signed by an existing key (PEM SPKI public key, X.509 certificate or private key). */
  addServiceAccount(input: {
    projectId: string;
    clientEmail: string;
    privateKeyId: string;
    publicKey: string;
  }): void {
    if (typeof input !== 'object' || input === null) throw new InputError('expected an object');
    const { projectId, clientEmail, privateKeyId, publicKey } = input;
    if (typeof projectId !== 'string' || typeof clientEmail !== 'string') {
      throw new InputError('projectId and clientEmail must be strings');
    }
    this.#checkIdentity(projectId, clientEmail);
    if (typeof privateKeyId !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(privateKeyId)) {
      throw new InputError('privateKeyId must be 1-128 characters of A-Z a-z 0-9 _ . -');
    }
    if (typeof publicKey !== 'string') throw new InputError('publicKey must be a PEM string');
    this.#register(projectId, clientEmail, privateKeyId, publicKeyOf(publicKey));
  }

  #checkIdentity(projectId: unknown, clientEmail: unknown): void {
    if (typeof projectId !== 'string' || !PROJECT_ID.test(projectId)) {
      throw new InputError('projectId must be a Google project id (lowercase letters, digits, -, . and :)');
    }
    if (typeof clientEmail !== 'string' || !EMAIL.test(clientEmail)) {
      throw new InputError('clientEmail must be an email address');
    }
    const existing = this.#accounts.get(clientEmail);
    if (existing && existing.projectId !== projectId) {
      throw new InputError(`${clientEmail} already belongs to project ${existing.projectId}`);
    }
  }

  #register(projectId: string, clientEmail: string, kid: string, key: KeyObject): void {
    let account = this.#accounts.get(clientEmail);
    if (!account) {
      if (this.#accounts.size >= MAX_ACCOUNTS)
        throw new InputError(`at most ${MAX_ACCOUNTS} service accounts`);
      account = { projectId, clientEmail, keys: new Map() };
      this.#accounts.set(clientEmail, account);
    }
    if (!account.keys.has(kid) && account.keys.size >= MAX_KEYS_PER_ACCOUNT) {
      throw new InputError(`at most ${MAX_KEYS_PER_ACCOUNT} keys per service account`);
    }
    account.keys.set(kid, key);
  }

  /** POST /token with the form (or JSON) parameters. */
  async grant(params: Record<string, unknown>): Promise<GrantResult> {
    const fail = (
      error: string,
      errorDescription: string,
      reason: string,
      clientEmail?: string,
    ): GrantResult => ({
      status: 400,
      body: { error, error_description: errorDescription },
      clientEmail,
      error,
      errorDescription,
      reason,
    });

    const grantType = params.grant_type;
    if (typeof grantType !== 'string' || grantType === '') {
      return fail('invalid_request', 'Required parameter is missing: grant_type', 'no grant_type');
    }
    if (grantType !== JWT_BEARER) {
      return fail(
        'unsupported_grant_type',
        `Invalid grant_type: ${grantType.slice(0, 200)}`,
        'grant_type is not jwt-bearer',
      );
    }
    const assertion = params.assertion;
    if (typeof assertion !== 'string' || assertion === '') {
      return fail('invalid_request', 'Required parameter is missing: assertion', 'no assertion');
    }

    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch (error) {
      return fail(
        'invalid_grant',
        'Invalid JWT: the assertion is not a signed JWT',
        `malformed assertion: ${String(error)}`,
      );
    }
    const iss = typeof claims.iss === 'string' ? claims.iss : undefined;
    if (iss === undefined) return fail('invalid_grant', NO_ACCOUNT, 'no iss claim');
    const account = this.#accounts.get(iss);
    if (!account)
      return fail('invalid_grant', NO_ACCOUNT, `unknown service account ${iss.slice(0, 200)}`, iss);

    if (header.alg !== 'RS256') {
      return fail('invalid_grant', BAD_SIGNATURE, `alg ${String(header.alg)} is not RS256`, iss);
    }
    let candidates: KeyObject[];
    if (header.kid !== undefined) {
      const key = typeof header.kid === 'string' ? account.keys.get(header.kid) : undefined;
      if (!key)
        return fail('invalid_grant', BAD_SIGNATURE, `kid ${String(header.kid)} is not a key of ${iss}`, iss);
      candidates = [key];
    } else {
      candidates = [...account.keys.values()];
    }
    let verified = false;
    for (const key of candidates) {
      try {
        await compactVerify(assertion, key, { algorithms: ['RS256'] });
        verified = true;
        break;
      } catch {
        // try the account's next key
      }
    }
    if (!verified) return fail('invalid_grant', BAD_SIGNATURE, 'signature does not verify', iss);

    if (claims.aud !== this.tokenUri) {
      return fail(
        'invalid_grant',
        `Invalid JWT: Failed audience check. The right audience is ${this.tokenUri}`,
        `aud ${JSON.stringify(claims.aud)?.slice(0, 200)} is not ${this.tokenUri}`,
        iss,
      );
    }
    const { iat, exp } = claims;
    const now = this.#now() / 1000;
    const timing =
      typeof iat !== 'number' || !Number.isFinite(iat)
        ? 'no numeric iat'
        : typeof exp !== 'number' || !Number.isFinite(exp)
          ? 'no numeric exp'
          : exp <= iat
            ? 'exp is not after iat'
            : exp - iat > MAX_LIFETIME_SECONDS
              ? `exp - iat is ${exp - iat} s (over ${MAX_LIFETIME_SECONDS})`
              : iat > now + IAT_SKEW_SECONDS
                ? `iat is ${Math.round(iat - now)} s in the future`
                : exp <= now
                  ? `expired ${Math.round(now - exp)} s ago`
                  : undefined;
    if (timing) return fail('invalid_grant', SHORT_LIVED, timing, iss);

    const scope = typeof claims.scope === 'string' ? claims.scope.trim() : '';
    if (scope === '')
      return fail('invalid_scope', 'Empty or missing scope not allowed.', 'no scope claim', iss);
    const scopes = scope.split(/\s+/);
    if (!FCM_SCOPES.some((s) => scopes.includes(s))) {
      return fail(
        'invalid_scope',
        'Invalid OAuth scope or ID token audience provided.',
        `scope has neither ${FCM_SCOPES.join(' nor ')}`,
        iss,
      );
    }

    const accessToken = `ya29.c.${randomBytes(96).toString('base64url')}`;
    this.#remember(accessToken, {
      clientEmail: account.clientEmail,
      projectId: account.projectId,
      expiresAt: this.#now() + this.#ttlSeconds * 1000,
    });
    return {
      status: 200,
      body: { access_token: accessToken, expires_in: this.#ttlSeconds, token_type: 'Bearer' },
      clientEmail: iss,
      error: undefined,
      errorDescription: undefined,
      reason: undefined,
    };
  }

  #remember(token: string, entry: AccessToken): void {
    if (this.#tokens.size >= MAX_LIVE_TOKENS) {
      const now = this.#now();
      for (const [key, value] of this.#tokens) if (value.expiresAt <= now) this.#tokens.delete(key);
      // Still full: forget the oldest.
      for (const key of this.#tokens.keys()) {
        if (this.#tokens.size < MAX_LIVE_TOKENS) break;
        this.#tokens.delete(key);
      }
    }
    this.#tokens.set(token, entry);
  }

  /** Check `Authorization: Bearer TOKEN` for a send to `projectId`. */
  authenticate(authorization: string | undefined, projectId: string): AuthResult {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!match) return { ok: false, error: credentialsMissing(), clientEmail: undefined };
    const entry = this.#tokens.get(match[1]!);
    if (!entry)
      return {
        ok: false,
        error: invalidCredentials('ACCESS_TOKEN_TYPE_UNSUPPORTED'),
        clientEmail: undefined,
      };
    if (entry.expiresAt <= this.#now()) {
      return { ok: false, error: invalidCredentials('ACCESS_TOKEN_EXPIRED'), clientEmail: entry.clientEmail };
    }
    if (entry.projectId !== projectId) {
      return { ok: false, error: permissionDenied(projectId), clientEmail: entry.clientEmail };
    }
    return { ok: true, clientEmail: entry.clientEmail };
  }

  /** Forget every issued access token; returns how many were live. */
  revokeAll(): number {
    const now = this.#now();
    let live = 0;
    for (const entry of this.#tokens.values()) if (entry.expiresAt > now) live++;
    this.#tokens.clear();
    return live;
  }
}
