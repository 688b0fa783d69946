/**
 * How the engine reaches Microsoft Graph for a tenant: the tenant's Graph settings from the
 * configuration (Entra tenant id, mail domains, app-only credentials), one cached app-only client
 * per tenant, delegated clients for a device's token, the subscription limits, and the signing
 * keys of validation tokens. Nothing here holds a mailbox credential.
 */
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import { type Dispatcher, fetch as undiciFetch } from 'undici';
import {
  ClientCredentialsTokenSource,
  createValidationTokenVerifier,
  GraphClient,
  type SubscriptionLimits,
  type ValidationTokenVerifier,
} from '../../exchange/graph/index.ts';

/** A tenant's `graph:` block, as the configuration gives it. */
export interface TenantGraphConfig {
  tenantId: string;
  domains: readonly string[];
  app?:
    | {
        clientId: string;
        clientSecret?: string | undefined;
        certificate?: { certFile: string; keyFile: string; algorithm: 'PS256' | 'RS256' } | undefined;
      }
    | undefined;
}

export interface GraphAccessOptions {
  /** Herald tenant id → its Graph settings. */
  tenants: ReadonlyArray<{ id: string; graph?: TenantGraphConfig | undefined }>;
  authorityHost: string;
  graphUrl: string;
  jwksUrl: string;
  timeoutMs: number;
  limits: SubscriptionLimits;
  userAgent: string;
  /** EWS host names of Exchange Online (default outlook.office365.com, outlook.office.com). */
  exchangeOnlineHosts?: readonly string[];
  dispatcher?: Dispatcher;
  now?: () => number;
  /** Signing keys of validation tokens (default: the remote JWKS at jwksUrl). */
  jwks?: JWTVerifyGetKey;
}

export interface TenantGraph {
  /** The Entra tenant (directory) id. */
  entraTenantId: string;
  /** Lower-cased mail domains served through Graph by default. */
  domains: ReadonlySet<string>;
  /** The app-only application's client id; undefined for delegated tenants. */
  appClientId: string | undefined;
}

/** Exchange Online's EWS host names: an account pointing there is an Exchange Online mailbox. */
const EXCHANGE_ONLINE_HOSTS = ['outlook.office365.com', 'outlook.office.com'];

export class GraphAccess {
  readonly limits: SubscriptionLimits;
  readonly #o: GraphAccessOptions;
  readonly #tenants = new Map<string, TenantGraph>();
  readonly #appClients = new Map<string, GraphClient>();
  readonly #jwks: JWTVerifyGetKey;
  readonly #exchangeOnlineHosts: ReadonlySet<string>;

  constructor(options: GraphAccessOptions) {
    this.#o = options;
    this.#exchangeOnlineHosts = new Set(
      (options.exchangeOnlineHosts ?? EXCHANGE_ONLINE_HOSTS).map((h) => h.toLowerCase()),
    );
    this.limits = options.limits;
    for (const tenant of options.tenants) {
      const graph = tenant.graph;
      if (!graph) continue;
      this.#tenants.set(tenant.id, {
        entraTenantId: graph.tenantId.toLowerCase(),
        domains: new Set(graph.domains.map((d) => d.toLowerCase())),
        appClientId: graph.app?.clientId,
      });
      if (graph.app) this.#appClients.set(tenant.id, this.#appClient(graph.tenantId, graph.app));
    }
    // Through the same dispatcher as every Graph call (trust.caFiles, proxy.url): jose's default
    // is the global fetch, which knows neither.
    const dispatcher = options.dispatcher;
    this.#jwks =
      options.jwks ??
      createRemoteJWKSet(new URL(options.jwksUrl), {
        timeoutDuration: options.timeoutMs,
        headers: { 'user-agent': options.userAgent },
        ...(dispatcher
          ? {
              [customFetch]: ((url: string, init: Parameters<FetchImplementation>[1]) =>
                undiciFetch(url, {
                  method: init.method,
                  redirect: init.redirect,
                  signal: init.signal,
                  headers: Object.fromEntries(init.headers.entries()),
                  dispatcher,
                })) as unknown as FetchImplementation,
            }
          : {}),
      });
  }

  /** The tenant's Graph settings; undefined when the tenant is not configured for Graph. */
  tenant(tenantId: string): TenantGraph | undefined {
    return this.#tenants.get(tenantId);
  }

  /** Whether the mailbox's domain is one of the tenant's Graph domains. */
  servesDomain(tenantId: string, email: string): boolean {
    const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
    return this.#tenants.get(tenantId)?.domains.has(domain) ?? false;
  }

  /** Whether an EWS URL is Exchange Online's (graph.exchangeOnlineHosts). */
  isExchangeOnline(ewsUrl: string): boolean {
    return URL.canParse(ewsUrl) && this.#exchangeOnlineHosts.has(new URL(ewsUrl).hostname.toLowerCase());
  }

  /** The tenant's app-only client (cached tokens); undefined for delegated tenants. */
  appClient(tenantId: string): GraphClient | undefined {
    return this.#appClients.get(tenantId);
  }

  /** A client acting with a device's delegated token (`me/…`); used for one operation, then dropped. */
  delegatedClient(accessToken: string): GraphClient {
    return new GraphClient({ ...this.#http(), credentials: { type: 'delegated', accessToken } });
  }

  /** A verifier of validation tokens issued for one of `appIds`. */
  verifier(appIds: readonly string[]): ValidationTokenVerifier {
    return createValidationTokenVerifier({
      appIds,
      jwks: this.#jwks,
      ...(this.#o.now ? { now: this.#o.now } : {}),
    });
  }

  #http() {
    const o = this.#o;
    return {
      graphUrl: o.graphUrl,
      timeoutMs: o.timeoutMs,
      userAgent: o.userAgent,
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      ...(o.now ? { now: o.now } : {}),
    };
  }

  #appClient(entraTenantId: string, app: NonNullable<TenantGraphConfig['app']>): GraphClient {
    const o = this.#o;
    const credential = app.certificate
      ? {
          type: 'certificate' as const,
          certificate: readFileSync(app.certificate.certFile, 'utf8'),
          privateKey: readFileSync(app.certificate.keyFile, 'utf8'),
          algorithm: app.certificate.algorithm,
        }
      : { type: 'secret' as const, secret: app.clientSecret ?? '' };
    const tokens = new ClientCredentialsTokenSource({
      tenantId: entraTenantId,
      clientId: app.clientId,
      credential,
      authorityHost: o.authorityHost,
      timeoutMs: o.timeoutMs,
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    return new GraphClient({ ...this.#http(), credentials: { type: 'app', tokens } });
  }
}
