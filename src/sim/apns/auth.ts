/**
 * Provider authentication, as Apple documents it ("Establishing a token-based connection to
 * APNs", "Establishing a certificate-based connection to APNs"):
 *
 * - Token: `authorization: bearer <JWT>`, header {alg: ES256, kid}, claims {iss: team id, iat}.
 *   Unsecured JWTs or other algorithms, unknown keys, bad signatures, a wrong `iss` or a missing
 *   `iat` → 403 InvalidProviderToken. `iat` more than an hour old → 403 ExpiredProviderToken.
 *   A token of another team than the connection's first token → 403 UnrelatedKeyIdInToken (Apple
 *   wants one provider per connection). A new token (different kid/iat) within 20 minutes of the
 *   team's latest → 429 TooManyProviderTokenUpdates.
 * - Certificate: a TLS client certificate chained to the configured CAs; its subject UID is the
 *   app's bundle id, the default and allowed topic. No token and no certificate → 403
 *   MissingProviderToken; a certificate APNs did not issue → 403 BadCertificate.
 *
 * When a request carries a token, the token decides (a client certificate is then ignored).
 */
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { LoadedKey } from './keys.ts';
import type { ApnsAuth } from './types.ts';

/** What a TLS connection presented, looked up once per connection. */
export interface CertInfo {
  present: boolean;
  /** Chained to the configured client CAs (and within its validity). */
  authorized: boolean;
  /** Subject as `UID=…, CN=…, …` ('' when none). */
  subject: string;
  /** The subject's UID (0.9.2342.19200300.100.1.1): an APNs certificate's bundle id. */
  uid: string | undefined;
}

/** Per-connection authentication state. */
export interface ConnectionAuth {
  /** Team of the first token accepted on this connection. */
  teamId?: string;
  cert: CertInfo;
}

export type AuthOutcome =
  | { ok: true; auth: ApnsAuth; certTopic?: string }
  | { ok: false; status: 403 | 429; reason: string; auth: ApnsAuth };

interface VerifiedToken {
  keyId: string;
  teamId: string;
  iat: number;
}

interface TeamTokens {
  /** Highest iat accepted. */
  latest: number;
  /** `kid:iat` of the tokens accepted (within the last hour of `latest`) → iat. */
  seen: Map<string, number>;
}

/** APNs rejects tokens whose iat is more than an hour old. */
export const TOKEN_MAX_AGE_S = 3600;
/** ...and new tokens less than 20 minutes after the previous one. */
export const TOKEN_MIN_REFRESH_S = 20 * 60;
/**
 * Not documented by Apple: a token issued in the future (clock skew, or `iat` in milliseconds)
 * is refused as InvalidProviderToken beyond this tolerance.
 */
export const TOKEN_FUTURE_TOLERANCE_S = 5 * 60;

const VERIFIED_CACHE_LIMIT = 1000;

const NONE: ApnsAuth = { kind: 'none' };

export class ProviderAuth {
  readonly #now: () => number;
  readonly #keys = new Map<string, LoadedKey>();
  /** Verified JWT strings (signature, kid, iss, iat shape): checking ES256 per push is wasteful. */
  readonly #verified = new Map<string, VerifiedToken>();
  readonly #teams = new Map<string, TeamTokens>();

  constructor(now: () => number) {
    this.#now = now;
  }

  addKey(key: LoadedKey): void {
    this.#keys.set(key.keyId, key);
    this.#verified.clear();
  }

  keys(): LoadedKey[] {
    return [...this.#keys.values()];
  }

  async authenticate(authorization: string | undefined, conn: ConnectionAuth): Promise<AuthOutcome> {
    if (authorization === undefined || authorization.trim() === '') {
      if (!conn.cert.present) return fail(403, 'MissingProviderToken');
      if (!conn.cert.authorized || conn.cert.uid === undefined) return fail(403, 'BadCertificate');
      return {
        ok: true,
        auth: { kind: 'certificate', subject: conn.cert.subject },
        certTopic: conn.cert.uid,
      };
    }
    const match = /^bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) return fail(403, 'InvalidProviderToken');
    const verified = await this.#verify(match[1]!);
    if (!verified) return fail(403, 'InvalidProviderToken');
    const auth: ApnsAuth = {
      kind: 'token',
      keyId: verified.keyId,
      teamId: verified.teamId,
      issuedAt: verified.iat,
    };
    const nowS = this.#now() / 1000;
    if (nowS - verified.iat > TOKEN_MAX_AGE_S) return fail(403, 'ExpiredProviderToken', auth);
    if (verified.iat - nowS > TOKEN_FUTURE_TOLERANCE_S) return fail(403, 'InvalidProviderToken', auth);
    if (conn.teamId !== undefined && conn.teamId !== verified.teamId) {
      return fail(403, 'UnrelatedKeyIdInToken', auth);
    }
    const identity = `${verified.keyId}:${verified.iat}`;
    const team = this.#teams.get(verified.teamId);
    if (!team) {
      this.#teams.set(verified.teamId, { latest: verified.iat, seen: new Map([[identity, verified.iat]]) });
    } else if (!team.seen.has(identity)) {
      if (Math.abs(verified.iat - team.latest) < TOKEN_MIN_REFRESH_S) {
        return fail(429, 'TooManyProviderTokenUpdates', auth);
      }
      team.seen.set(identity, verified.iat);
      team.latest = Math.max(team.latest, verified.iat);
      for (const [key, iat] of team.seen) {
        if (team.latest - iat > TOKEN_MAX_AGE_S) team.seen.delete(key);
      }
    }
    conn.teamId ??= verified.teamId;
    return { ok: true, auth };
  }

  async #verify(jwt: string): Promise<VerifiedToken | undefined> {
    const cached = this.#verified.get(jwt);
    if (cached) return cached;
    let kid: unknown;
    try {
      const header = decodeProtectedHeader(jwt);
      if (header.alg !== 'ES256') return undefined;
      kid = header.kid;
    } catch {
      return undefined;
    }
    const key = typeof kid === 'string' ? this.#keys.get(kid) : undefined;
    if (!key) return undefined;
    let claims: unknown;
    try {
      const { payload } = await compactVerify(jwt, key.key, { algorithms: ['ES256'] });
      claims = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return undefined;
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined;
    const { iss, iat } = claims as Record<string, unknown>;
    if (iss !== key.teamId) return undefined;
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return undefined;
    const verified = { keyId: key.keyId, teamId: key.teamId, iat };
    if (this.#verified.size >= VERIFIED_CACHE_LIMIT) this.#verified.clear();
    this.#verified.set(jwt, verified);
    return verified;
  }
}

function fail(status: 403 | 429, reason: string, auth: ApnsAuth = NONE): AuthOutcome {
  return { ok: false, status, reason, auth };
}
