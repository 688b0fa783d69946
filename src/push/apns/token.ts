/**
 * APNs provider authentication tokens (Apple, "Establishing a token-based connection to APNs"):
 * an ES256 JWT, header {alg, kid}, claims {iss: team id, iat}, signed with the team's .p8 key.
 *
 * Apple rejects a token older than one hour (403 ExpiredProviderToken) and one that changes
 * more often than every 20 minutes (429 TooManyProviderTokenUpdates). So there is exactly one
 * token per (team, key), shared by every connection and every app of that team, replaced when it
 * is 50 minutes old. Pass one cache to every APNs sender.
 *
 * Apple counts per team, not per process: a restarted process, or a second node with the same
 * key, that signs its own token within 20 minutes of the previous one is refused. With a
 * `shared` store (the database, through the service) every process uses the token stored there
 * for its whole life: a process adopts the stored token while it is younger than the refresh age,
 * and replaces it by compare-and-set when it is due, so of several processes refreshing at once
 * one wins and the others adopt its token. The token is kept in memory: the store is read about
 * once per refresh period per process, never per push. Without a store, the token lives in this
 * process only.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, SignJWT } from 'jose';
import type { Logger } from '../../log/index.ts';

export interface ApnsSigningKey {
  /** The 10-character key id from Apple (the JWT `kid`). */
  keyId: string;
  /** The 10-character team id (the JWT `iss`). */
  teamId: string;
  /** The .p8 key: a P-256 private key. */
  privateKey: KeyObject;
}

/** A provider token as the shared store holds it. */
export interface SharedProviderToken {
  /** The JWT; null when it is stored but unreadable here (e.g. sealed under another master key). */
  token: string | null;
  /** Epoch ms, by the clock of the process that signed it. */
  issuedAt: number;
}

/**
 * Provider tokens shared by every process on one database. push/ does not know where they are
 * kept; the service adapts the store (sealing them: a provider token is a bearer credential).
 */
export interface SharedTokenStore {
  load(name: string): Promise<SharedProviderToken | undefined>;
  /**
   * Compare-and-set: stores `token` only if the stored one is the token issued at
   * `expectedIssuedAt` (null: there is none). Of concurrent replaces of one token, one wins.
   */
  replace(name: string, token: string, issuedAt: number, expectedIssuedAt: number | null): Promise<boolean>;
}

export interface ApnsTokenCacheOptions {
  /** Epoch ms; tests inject a clock. */
  now?: () => number;
  /** Age at which a token is replaced: 20 to 59 minutes (Apple's window); default 50. */
  refreshAfterMs?: number;
  /** Tokens shared with the other processes on the database; default: this process only. */
  shared?: SharedTokenStore;
  /** For the shared store's trouble (unavailable, a token this key did not sign). */
  logger?: Logger;
}

export interface ApnsTokenCacheStats {
  /** Tokens signed since start, all keys together (with a shared store, also those that lost a race). */
  signed: number;
  /** Tokens taken from the shared store (signed by another process, or before a restart). */
  adopted: number;
  /** Keys with a current token. */
  keys: number;
}

export interface ApnsTokenCache {
  /** The current token for `key`, signed (or taken from the shared store) if there is none or it is due. */
  get(key: ApnsSigningKey): Promise<string>;
  /**
   * APNs answered ExpiredProviderToken to `jwt`. If it is still the current token, the next
   * `get` signs a new one, even if the current one is younger than 20 minutes; a token replaced
   * this way is not replaced early again before it is 20 minutes old, so a skewed clock cannot
   * make Herald churn tokens into TooManyProviderTokenUpdates. Returns whether a new token will
   * be (or already was) issued, i.e. whether resending can help.
   */
  expired(key: ApnsSigningKey, jwt: string): boolean;
  /**
   * APNs answered TooManyProviderTokenUpdates to `jwt`: another process's token is the team's
   * current one. Takes the shared store's token if it differs from `jwt`; resolves whether it
   * did (or the current token here differs already), i.e. whether resending can help. Never
   * rejects.
   */
  reload(key: ApnsSigningKey, jwt: string): Promise<boolean>;
  stats(): ApnsTokenCacheStats;
}

export const MIN_TOKEN_AGE_MS = 20 * 60_000;
export const MAX_TOKEN_AGE_MS = 60 * 60_000;
export const DEFAULT_REFRESH_AFTER_MS = 50 * 60_000;
/** A stored token issued further in the future than this (another node's clock) is not used. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** After the shared store failed, how long the current token is used before asking it again. */
const STORE_RETRY_MS = 10_000;
/** At most one reload per key in this time, however many pushes APNs refused with 429. */
const RELOAD_INTERVAL_MS = 5_000;

interface Entry {
  jwt: string;
  issuedAt: number;
  /** Signed (or adopted) because APNs called the previous token expired, not because of its age. */
  forced: boolean;
  /** APNs called this token expired: replace it at the next get. */
  stale: boolean;
  /** The shared store failed: use this token (while APNs accepts it) without asking until then. */
  holdUntil: number;
  /** When the shared store was last read after a 429. */
  reloadedAt: number;
}

function cacheKey(key: ApnsSigningKey): string {
  return `${key.teamId}:${key.keyId}`;
}

/** The token's name in the shared store. */
export function apnsTokenName(key: ApnsSigningKey): string {
  return `apns/${key.teamId}/${key.keyId}`;
}

export function createApnsTokenCache(options: ApnsTokenCacheOptions = {}): ApnsTokenCache {
  const now = options.now ?? Date.now;
  const refreshAfterMs = options.refreshAfterMs ?? DEFAULT_REFRESH_AFTER_MS;
  if (!(refreshAfterMs >= MIN_TOKEN_AGE_MS && refreshAfterMs < MAX_TOKEN_AGE_MS)) {
    throw new RangeError('refreshAfterMs must be at least 20 minutes and less than 60 minutes');
  }
  const { shared, logger } = options;
  const entries = new Map<string, Entry>();
  const pending = new Map<string, Promise<string>>();
  const reloading = new Map<string, Promise<boolean>>();
  const publicKeys = new WeakMap<KeyObject, KeyObject>();
  let signed = 0;
  let adopted = 0;

  async function sign(key: ApnsSigningKey): Promise<{ jwt: string; issuedAt: number }> {
    const issuedAt = now();
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: key.keyId })
      .setIssuer(key.teamId)
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .sign(key.privateKey);
    signed += 1;
    return { jwt, issuedAt };
  }

  function install(id: string, token: { jwt: string; issuedAt: number }, forced: boolean): string {
    entries.set(id, { ...token, forced, stale: false, holdUntil: 0, reloadedAt: 0 });
    return token.jwt;
  }

  /**
   * The stored token, if it may be used here: signed with this key, for the time it claims, not
   * too old and not from the future (another node's clock).
   */
  async function usable(
    key: ApnsSigningKey,
    stored: SharedProviderToken | undefined,
    maxAgeMs: number,
  ): Promise<{ jwt: string; issuedAt: number } | undefined> {
    if (stored === undefined) return undefined;
    const where = { provider: 'apns', teamId: key.teamId, keyId: key.keyId };
    if (stored.token === null) {
      logger?.warn(
        where,
        'the shared APNs provider token cannot be read here (another master key?); replacing it',
      );
      return undefined;
    }
    const age = now() - stored.issuedAt;
    if (!(age < maxAgeMs && age > -FUTURE_TOLERANCE_MS)) return undefined;
    let publicKey = publicKeys.get(key.privateKey);
    if (!publicKey) {
      publicKey = createPublicKey(key.privateKey);
      publicKeys.set(key.privateKey, publicKey);
    }
    try {
      const { payload, protectedHeader } = await compactVerify(stored.token, publicKey, {
        algorithms: ['ES256'],
      });
      const claims = JSON.parse(new TextDecoder().decode(payload)) as { iss?: unknown; iat?: unknown };
      if (
        protectedHeader.kid === key.keyId &&
        claims.iss === key.teamId &&
        claims.iat === Math.floor(stored.issuedAt / 1000)
      ) {
        return { jwt: stored.token, issuedAt: stored.issuedAt };
      }
    } catch {
      // not a token of this key: fall through
    }
    logger?.warn(
      where,
      'the shared APNs provider token was not signed with this key; replacing it (do all nodes have the same .p8 file?)',
    );
    return undefined;
  }

  function storeFailed(key: ApnsSigningKey, error: unknown): void {
    logger?.warn(
      { provider: 'apns', teamId: key.teamId, keyId: key.keyId, err: error },
      'shared APNs provider-token store unavailable; using this process’s token',
    );
  }

  /** A new token for `key`: the shared one if another process made it, else one signed here. */
  async function refresh(key: ApnsSigningKey, id: string, entry: Entry | undefined): Promise<string> {
    const forced = entry?.stale === true;
    if (!shared) return install(id, await sign(key), forced);
    const name = apnsTokenName(key);
    let stored: SharedProviderToken | undefined;
    try {
      stored = await shared.load(name);
    } catch (error) {
      storeFailed(key, error);
      // Keep a token APNs still accepts, and ask the store again shortly.
      if (entry && !entry.stale && now() - entry.issuedAt + STORE_RETRY_MS < MAX_TOKEN_AGE_MS) {
        entry.holdUntil = now() + STORE_RETRY_MS;
        return entry.jwt;
      }
      return install(id, await sign(key), forced);
    }
    // Another process refreshed (or this one did before a restart): use that token, unless it is
    // the very token APNs just called expired.
    const current =
      forced && stored?.token === entry?.jwt ? undefined : await usable(key, stored, refreshAfterMs);
    if (current) {
      adopted += 1;
      return install(id, current, forced);
    }
    const fresh = await sign(key);
    let won: boolean;
    try {
      won = await shared.replace(name, fresh.jwt, fresh.issuedAt, stored?.issuedAt ?? null);
    } catch (error) {
      storeFailed(key, error);
      return install(id, fresh, forced);
    }
    if (won) return install(id, fresh, forced);
    // Lost the race: the winner's token is the team's, ours was never shown to APNs.
    try {
      const winner = await usable(key, await shared.load(name), refreshAfterMs);
      if (winner) {
        adopted += 1;
        return install(id, winner, forced);
      }
    } catch (error) {
      storeFailed(key, error);
    }
    return install(id, fresh, forced);
  }

  async function reloadShared(key: ApnsSigningKey, id: string, entry: Entry, jwt: string): Promise<boolean> {
    if (!shared || now() - entry.reloadedAt < RELOAD_INTERVAL_MS) return false;
    entry.reloadedAt = now();
    let stored: SharedProviderToken | undefined;
    try {
      stored = await shared.load(apnsTokenName(key));
    } catch (error) {
      storeFailed(key, error);
      return false;
    }
    if (stored === undefined || stored.token === jwt) return false;
    // Any token APNs still accepts: the team's current one is what counts.
    const current = await usable(key, stored, MAX_TOKEN_AGE_MS - STORE_RETRY_MS);
    if (!current) return false;
    // Unless a refresh replaced the token meanwhile: then that one is newer.
    if (entries.get(id) === entry) {
      adopted += 1;
      install(id, current, false);
    }
    return true;
  }

  return {
    get(key) {
      const id = cacheKey(key);
      const inFlight = pending.get(id);
      if (inFlight) return inFlight;
      const entry = entries.get(id);
      if (entry && !entry.stale) {
        const age = now() - entry.issuedAt;
        if (age < refreshAfterMs) return Promise.resolve(entry.jwt);
        if (now() < entry.holdUntil && age < MAX_TOKEN_AGE_MS) return Promise.resolve(entry.jwt);
      }
      // Concurrent callers share one refresh.
      const promise = refresh(key, id, entry).finally(() => pending.delete(id));
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
    async reload(key, jwt) {
      if (!shared) return false;
      const id = cacheKey(key);
      const entry = entries.get(id);
      if (!entry) return false;
      if (entry.jwt !== jwt) return true;
      let promise = reloading.get(id);
      if (!promise) {
        promise = reloadShared(key, id, entry, jwt).finally(() => reloading.delete(id));
        reloading.set(id, promise);
      }
      return promise;
    },
    stats: () => ({ signed, adopted, keys: entries.size }),
  };
}
