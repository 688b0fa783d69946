/**
 * APNs provider authentication tokens (Apple, "Establishing a token-based connection to APNs"):
 * an ES256 JWT, header {alg, kid}, claims {iss: team id, iat}, signed with the team's .p8 key.
 *
 * Apple rejects a token older than one hour (403 ExpiredProviderToken) and one that changes
 * more often than every 20 minutes (429 TooManyProviderTokenUpdates). So there is exactly one
 * token per (team, key) in the process, shared by every connection and every app of that team,
 * replaced when it is 50 minutes old. Pass one cache to every APNs sender.
 */
import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

export interface ApnsSigningKey {
  /** The 10-character key id from Apple (the JWT `kid`). */
  keyId: string;
  /** The 10-character team id (the JWT `iss`). */
  teamId: string;
  /** The .p8 key: a P-256 private key. */
  privateKey: KeyObject;
}

export interface ApnsTokenCacheOptions {
  /** Epoch ms; tests inject a clock. */
  now?: () => number;
  /** Age at which a token is replaced: 20 to 59 minutes (Apple's window); default 50. */
  refreshAfterMs?: number;
}

export interface ApnsTokenCacheStats {
  /** Tokens signed since start, all keys together. */
  signed: number;
  /** Keys with a current token. */
  keys: number;
}

export interface ApnsTokenCache {
  /** The current token for `key`, signed now if there is none or it is due for replacement. */
  get(key: ApnsSigningKey): Promise<string>;
  /**
   * APNs answered ExpiredProviderToken to `jwt`. If it is still the current token, the next
   * `get` signs a new one, even if the current one is younger than 20 minutes; a token replaced
   * this way is not replaced early again before it is 20 minutes old, so a skewed clock cannot
   * make Herald churn tokens into TooManyProviderTokenUpdates. Returns whether a new token will
   * be (or already was) issued, i.e. whether resending can help.
   */
  expired(key: ApnsSigningKey, jwt: string): boolean;
  stats(): ApnsTokenCacheStats;
}

export const MIN_TOKEN_AGE_MS = 20 * 60_000;
export const MAX_TOKEN_AGE_MS = 60 * 60_000;
export const DEFAULT_REFRESH_AFTER_MS = 50 * 60_000;

interface Entry {
  jwt: string;
  issuedAt: number;
  /** Signed because APNs called the previous token expired, not because of its age. */
  forced: boolean;
  /** APNs called this token expired: sign a new one at the next get. */
  stale: boolean;
}

function cacheKey(key: ApnsSigningKey): string {
  return `${key.teamId}:${key.keyId}`;
}

export function createApnsTokenCache(options: ApnsTokenCacheOptions = {}): ApnsTokenCache {
  const now = options.now ?? Date.now;
  const refreshAfterMs = options.refreshAfterMs ?? DEFAULT_REFRESH_AFTER_MS;
  if (!(refreshAfterMs >= MIN_TOKEN_AGE_MS && refreshAfterMs < MAX_TOKEN_AGE_MS)) {
    throw new RangeError('refreshAfterMs must be at least 20 minutes and less than 60 minutes');
  }
  const entries = new Map<string, Entry>();
  const pending = new Map<string, Promise<string>>();
  let signed = 0;

  async function sign(key: ApnsSigningKey, forced: boolean): Promise<string> {
    const issuedAt = now();
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: key.keyId })
      .setIssuer(key.teamId)
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .sign(key.privateKey);
    signed += 1;
    entries.set(cacheKey(key), { jwt, issuedAt, forced, stale: false });
    return jwt;
  }

  return {
    get(key) {
      const id = cacheKey(key);
      const inFlight = pending.get(id);
      if (inFlight) return inFlight;
      const entry = entries.get(id);
      if (entry && !entry.stale && now() - entry.issuedAt < refreshAfterMs) return Promise.resolve(entry.jwt);
      // Concurrent callers share one signature.
      const promise = sign(key, entry?.stale === true).finally(() => pending.delete(id));
      pending.set(id, promise);
      return promise;
    },
    expired(key, jwt) {
      const entry = entries.get(cacheKey(key));
      if (!entry) return true;
      // Already replaced (another push saw the same answer first): the current token is newer.
      if (entry.jwt !== jwt) return true;
      if (entry.stale) return true;
      if (entry.forced && now() - entry.issuedAt < MIN_TOKEN_AGE_MS) return false;
      entry.stale = true;
      return true;
    },
    stats: () => ({ signed, keys: entries.size }),
  };
}
