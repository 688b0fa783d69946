/**
 * Kerberos constrained delegation as the gateway's `CredentialDelegate`: for the certificate's
 * user, S4U2Self with the gateway's own account (a ticket to itself on the user's behalf), then
 * S4U2Proxy to Exchange's SPN, and `Negotiate <SPNEGO token>` for the request.
 *
 * A user's impersonated credential is cached (it holds the evidence ticket and, after the first
 * request, the service ticket for Exchange), so repeated requests do not go to the KDC; only
 * the AP-REQ authenticator is made anew per request, locally. The cache is bounded in entries
 * (least recently used dropped) and in time (the tickets' lifetime less 5 minutes, at most
 * `cacheSeconds`). Concurrent first requests of one user share one trip to the KDC.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import type { ClientIdentity } from '../certificates/index.ts';
import type { CredentialDelegate } from '../delegation.ts';
import { delegationError, KerberosDelegationError } from './errors.ts';
import type { GssApi, GssCredential } from './gss.ts';
import { type PrincipalRules, targetSpn, userPrincipal } from './principal.ts';

/** Tickets are given up this long before they expire, so none expires on its way to Exchange. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

export interface KerberosDelegateOptions extends PrincipalRules {
  gss: GssApi;
  servicePrincipal: string;
  keytabFile: string;
  /** Exchange's SPN; default `HTTP/<upstream host>`. */
  targetSpn?: string | undefined;
  cacheSeconds: number;
  cacheUsers: number;
  logger: Logger;
  now?: () => number;
}

interface CachedUser {
  credential: Promise<GssCredential>;
  /** Known once the credential is there. */
  expiresAt: number;
}

/** Short, stable pseudonym for logs: a principal is personal data. */
function pseudonym(principal: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < principal.length; i++) {
    hash = Math.imul(hash ^ principal.charCodeAt(i), 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

export class KerberosDelegate implements CredentialDelegate {
  readonly #options: KerberosDelegateOptions;
  readonly #now: () => number;
  readonly #users = new Map<string, CachedUser>();
  #service: { credential: Promise<GssCredential> } | undefined;
  readonly #tickets = new Counter({
    name: 'herald_gateway_kerberos_tickets_total',
    help: 'Kerberos credentials the gateway asked the KDC for (S4U2Self per user; the service account), by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [],
  });
  readonly #cache = new Counter({
    name: 'herald_gateway_kerberos_cache_total',
    help: "Delegated requests by whether the user's cached credential was used (hit) or the KDC was asked (miss)",
    labelNames: ['result'] as const,
    registers: [],
  });
  readonly #failures = new Counter({
    name: 'herald_gateway_kerberos_failures_total',
    help: 'Requests for which no Kerberos token could be obtained, by reason',
    labelNames: ['reason'] as const,
    registers: [],
  });
  readonly #tokenSeconds = new Histogram({
    name: 'herald_gateway_kerberos_token_seconds',
    help: 'Time to obtain the Negotiate token for a request (KDC round trips included on a cache miss)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [],
  });

  constructor(options: KerberosDelegateOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.#tickets);
    registry.registerMetric(this.#cache);
    registry.registerMetric(this.#failures);
    registry.registerMetric(this.#tokenSeconds);
  }

  /** How many users' credentials are cached now. */
  get cachedUsers(): number {
    return this.#users.size;
  }

  async authorization(identity: ClientIdentity, upstream: URL): Promise<string> {
    const started = performance.now();
    try {
      const principal = userPrincipal(identity.upn, this.#options);
      const spn = targetSpn(this.#options.targetSpn, upstream);
      const credential = await this.#userCredential(principal);
      let token: string;
      try {
        token = await this.#options.gss.initSecContext(credential, spn);
      } catch (error) {
        // A credential that no longer works (its tickets were revoked or have expired early):
        // not kept for the next request.
        this.#users.delete(principal);
        throw error;
      }
      this.#tokenSeconds.observe((performance.now() - started) / 1000);
      return `Negotiate ${token}`;
    } catch (error) {
      const failure = delegationError(error);
      this.#failures.inc({ reason: failure.failure });
      this.#options.logger.warn(
        {
          reason: failure.failure,
          err: failure.cause ?? failure,
          user: identity.upn ? pseudonym(identity.upn) : undefined,
        },
        'Get Kerberos token failed',
      );
      throw failure;
    }
  }

  invalidate(identity: ClientIdentity): void {
    try {
      this.#users.delete(userPrincipal(identity.upn, this.#options));
    } catch {
      // No principal: nothing was cached for it.
    }
  }

  async close(): Promise<void> {
    const credentials = [...this.#users.values()].map((user) => user.credential);
    if (this.#service) credentials.push(this.#service.credential);
    this.#users.clear();
    this.#service = undefined;
    for (const settled of await Promise.allSettled(credentials)) {
      if (settled.status === 'fulfilled') settled.value.release?.();
    }
  }

  #userCredential(principal: string): Promise<GssCredential> {
    const now = this.#now();
    const cached = this.#users.get(principal);
    if (cached && cached.expiresAt > now) {
      // Least recently used goes first: a hit moves the user to the end of the map's order.
      this.#users.delete(principal);
      this.#users.set(principal, cached);
      this.#cache.inc({ result: 'hit' });
      return cached.credential;
    }
    this.#users.delete(principal);
    this.#cache.inc({ result: 'miss' });
    const entry: CachedUser = {
      // Until the KDC answers, concurrent requests of this user wait for the same answer.
      expiresAt: Number.POSITIVE_INFINITY,
      credential: this.#impersonate(principal).then(
        ({ credential, lifetimeSeconds }) => {
          const lifetimeMs = Math.min(
            lifetimeSeconds * 1000 - EXPIRY_MARGIN_MS,
            this.#options.cacheSeconds * 1000,
          );
          entry.expiresAt = this.#now() + Math.max(0, lifetimeMs);
          return credential;
        },
        (error: unknown) => {
          // Nothing cached for a failure: the next request asks again (the user may be created,
          // the KDC may come back).
          if (this.#users.get(principal) === entry) this.#users.delete(principal);
          throw error;
        },
      ),
    };
    this.#users.set(principal, entry);
    while (this.#users.size > this.#options.cacheUsers) {
      const oldest = this.#users.keys().next().value as string;
      const dropped = this.#users.get(oldest);
      this.#users.delete(oldest);
      dropped?.credential.then((credential) => credential.release?.()).catch(() => {});
    }
    return entry.credential;
  }

  async #impersonate(principal: string): Promise<{ credential: GssCredential; lifetimeSeconds: number }> {
    const service = await this.#serviceCredential();
    try {
      const result = await this.#options.gss.impersonate(service, principal);
      this.#tickets.inc({ kind: 'user', outcome: 'ok' });
      return result;
    } catch (error) {
      this.#tickets.inc({ kind: 'user', outcome: delegationError(error).failure });
      throw error;
    }
  }

  /**
   * The gateway's own credential, from its keytab. GSS-API renews its TGT from the keytab as
   * needed; a failure is not kept, so a keytab fixed later is picked up.
   */
  #serviceCredential(): Promise<GssCredential> {
    if (this.#service) return this.#service.credential;
    const { gss, keytabFile, servicePrincipal } = this.#options;
    const credential = gss.acquireServiceCredential({ keytab: keytabFile, principal: servicePrincipal }).then(
      (value) => {
        this.#tickets.inc({ kind: 'service', outcome: 'ok' });
        return value;
      },
      (error: unknown) => {
        this.#tickets.inc({ kind: 'service', outcome: delegationError(error).failure });
        this.#service = undefined;
        throw error;
      },
    );
    this.#service = { credential };
    return credential;
  }
}

export { KerberosDelegationError };
