/**
 * The Microsoft Entra ID side: app registrations, the v2.0 token endpoint for the client
 * credentials grant, the signing keys (JWKS) and the tokens signed with them.
 *
 * Token endpoint (Microsoft identity platform, "OAuth 2.0 client credentials flow"):
 * `POST /{tenant}/oauth2/v2.0/token`, form-encoded, `grant_type=client_credentials`,
 * `client_id`, `scope=https://graph.microsoft.com/.default` and either `client_secret` or
 * `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` +
 * `client_assertion` ("Microsoft identity platform certificate credentials": RS256 with `x5t`,
 * or PS256 with `x5t#S256`; aud = the token URL; iss = sub = client id; exp, nbf).
 * Answers `{token_type: "Bearer", expires_in, ext_expires_in, access_token}`.
 *
 * Access tokens are v1.0 JWTs for `https://graph.microsoft.com`, signed RS256 with the
 * simulator's key: app-only ones carry `roles`, delegated ones `scp`. Times come from the
 * simulator clock, so advancing the clock expires them.
 */
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomUUID,
  X509Certificate,
} from 'node:crypto';
import { compactVerify, decodeProtectedHeader, exportJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { SimError } from '../store.ts';
import { EntraError, GraphError } from './errors.ts';

export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
/** Microsoft Graph's own application id (resource). */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** The app id of Graph's change-notification publisher, in every validation token. */
export const NOTIFICATION_PUBLISHER_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** A client id the simulator uses for delegated tokens it mints without a named app. */
export const DELEGATED_CLIENT_ID = '14d82eec-204b-4c2f-b7e8-296a70dab67e';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AppSpec {
  clientId?: string;
  secret?: string;
  /** PEM certificates whose keys may sign client assertions. */
  certificates?: string[];
  /** Application permissions granted (default ["Mail.Read"]). */
  roles?: string[];
  /** RBAC for Applications / application access policy: only these mailboxes (default: all). */
  mailboxes?: string[];
  displayName?: string;
}

export interface AppInfo {
  clientId: string;
  displayName: string;
  hasSecret: boolean;
  certificates: Array<{ thumbprint: string; thumbprintSha256: string }>;
  roles: string[];
  mailboxes?: string[];
  servicePrincipalId: string;
}

interface App {
  clientId: string;
  displayName: string;
  secret?: string;
  /** base64url SHA-1 thumbprint → cert; and base64url SHA-256 thumbprint → cert. */
  certs: Map<string, X509Certificate>;
  certs256: Map<string, X509Certificate>;
  roles: string[];
  mailboxes?: Set<string>;
  servicePrincipalId: string;
}

/** Who a Graph request acts as, after its bearer token was checked. */
export type Caller =
  | { kind: 'app'; appId: string; roles: string[]; tenantId: string; app: App }
  | { kind: 'delegated'; appId: string; scopes: string[]; tenantId: string; email: string };

export interface EntraOptions {
  tenantId?: string;
  /** Seconds an access token lives (Entra: 3599 by default; ext_expires_in likewise). */
  tokenLifetimeSeconds?: number;
  /** Extra names accepted as the {tenant} path segment (e.g. contoso.onmicrosoft.com). */
  tenantDomains?: string[];
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');

function thumbprints(cert: X509Certificate) {
  return {
    sha1: b64url(createHash('sha1').update(cert.raw).digest()),
    sha256: b64url(createHash('sha256').update(cert.raw).digest()),
  };
}

export function parseCertificate(pem: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (error) {
    throw new SimError('invalid_certificate', `not a PEM X.509 certificate: ${String(error)}`);
  }
  if (cert.publicKey.asymmetricKeyType !== 'rsa') {
    throw new SimError('invalid_certificate', 'the certificate must carry an RSA key');
  }
  return cert;
}

export class Entra {
  readonly tenantId: string;
  readonly #domains: Set<string>;
  readonly #apps = new Map<string, App>();
  /** Opaque delegated tokens (from --graph-token): token → mailbox email. */
  readonly #opaque = new Map<string, string>();
  readonly #now: () => number;
  readonly #lifetime: number;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly kid: string;

  constructor(now: () => number, options: EntraOptions = {}) {
    this.tenantId = options.tenantId ?? randomUUID();
    if (!GUID.test(this.tenantId)) throw new SimError('invalid_tenant', 'tenantId must be a GUID');
    this.#domains = new Set((options.tenantDomains ?? []).map((d) => d.toLowerCase()));
    this.#now = now;
    this.#lifetime = options.tokenLifetimeSeconds ?? 3599;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
    this.kid = b64url(
      createHash('sha1')
        .update(publicKey.export({ type: 'spki', format: 'der' }))
        .digest(),
    );
  }

  get issuer(): string {
    return `https://sts.windows.net/${this.tenantId}/`;
  }

  addDomain(domain: string): void {
    this.#domains.add(domain.toLowerCase());
  }

  knowsTenant(segment: string): boolean {
    const s = segment.toLowerCase();
    return s === this.tenantId || this.#domains.has(s);
  }

  registerApp(spec: AppSpec): AppInfo & { secret?: string } {
    const clientId = spec.clientId ?? randomUUID();
    if (typeof clientId !== 'string' || (!GUID.test(clientId) && !/^[A-Za-z0-9._-]{1,100}$/.test(clientId))) {
      throw new SimError('invalid_client_id', 'clientId must be a GUID (or 1-100 of A-Z a-z 0-9 . _ -)');
    }
    if (spec.secret !== undefined && (typeof spec.secret !== 'string' || !spec.secret)) {
      throw new SimError('invalid_secret', 'secret must be a non-empty string');
    }
    if (
      spec.roles !== undefined &&
      (!Array.isArray(spec.roles) || spec.roles.some((r) => typeof r !== 'string'))
    ) {
      throw new SimError('invalid_roles', 'roles must be an array of strings');
    }
    if (
      spec.mailboxes !== undefined &&
      (!Array.isArray(spec.mailboxes) || spec.mailboxes.some((m) => typeof m !== 'string'))
    ) {
      throw new SimError('invalid_mailboxes', 'mailboxes must be an array of email addresses');
    }
    const existing = this.#apps.get(clientId.toLowerCase());
    const app: App = existing ?? {
      clientId,
      displayName: spec.displayName ?? `sim app ${clientId.slice(0, 8)}`,
      certs: new Map(),
      certs256: new Map(),
      roles: ['Mail.Read'],
      servicePrincipalId: randomUUID(),
    };
    if (spec.secret !== undefined) app.secret = spec.secret;
    if (spec.roles !== undefined) app.roles = [...spec.roles];
    if (spec.mailboxes !== undefined) app.mailboxes = new Set(spec.mailboxes.map((m) => m.toLowerCase()));
    for (const pem of spec.certificates ?? []) this.#addCert(app, pem);
    this.#apps.set(clientId.toLowerCase(), app);
    return { ...this.#info(app), ...(spec.secret !== undefined ? { secret: spec.secret } : {}) };
  }

  addCertificate(clientId: string, pem: string): { thumbprint: string; thumbprintSha256: string } {
    const app = this.#apps.get(String(clientId).toLowerCase());
    if (!app) throw new SimError('app_not_found', `no app ${clientId}`, 404);
    if (typeof pem !== 'string')
      throw new SimError('invalid_certificate', 'certificate must be a PEM string');
    return this.#addCert(app, pem);
  }

  apps(): AppInfo[] {
    return [...this.#apps.values()].map((a) => this.#info(a));
  }

  /** Accept an opaque bearer token as a delegated Mail.Read token for a mailbox. */
  addOpaqueToken(email: string, token: string): void {
    if (typeof token !== 'string' || !token)
      throw new SimError('invalid_token', 'token must be a non-empty string');
    this.#opaque.set(token, email);
  }

  /** Mint a delegated (scp) token for a mailbox, as the authorization-code flow would. */
  async mintDelegated(
    user: { email: string; id: string; displayName: string },
    options: { clientId?: string; lifetimeSeconds?: number; scopes?: string[] } = {},
  ) {
    const lifetime = options.lifetimeSeconds ?? this.#lifetime;
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 86_400) {
      throw new SimError('invalid_lifetime', 'lifetimeSeconds must be an integer from 1 to 86400');
    }
    const token = await this.#sign(
      {
        appid: options.clientId ?? DELEGATED_CLIENT_ID,
        appidacr: '0',
        idtyp: 'user',
        oid: user.id,
        sub: b64url(randomBytes(32)),
        scp: (options.scopes ?? ['Mail.Read']).join(' '),
        upn: user.email,
        unique_name: user.email,
        name: user.displayName,
      },
      lifetime,
    );
    return { token_type: 'Bearer', expires_in: lifetime, access_token: token };
  }

  /** POST /{tenant}/oauth2/v2.0/token with the form fields. */
  async grant(tenant: string, form: URLSearchParams, tokenUrl: string) {
    if (!this.knowsTenant(tenant)) {
      throw new EntraError(
        400,
        'invalid_tenant',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
    const param = (name: string) => {
      const value = form.get(name);
      if (!value) {
        throw new EntraError(
          400,
          'invalid_request',
          900144,
          `The request body must contain the following parameter: '${name}'.`,
        );
      }
      return value;
    };
    const grantType = param('grant_type');
    if (grantType !== 'client_credentials') {
      throw new EntraError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grantType}'.`,
      );
    }
    const clientId = param('client_id');
    const app = this.#apps.get(clientId.toLowerCase());
    if (!app) {
      throw new EntraError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
      );
    }
    checkScope(param('scope'));
    const assertion = form.get('client_assertion');
    const secret = form.get('client_secret');
    let appidacr: '1' | '2';
    if (assertion) {
      if (form.get('client_assertion_type') !== JWT_BEARER_ASSERTION) {
        throw new EntraError(
          400,
          'invalid_request',
          700025,
          `client_assertion_type must be '${JWT_BEARER_ASSERTION}'.`,
        );
      }
      await this.#checkAssertion(app, assertion, [
        tokenUrl,
        tokenUrl.replace(`/${tenant}/`, `/${this.tenantId}/`),
      ]);
      appidacr = '2';
    } else if (secret) {
      if (app.secret === undefined || secret !== app.secret) {
        throw new EntraError(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
        );
      }
      appidacr = '1';
    } else {
      throw new EntraError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    const token = await this.#sign(
      {
        appid: app.clientId,
        appidacr,
        app_displayname: app.displayName,
        idtyp: 'app',
        oid: app.servicePrincipalId,
        sub: app.servicePrincipalId,
        ...(app.roles.length > 0 ? { roles: app.roles } : {}),
      },
      this.#lifetime,
    );
    return {
      token_type: 'Bearer',
      expires_in: this.#lifetime,
      ext_expires_in: this.#lifetime,
      access_token: token,
    };
  }

  /** Check a Graph request's Authorization header. */
  async authenticate(header: string | undefined): Promise<Caller> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    const token = match[1]!;
    const opaque = this.#opaque.get(token);
    if (opaque !== undefined) {
      return {
        kind: 'delegated',
        appId: DELEGATED_CLIENT_ID,
        scopes: ['Mail.Read'],
        tenantId: this.tenantId,
        email: opaque,
      };
    }
    if (token.split('.').length !== 3) {
      throw new GraphError(
        401,
        'InvalidAuthenticationToken',
        'IDX14100: JWT is not well formed, there are no dots (.).',
      );
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#publicKey, {
        algorithms: ['RS256'],
        issuer: this.issuer,
        audience: [GRAPH_AUDIENCE, GRAPH_APP_ID],
        currentDate: new Date(this.#now()),
        clockTolerance: 300,
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new GraphError(
        401,
        'InvalidAuthenticationToken',
        code === 'ERR_JWT_EXPIRED'
          ? 'Lifetime validation failed, the token is expired.'
          : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
            ? 'Access token validation failure. Invalid audience.'
            : 'Access token validation failure.',
      );
    }
    const appId = String(payload.appid);
    if (payload.idtyp === 'app') {
      const app = this.#apps.get(appId.toLowerCase());
      if (!app) throw new GraphError(401, 'InvalidAuthenticationToken', 'Access token validation failure.');
      const roles = Array.isArray(payload.roles) ? payload.roles.map(String) : [];
      return { kind: 'app', appId: app.clientId, roles, tenantId: this.tenantId, app };
    }
    return {
      kind: 'delegated',
      appId,
      scopes: String(payload.scp ?? '')
        .split(' ')
        .filter(Boolean),
      tenantId: this.tenantId,
      email: String(payload.upn),
    };
  }

  /** RBAC for Applications: whether an app-only caller may touch this mailbox. */
  appMayAccess(app: { mailboxes?: Set<string> }, email: string): boolean {
    return app.mailboxes === undefined || app.mailboxes.has(email.toLowerCase());
  }

  /** A validation token for a rich notification: aud = the subscribing app, appid = Graph's publisher. */
  validationToken(audience: string): Promise<string> {
    return this.#sign(
      {
        aud: audience,
        appid: NOTIFICATION_PUBLISHER_APP_ID,
        azp: NOTIFICATION_PUBLISHER_APP_ID,
        appidacr: '2',
        idp: this.issuer,
        aio: b64url(randomBytes(24)),
      },
      6 * 3600,
    );
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(this.#publicKey);
    return {
      keys: [
        {
          kty: 'RSA',
          use: 'sig',
          kid: this.kid,
          x5t: this.kid,
          n: jwk.n,
          e: jwk.e,
          issuer: this.issuer,
        } as JWK,
      ],
    };
  }

  #sign(claims: Record<string, unknown>, lifetimeSeconds: number): Promise<string> {
    const now = Math.floor(this.#now() / 1000);
    return new SignJWT({
      aud: GRAPH_AUDIENCE,
      iss: this.issuer,
      iat: now,
      nbf: now,
      exp: now + lifetimeSeconds,
      tid: this.tenantId,
      uti: b64url(randomBytes(16)),
      ver: '1.0',
      ...claims,
    })
      .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: this.kid, x5t: this.kid })
      .sign(this.#privateKey);
  }

  async #checkAssertion(app: App, assertion: string, audiences: string[]): Promise<void> {
    const refuse = (aadsts: number, text: string): never => {
      throw new EntraError(401, 'invalid_client', aadsts, text);
    };
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      return refuse(50027, 'JWT token is invalid or malformed.');
    }
    if (header.alg !== 'RS256' && header.alg !== 'PS256') {
      refuse(5002738, `Invalid JWT token. '${String(header.alg)}' is not a supported signature algorithm.`);
    }
    const x5t256 = header['x5t#S256'];
    const cert =
      typeof x5t256 === 'string'
        ? app.certs256.get(x5t256)
        : typeof header.x5t === 'string'
          ? app.certs.get(header.x5t)
          : undefined;
    if (!cert) {
      refuse(
        700027,
        `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${String(x5t256 ?? header.x5t ?? '')}']`,
      );
    }
    let claims: Record<string, unknown>;
    try {
      const { payload } = await compactVerify(assertion, cert!.publicKey, { algorithms: ['RS256', 'PS256'] });
      claims = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
    } catch {
      return refuse(700027, 'Client assertion failed signature validation.');
    }
    if (claims.iss !== app.clientId || claims.sub !== app.clientId) {
      refuse(700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
    }
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.some((a) => audiences.includes(String(a)))) {
      refuse(
        700024,
        `Client assertion audience claim does not match Realm issuer. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials. Expected: ${audiences[0]}.`,
      );
    }
    const now = Math.floor(this.#now() / 1000);
    const exp = Number(claims.exp);
    const nbf = claims.nbf === undefined ? undefined : Number(claims.nbf);
    if (!Number.isFinite(exp) || exp <= now - 300 || (nbf !== undefined && nbf > now + 300)) {
      refuse(700024, 'Client assertion is not within its valid time range.');
    }
  }

  #addCert(app: App, pem: string) {
    const cert = parseCertificate(pem);
    const { sha1, sha256 } = thumbprints(cert);
    app.certs.set(sha1, cert);
    app.certs256.set(sha256, cert);
    return { thumbprint: sha1, thumbprintSha256: sha256 };
  }

  #info(app: App): AppInfo {
    return {
      clientId: app.clientId,
      displayName: app.displayName,
      hasSecret: app.secret !== undefined,
      certificates: [...app.certs.entries()].map(([thumbprint, cert]) => ({
        thumbprint,
        thumbprintSha256: thumbprints(cert).sha256,
      })),
      roles: [...app.roles],
      mailboxes: app.mailboxes ? [...app.mailboxes] : undefined,
      servicePrincipalId: app.servicePrincipalId,
    };
  }
}

function checkScope(scope: string): void {
  const scopes = scope.split(' ').filter(Boolean);
  const graph = scopes.filter((s) =>
    [`${GRAPH_AUDIENCE}/.default`, `${GRAPH_AUDIENCE}//.default`, `${GRAPH_APP_ID}/.default`].includes(s),
  );
  if (graph.length === scopes.length && graph.length > 0) return;
  const resource = scopes.find((s) => !graph.includes(s)) ?? scope;
  if (!resource.endsWith('/.default')) {
    throw new EntraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${resource} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  throw new EntraError(
    400,
    'invalid_resource',
    500011,
    `The resource principal named ${resource.slice(0, -'/.default'.length)} was not found in the tenant named ${'the simulated tenant'}.`,
  );
}
