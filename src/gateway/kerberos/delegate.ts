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
import { createHmac, randomBytes } from 'node:crypto';
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
  /**
   * A call that goes to the KDC and has no answer after this long fails as `kdc_unreachable`.
   * MIT Kerberos 1.20 (Debian 12) has no total request timeout of its own, and waits on a KDC
   * that accepts connections but never answers for about 20 s.
   */
  kdcTimeoutMs?: number;
  /**
   * At most this many calls that go to the KDC at once. GSS-API calls run on libuv's thread
   * pool, which file reads and DNS lookups share: a KDC that hangs must not take all of it.
   */
  kdcConcurrency?: number;
  logger: Logger;
  now?: () => number;
}

interface CachedUser {
  credential: Promise<GssCredential>;
  /** Known once the credential is there. */
  expiresAt: number;
  settled: boolean;
  /** Whether S4U2Proxy has been done with it (its first token; later ones need no KDC). */
  proxied: boolean;
}

/** Key of the log pseudonyms: new per process, so a pseudonym cannot be computed from a UPN. */
const PSEUDONYM_KEY = randomBytes(32);

/** A stable pseudonym (within this process) for logs: a principal is personal data. */
function pseudonym(principal: string): string {
  return createHmac('sha256', PSEUDONYM_KEY).update(principal.toLowerCase()).digest('hex').slice(0, 12);
}

function release(entry: CachedUser | undefined): void {
  entry?.credential.then((credential) => credential.release?.()).catch(() => {});
}

/** Counts calls to the KDC in flight, and queues the ones over the limit. */
class KdcGate {
  readonly #limit: number;
  readonly #timeoutMs: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number, timeoutMs: number) {
    this.#limit = limit;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Runs `call` when a slot is free, failing with `kdc_unreachable` when no answer came within the
   * timeout (counted from the request, queueing included). The slot is held until the call
   * really ends, because its thread is busy until then.
   */
  run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(
          new KerberosDelegationError(
            'kdc_unreachable',
            `${what}: no answer from the KDC within ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
      timer.unref();
      const start = () => {
        if (done) {
          this.#next();
          return;
        }
        this.#running += 1;
        call()
          .then(
            (value) => {
              if (!done) resolve(value);
            },
            (error: unknown) => {
              if (!done) reject(error);
            },
          )
          .finally(() => {
            done = true;
            clearTimeout(timer);
            this.#running -= 1;
            this.#next();
          });
      };
      if (this.#running < this.#limit) start();
      else this.#waiting.push(start);
    });
  }

  #next(): void {
    if (this.#running < this.#limit) this.#waiting.shift()?.();
  }
}

export class KerberosDelegate implements CredentialDelegate {
  readonly #options: KerberosDelegateOptions;
  readonly #now: () => number;
  readonly #users = new Map<string, CachedUser>();
  readonly #kdc: KdcGate;
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
    this.#kdc = new KdcGate(options.kdcConcurrency ?? 2, options.kdcTimeoutMs ?? 5000);
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
      const entry = this.#userEntry(principal);
      const credential = await entry.credential;
      let token: string;
      try {
        // The first token of a credential makes the S4U2Proxy request; later ones are local.
        token = entry.proxied
          ? await this.#options.gss.initSecContext(credential, spn)
          : await this.#kdc.run('S4U2Proxy', () => this.#options.gss.initSecContext(credential, spn));
        entry.proxied = true;
      } catch (error) {
        // A credential that no longer works (its tickets were revoked or have expired early):
        // not kept for the next request.
        this.#drop(principal, entry);
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

  /**
   * Exchange refused a token of this user: the cached credential goes, unless it is one still
   * being fetched (another request's retry already asked for a fresh one).
   */
  invalidate(identity: ClientIdentity): void {
    let principal: string;
    try {
      principal = userPrincipal(identity.upn, this.#options);
    } catch {
      return; // No principal: nothing was cached for it.
    }
    const entry = this.#users.get(principal);
    if (entry?.settled) this.#drop(principal, entry);
  }

  #drop(principal: string, entry: CachedUser): void {
    if (this.#users.get(principal) === entry) this.#users.delete(principal);
    release(entry);
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

  #userEntry(principal: string): CachedUser {
    const now = this.#now();
    const cached = this.#users.get(principal);
    if (cached && cached.expiresAt > now) {
      // Least recently used goes first: a hit moves the user to the end of the map's order.
      this.#users.delete(principal);
      this.#users.set(principal, cached);
      this.#cache.inc({ result: 'hit' });
      return cached;
    }
    if (cached) this.#drop(principal, cached);
    this.#cache.inc({ result: 'miss' });
    const entry: CachedUser = {
      // Until the KDC answers, concurrent requests of this user wait for the same answer.
      expiresAt: Number.POSITIVE_INFINITY,
      settled: false,
      proxied: false,
      credential: this.#impersonate(principal).then(
        ({ credential, lifetimeSeconds }) => {
          const lifetimeMs = Math.min(
            lifetimeSeconds * 1000 - EXPIRY_MARGIN_MS,
            this.#options.cacheSeconds * 1000,
          );
          entry.expiresAt = this.#now() + Math.max(0, lifetimeMs);
          entry.settled = true;
          return credential;
        },
        (error: unknown) => {
          // Nothing cached for a failure: the next request asks again (the user may be created,
          // the KDC may come back).
          entry.settled = true;
          if (this.#users.get(principal) === entry) this.#users.delete(principal);
          throw error;
        },
      ),
    };
    this.#users.set(principal, entry);
    while (this.#users.size > this.#options.cacheUsers) {
      const oldest = this.#users.keys().next().value as string;
      this.#drop(oldest, this.#users.get(oldest) as CachedUser);
    }
    return entry;
  }

  async #impersonate(principal: string): Promise<{ credential: GssCredential; lifetimeSeconds: number }> {
    const service = await this.#serviceCredential();
    try {
      const result = await this.#kdc.run('S4U2Self', () => this.#options.gss.impersonate(service, principal));
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
    const credential = this.#kdc
      .run('the service credential', () =>
        gss.acquireServiceCredential({ keytab: keytabFile, principal: servicePrincipal }),
      )
      .then(
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
