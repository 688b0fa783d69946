/**
 * The gateway's CRL cache: every CRL URL it knows (configured, from client certificates' CRL
 * Distribution Points, from Freshest CRL pointers) with the last good CRL for it, kept on disk,
 * refreshed in the background (unref'd timers), so that a revoked certificate is refused at the
 * next refresh without a restart. `status()` is a synchronous lookup for the TLS path;
 * `prepare()` lets the first request of a new device wait (boundedly) for its CRL.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { Logger } from '../../log/index.ts';
import { CrlError, type LoadedCrl, loadCrl } from './crl.ts';
import { type CrlStats, crlStats, type RefreshReport, type UrlRefresh, type UrlState } from './crl-state.ts';
import { CrlDiskCache } from './disk.ts';
import { CrlFetchError, fetchCrl } from './fetch.ts';
import { parseCertificate } from './identity.ts';
import { nextRefreshAfterSuccess, nextRetryAfterFailure, validUntil } from './schedule.ts';
import { type CertificateFacts, relevantUrls, revocationStatus, type StatusInput } from './status.ts';
import { keyIdOf, TrustStore } from './trust.ts';
import type { OnUnavailable, RevocationStatus } from './types.ts';

export interface CrlCacheOptions {
  /** The on-disk cache; created 0700. */
  dir: string;
  /** PEM text of the trusted CAs (`gateway.trustedCaFiles`' content): CRL signers. */
  trustedCas: readonly string[];
  refreshSeconds: number;
  onUnavailable: OnUnavailable;
  /** `gateway.crl.urls`: fetched at start, used for every certificate whose issuer signed them. */
  urls: readonly string[];
  logger: Logger;
  now?: () => number;
  /** Bound on one download, and on how long `prepare()` waits. Default 5 s. */
  fetchTimeoutMs?: number;
  /** Largest CRL accepted. Default 20 MiB. */
  maxBytes?: number;
  /** Allowance for clocks that disagree on thisUpdate / nextUpdate. Default 2 min. */
  clockSkewMs?: number;
  /** Most URLs tracked at once (certificates could name many). Default 1000. */
  maxUrls?: number;
  dispatcher?: Dispatcher;
}

type CertFacts = Omit<CertificateFacts, 'issuerKeyId'>;

const FACTS_CACHE_LIMIT = 10_000;
const FAIL_OPEN_LOG_INTERVAL_MS = 60_000;
const MAX_TIMER_MS = 60_000;
const PREPARE_GRACE_MS = 100;

export class CrlCache {
  readonly #trust: TrustStore;
  readonly #disk: CrlDiskCache;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #refreshMs: number;
  readonly #fetchTimeoutMs: number;
  readonly #maxBytes: number;
  readonly #clockSkewMs: number;
  readonly #maxUrls: number;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #configured: readonly string[];
  readonly #onUnavailable: OnUnavailable;
  readonly #states = new Map<string, UrlState>();
  readonly #facts = new Map<string, CertFacts>();
  readonly #failOpenLogged = new Map<string, number>();
  readonly #abort = new AbortController();
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;
  #fullWarned = false;

  constructor(options: CrlCacheOptions) {
    if (!(options.refreshSeconds >= 1)) throw new RangeError('refreshSeconds must be at least 1');
    this.#trust = new TrustStore(options.trustedCas);
    this.#disk = new CrlDiskCache(options.dir);
    this.#log = options.logger.child({ component: 'crl-cache' });
    this.#now = options.now ?? Date.now;
    this.#refreshMs = options.refreshSeconds * 1000;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
    this.#maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
    this.#clockSkewMs = options.clockSkewMs ?? 120_000;
    this.#maxUrls = options.maxUrls ?? 1000;
    this.#dispatcher = options.dispatcher;
    this.#onUnavailable = options.onUnavailable;
    this.#configured = [...new Set(options.urls)];
    for (const url of this.#configured) this.#register(url, true);
  }

  get onUnavailable(): OnUnavailable {
    return this.#onUnavailable;
  }

  /** Changes whenever the content of any held CRL changes. */
  get generation(): number {
    return this.#generation;
  }

  /** Loads the disk cache, fetches what is due (configured URLs at least), schedules refreshes. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#disk.init();
    const loaded: LoadedCrl[] = [];
    for (const stored of await this.#disk.load()) {
      const state = this.#register(stored.url, false);
      if (!state) break;
      if (state.held) continue;
      try {
        const crl = await loadCrl(stored.der, this.#trust);
        this.#hold(state, crl, stored.fetchedAt);
        // Due when it would have been had the process kept running (at once if that has passed).
        state.nextRefreshAt = nextRefreshAfterSuccess(stored.fetchedAt, this.#refreshMs, crl);
        loaded.push(crl);
      } catch (err) {
        this.#log.warn({ url: stored.url, reason: problemOf(err) }, 'cached CRL on disk ignored');
      }
    }
    for (const crl of loaded) this.#registerFreshest(crl);
    this.#log.info({ held: loaded.length }, 'CRL cache loaded from disk');
    await this.refreshDue();
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
  }

  /** Fetches every known URL now. */
  async refreshAll(): Promise<RefreshReport> {
    return this.#refreshMany([...this.#states.values()]);
  }

  /** Fetches the URLs whose refresh time (per the injected clock) has come. */
  async refreshDue(): Promise<RefreshReport> {
    const now = this.#now();
    return this.#refreshMany([...this.#states.values()].filter((s) => s.nextRefreshAt <= now));
  }

  /** The trusted CA that issued `cert` (name and signature checked), if any. */
  findIssuer(cert: X509Certificate): X509Certificate | undefined {
    return this.#trust.issuerOf(cert)?.cert;
  }

  /**
   * Revocation status from the CRLs held now: a few Map lookups. A CRL URL seen for the first
   * time is registered and fetched in the background (only for certificates a trusted CA issued,
   * so a client cannot make the gateway fetch URLs of its choosing).
   */
  status(cert: X509Certificate, issuer?: X509Certificate): RevocationStatus {
    const input = this.#input(cert, issuer);
    if (!input) return 'unknown';
    const status = revocationStatus(input);
    this.#discover(input);
    return status;
  }

  /**
   * Waits, at most `fetchTimeoutMs` (+0.1 s), for the CRLs that can decide a certificate (or the peer
   * certificate of a verified TLS connection) when none is held yet (a new device's first
   * request), then answers like `status()`. Returns at once when they are held, or
   * when their last download failed recently (no hammering of a dead distribution point).
   */
  async prepare(target: X509Certificate | TLSSocket, issuer?: X509Certificate): Promise<RevocationStatus> {
    let cert: X509Certificate | undefined;
    if ('getPeerX509Certificate' in target) {
      // A connection whose chain OpenSSL refused is refused anyway: nothing to fetch for it.
      cert = target.authorized ? target.getPeerX509Certificate() : undefined;
    } else {
      cert = target;
    }
    if (!cert) return 'unknown';
    const input = this.#input(cert, issuer);
    if (!input) return 'unknown';
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      // A little past the download's own timeout, so that a download that times out is recorded
      // as failed (and backed off) before this gives up on it.
      timer = setTimeout(() => resolve('timeout'), this.#fetchTimeoutMs + PREPARE_GRACE_MS);
      timer.unref();
    });
    try {
      for (const phase of ['base', 'delta'] as const) {
        if (revocationStatus(input) !== 'unknown') break;
        this.#discover(input);
        const pending = relevantUrls(input)
          [phase].map((url) => this.#states.get(url))
          .filter((s): s is UrlState => s !== undefined && this.#worthWaitingFor(s))
          .map((s) => s.inflight ?? this.#refresh(s));
        if (pending.length === 0) continue;
        const outcome = await Promise.race([Promise.all(pending), deadline]);
        if (outcome === 'timeout') break;
        input.now = this.#now();
      }
    } finally {
      clearTimeout(timer);
    }
    return this.status(cert, issuer);
  }

  /**
   * For fail-open: logs loudly that `cert` was let in without a revocation check, at most once
   * per CRL URL per minute (the URLs only; nothing about the certificate's holder).
   */
  noteUnavailable(cert: X509Certificate, issuer?: X509Certificate): void {
    const input = this.#input(cert, issuer);
    const urls = input ? [...new Set(Object.values(relevantUrls(input)).flat())] : [];
    const now = this.#now();
    for (const url of urls.length > 0 ? urls : ['(no CRL distribution point)']) {
      const last = this.#failOpenLogged.get(url);
      if (last !== undefined && now - last < FAIL_OPEN_LOG_INTERVAL_MS) continue;
      this.#failOpenLogged.set(url, now);
      this.#log.warn(
        { url, onUnavailable: 'fail-open' },
        'NO VALID CRL: client certificate accepted WITHOUT a revocation check (gateway.crl.onUnavailable is fail-open)',
      );
    }
  }

  /** For metrics: what is held per URL and how its last refresh went. */
  stats(): CrlStats {
    return crlStats(this.#states.values(), this.#generation, this.#now(), this.#clockSkewMs);
  }

  #input(cert: X509Certificate, issuer: X509Certificate | undefined): StatusInput | undefined {
    const trusted = this.#trust.issuerOf(cert);
    if (!trusted) return undefined;
    // A caller's issuer (from the TLS chain) must be the very CA we found: same key.
    if (
      issuer &&
      issuer.fingerprint256 !== trusted.cert.fingerprint256 &&
      keyIdOf(issuer) !== trusted.keyId
    ) {
      return undefined;
    }
    let facts = this.#facts.get(cert.fingerprint256);
    if (!facts) {
      try {
        const parsed = parseCertificate(cert.raw);
        facts = {
          serial: parsed.identity.serialNumber,
          issuer: parsed.identity.issuer,
          crlUrls: parsed.crlUrls,
          deltaCrlUrls: parsed.deltaCrlUrls,
        };
      } catch {
        return undefined;
      }
      if (this.#facts.size >= FACTS_CACHE_LIMIT) this.#facts.clear();
      this.#facts.set(cert.fingerprint256, facts);
    }
    return {
      facts: { ...facts, issuerKeyId: trusted.keyId },
      held: (url) => this.#states.get(url)?.held,
      configuredUrls: this.#configured,
      now: this.#now(),
      clockSkewMs: this.#clockSkewMs,
    };
  }

  /** Registers the certificate's URLs we have not seen yet and fetches them in the background. */
  #discover(input: StatusInput): void {
    const { base, delta } = relevantUrls(input);
    for (const url of [...base, ...delta]) {
      if (this.#states.has(url)) continue;
      const state = this.#register(url, false);
      if (state && !this.#stopped) void this.#refresh(state);
    }
  }

  #worthWaitingFor(state: UrlState): boolean {
    if (state.inflight) return true;
    const now = this.#now();
    const counts = state.held !== undefined && now < state.held.validUntil + this.#clockSkewMs;
    return !counts && state.nextRefreshAt <= now && !this.#stopped;
  }

  #register(url: string, configured: boolean): UrlState | undefined {
    const existing = this.#states.get(url);
    if (existing) return existing;
    if (this.#states.size >= this.#maxUrls) {
      if (!this.#fullWarned) {
        this.#fullWarned = true;
        this.#log.warn({ url, maxUrls: this.#maxUrls }, 'too many CRL URLs; new ones are ignored');
      }
      return undefined;
    }
    const state: UrlState = { url, configured, failures: 0, nextRefreshAt: this.#now() };
    this.#states.set(url, state);
    this.#schedule();
    return state;
  }

  #registerFreshest(crl: LoadedCrl): void {
    for (const url of crl.freshestUrls) {
      const state = this.#states.has(url) ? undefined : this.#register(url, false);
      if (state && !this.#stopped) void this.#refresh(state);
    }
  }

  #hold(state: UrlState, crl: LoadedCrl, fetchedAt: number): boolean {
    const changed = state.held?.crl.sha256 !== crl.sha256;
    state.held = { crl, validUntil: validUntil(crl, fetchedAt, this.#refreshMs) };
    state.fetchedAt = fetchedAt;
    if (changed) this.#generation++;
    return changed;
  }

  async #refreshMany(states: UrlState[]): Promise<RefreshReport> {
    const results = await Promise.all(states.map((s) => s.inflight ?? this.#refresh(s)));
    return { generation: this.#generation, results };
  }

  /** One download of one URL; never rejects. Concurrent callers share it. */
  #refresh(state: UrlState): Promise<UrlRefresh> {
    if (state.inflight) return state.inflight;
    const run = this.#download(state)
      .catch((err: unknown) => this.#failed(state, 'failed', problemOf(err)))
      .finally(() => {
        state.inflight = undefined;
        this.#schedule();
      });
    state.inflight = run;
    return run;
  }

  async #download(state: UrlState): Promise<UrlRefresh> {
    const { url } = state;
    state.lastAttemptAt = this.#now();
    let crl: LoadedCrl;
    try {
      const body = await fetchCrl(url, {
        timeoutMs: this.#fetchTimeoutMs,
        maxBytes: this.#maxBytes,
        signal: this.#abort.signal,
        ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
      });
      crl = await loadCrl(body, this.#trust);
    } catch (err) {
      return this.#failed(state, err instanceof CrlError ? 'invalid' : 'failed', problemOf(err));
    }
    const held = state.held?.crl;
    if (held && isOlder(crl, held)) return this.#failed(state, 'invalid', 'older_than_held');
    const now = this.#now();
    const changed = this.#hold(state, crl, now);
    state.failures = 0;
    state.outcome = changed ? 'updated' : 'unchanged';
    delete state.reason;
    state.nextRefreshAt = nextRefreshAfterSuccess(now, this.#refreshMs, crl);
    this.#registerFreshest(crl);
    if (changed) {
      const details = {
        url,
        crlNumber: crl.crlNumber?.toString(),
        delta: crl.deltaBase !== undefined,
        revoked: crl.revoked.size,
        thisUpdate: new Date(crl.thisUpdate).toISOString(),
        nextUpdate: crl.nextUpdate === undefined ? undefined : new Date(crl.nextUpdate).toISOString(),
      };
      if (crl.nextUpdate !== undefined && now >= crl.nextUpdate) {
        this.#log.warn(details, 'CRL distribution point serves a CRL past its nextUpdate');
      } else {
        this.#log.info(details, 'CRL updated');
      }
      try {
        await this.#disk.save({ url, der: crl.der, fetchedAt: now });
      } catch (err) {
        this.#log.warn({ url, reason: (err as { code?: string }).code ?? 'io' }, 'CRL not written to disk');
      }
    }
    return { url, outcome: state.outcome };
  }

  #failed(state: UrlState, outcome: 'failed' | 'invalid', reason: string): UrlRefresh {
    const now = this.#now();
    state.failures++;
    state.outcome = outcome;
    state.reason = reason;
    state.nextRefreshAt = nextRetryAfterFailure(now, this.#refreshMs, state.failures);
    if (!this.#stopped) {
      const until = state.held ? new Date(state.held.validUntil).toISOString() : undefined;
      this.#log.warn(
        { url: state.url, reason, failures: state.failures, keptUntil: until },
        until
          ? 'CRL refresh failed; keeping the last good CRL until its nextUpdate'
          : 'CRL refresh failed; none held',
      );
    }
    return { url: state.url, outcome, reason };
  }

  /** One unref'd timer, due at the earliest refresh (capped, so a changed clock is noticed). */
  #schedule(): void {
    if (!this.#started || this.#stopped) return;
    clearTimeout(this.#timer);
    let earliest = Number.POSITIVE_INFINITY;
    for (const s of this.#states.values()) if (!s.inflight) earliest = Math.min(earliest, s.nextRefreshAt);
    if (earliest === Number.POSITIVE_INFINITY) return;
    const delay = Math.min(Math.max(earliest - this.#now(), 250), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refreshDue().then(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }
}

/** A CRL older than the one held is a replay or a lagging mirror: keep the held one. */
function isOlder(crl: LoadedCrl, held: LoadedCrl): boolean {
  if (crl.crlNumber !== undefined && held.crlNumber !== undefined) return crl.crlNumber < held.crlNumber;
  return crl.thisUpdate < held.thisUpdate;
}

function problemOf(err: unknown): string {
  if (err instanceof CrlError) return err.problem;
  if (err instanceof CrlFetchError) return err.reason;
  return 'error';
}
