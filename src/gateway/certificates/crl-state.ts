/**
 * What the CRL cache keeps per URL, what a refresh reports, and the plain counters it exposes
 * for metrics (`stats()`; the Prometheus series are made by the gateway's metrics module).
 */
import type { HeldCrl } from './status.ts';

export type RefreshOutcome = 'updated' | 'unchanged' | 'failed' | 'invalid';

export interface UrlRefresh {
  url: string;
  outcome: RefreshOutcome;
  /** Why it failed or was refused: `http_404`, `timeout`, `bad_signature`, `older_than_held`… */
  reason?: string;
}

export interface RefreshReport {
  generation: number;
  results: UrlRefresh[];
}

export interface CrlUrlStats {
  url: string;
  configured: boolean;
  /** Holds a CRL that counts now. */
  valid: boolean;
  delta: boolean;
  crlNumber?: string;
  thisUpdate?: Date;
  nextUpdate?: Date;
  fetchedAt?: Date;
  revoked: number;
  lastOutcome?: RefreshOutcome;
  lastReason?: string;
  lastAttemptAt?: Date;
  consecutiveFailures: number;
  nextRefreshAt: Date;
}

export interface CrlStats {
  generation: number;
  /** URLs holding a CRL that counts now. */
  crlsLoaded: number;
  /** Entries over the CRLs that count now. */
  revokedEntries: number;
  urls: CrlUrlStats[];
}

/** What the cache keeps per CRL URL. */
export interface UrlState {
  url: string;
  configured: boolean;
  held?: HeldCrl;
  fetchedAt?: number;
  lastAttemptAt?: number;
  outcome?: RefreshOutcome;
  reason?: string;
  failures: number;
  nextRefreshAt: number;
  inflight?: Promise<UrlRefresh>;
}

export function crlStats(
  states: Iterable<UrlState>,
  generation: number,
  now: number,
  clockSkewMs: number,
): CrlStats {
  const urls: CrlUrlStats[] = [];
  let crlsLoaded = 0;
  let revokedEntries = 0;
  for (const s of states) {
    const crl = s.held?.crl;
    const valid =
      s.held !== undefined &&
      s.held.crl.thisUpdate <= now + clockSkewMs &&
      now < s.held.validUntil + clockSkewMs;
    if (valid) {
      crlsLoaded++;
      revokedEntries += crl!.revoked.size;
    }
    urls.push({
      url: s.url,
      configured: s.configured,
      valid,
      delta: crl?.deltaBase !== undefined,
      ...(crl?.crlNumber === undefined ? {} : { crlNumber: crl.crlNumber.toString() }),
      ...(crl ? { thisUpdate: new Date(crl.thisUpdate) } : {}),
      ...(crl?.nextUpdate === undefined ? {} : { nextUpdate: new Date(crl.nextUpdate) }),
      ...(s.fetchedAt === undefined ? {} : { fetchedAt: new Date(s.fetchedAt) }),
      revoked: crl?.revoked.size ?? 0,
      ...(s.outcome === undefined ? {} : { lastOutcome: s.outcome }),
      ...(s.reason === undefined ? {} : { lastReason: s.reason }),
      ...(s.lastAttemptAt === undefined ? {} : { lastAttemptAt: new Date(s.lastAttemptAt) }),
      consecutiveFailures: s.failures,
      nextRefreshAt: new Date(s.nextRefreshAt),
    });
  }
  return { generation, crlsLoaded, revokedEntries, urls };
}
