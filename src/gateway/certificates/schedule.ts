/**
 * When to fetch a CRL URL again: every `refreshSeconds`, and in any case shortly before the held
 * CRL's nextUpdate; after a failure, sooner, with exponential backoff bounded by the refresh
 * interval (STYLE habit 7: bounded retries with backoff).
 */

/** How long before nextUpdate a CRL is fetched again: a tenth of its lifetime, 1 s to 5 min. */
const MAX_LEAD_MS = 5 * 60_000;
const MIN_LEAD_MS = 1000;
/** Never poll one URL more often than this after a success (a server stuck on an old CRL). */
const MIN_INTERVAL_MS = 30_000;
const FIRST_RETRY_MS = 5000;
const MAX_RETRY_MS = 5 * 60_000;

export interface CrlTimes {
  thisUpdate: number;
  nextUpdate: number | undefined;
}

/** The moment before nextUpdate at which a fresh copy is wanted. */
export function refreshBeforeNextUpdate(crl: CrlTimes & { nextUpdate: number }): number {
  const lifetime = Math.max(0, crl.nextUpdate - crl.thisUpdate);
  const lead = Math.min(MAX_LEAD_MS, Math.max(MIN_LEAD_MS, lifetime / 10));
  return crl.nextUpdate - lead;
}

/** After a successful download at `now`. */
export function nextRefreshAfterSuccess(now: number, refreshMs: number, crl: CrlTimes): number {
  let due = now + refreshMs;
  if (crl.nextUpdate !== undefined)
    due = Math.min(due, refreshBeforeNextUpdate({ ...crl, nextUpdate: crl.nextUpdate }));
  return Math.max(due, now + Math.min(refreshMs, MIN_INTERVAL_MS));
}

/** After the `failures`-th failure in a row at `now`: 5 s, 10 s, 20 s… up to the refresh interval. */
export function nextRetryAfterFailure(now: number, refreshMs: number, failures: number): number {
  const backoff = FIRST_RETRY_MS * 2 ** Math.min(Math.max(failures - 1, 0), 16);
  return now + Math.min(backoff, refreshMs, MAX_RETRY_MS);
}

/**
 * Until when a CRL counts: its nextUpdate; a CRL without one (RFC 5280 §5.1.2.5 requires it)
 * counts for two refresh intervals after it was fetched.
 */
export function validUntil(crl: CrlTimes, fetchedAt: number, refreshMs: number): number {
  return crl.nextUpdate ?? fetchedAt + 2 * refreshMs;
}
