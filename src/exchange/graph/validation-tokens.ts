/**
 * The `validationTokens` of rich notifications ("Set up change notifications that include
 * resource data", Validating the authenticity of notifications): one JWT per (app, tenant)
 * pair present in `value`. Each must
 * - verify against Microsoft identity platform signing keys (JWKS; default
 *   https://login.microsoftonline.com/common/discovery/v2.0/keys, as the documented JavaScript
 *   sample uses; keys rotate, jose's remote set refetches on an unknown kid),
 * - not be expired (nor before nbf),
 * - have `aud` = one of Herald's app ids,
 * - have `iss` = `https://sts.windows.net/{tenantId}/` (the documented samples' ValidIssuer),
 * - have `appid` (or `azp`) = 0bf30f3b-4a52-48df-9a82-234910c4a086, the Microsoft Graph change
 *   notification publisher ("Critical" in the documentation).
 * Every tenant of an item with encryptedContent must be covered by a valid token.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { GraphNotificationError } from './errors.ts';
import type { NotificationCollection } from './notifications.ts';

export const DEFAULT_JWKS_URL = 'https://login.microsoftonline.com/common/discovery/v2.0/keys';
export const NOTIFICATION_PUBLISHER_APP_ID = '0bf30f3b-4a52-48df-9a82-234910c4a086';

export interface ValidationTokenOptions {
  /** Herald's app (client) ids the tokens may be issued for. */
  appIds: readonly string[];
  /** Signing keys; default a remote JWKS at jwksUrl. */
  jwks?: JWTVerifyGetKey;
  jwksUrl?: string;
  /** Issuer for a tenant (default https://sts.windows.net/{tenantId}/). */
  issuer?: (tenantId: string) => string;
  /** Clock, epoch ms (default Date.now). */
  now?: () => number;
  /** Seconds of clock skew tolerated (default 300). */
  clockToleranceSeconds?: number;
}

export interface ValidationTokenVerifier {
  /** Verify one token for a tenant; resolves with its claims or rejects with GraphNotificationError. */
  verifyToken(token: string, tenantId: string): Promise<Record<string, unknown>>;
  /** Verify a parsed collection's tokens against the tenants of its rich items. */
  verifyCollection(collection: NotificationCollection): Promise<void>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createValidationTokenVerifier(options: ValidationTokenOptions): ValidationTokenVerifier {
  if (
    !Array.isArray(options.appIds) ||
    options.appIds.length === 0 ||
    options.appIds.some((a) => typeof a !== 'string' || !a)
  ) {
    throw new TypeError('appIds must list at least one app id');
  }
  const jwks =
    options.jwks ??
    createRemoteJWKSet(new URL(options.jwksUrl ?? DEFAULT_JWKS_URL), { timeoutDuration: 10_000 });
  const issuer = options.issuer ?? ((tenant: string) => `https://sts.windows.net/${tenant}/`);
  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSeconds ?? 300;

  async function verifyToken(token: string, tenantId: string): Promise<Record<string, unknown>> {
    if (typeof tenantId !== 'string' || !GUID.test(tenantId)) {
      throw new GraphNotificationError('invalid_validation_token', 'the tenant id is not a GUID');
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: ['RS256'],
        audience: [...options.appIds],
        issuer: issuer(tenantId.toLowerCase()),
        currentDate: new Date(now()),
        clockTolerance: tolerance,
        requiredClaims: ['exp', 'aud', 'iss'],
      }));
    } catch (cause) {
      const why =
        cause instanceof joseErrors.JWTExpired
          ? 'expired'
          : cause instanceof joseErrors.JWTClaimValidationFailed
            ? `claim ${cause.claim} is not as expected`
            : cause instanceof joseErrors.JWSSignatureVerificationFailed
              ? 'bad signature'
              : cause instanceof joseErrors.JWKSNoMatchingKey
                ? 'signed with an unknown key'
                : 'not verifiable';
      throw new GraphNotificationError('invalid_validation_token', `a validation token is ${why}`, cause);
    }
    const publisher = payload.appid ?? payload.azp;
    if (publisher !== NOTIFICATION_PUBLISHER_APP_ID) {
      throw new GraphNotificationError(
        'invalid_validation_token',
        'a validation token was not issued to the Microsoft Graph change notification publisher',
      );
    }
    return payload;
  }

  async function verifyCollection(collection: NotificationCollection): Promise<void> {
    const tenants = new Set(
      collection.changes.filter((c) => c.encryptedContent !== undefined).map((c) => c.tenantId.toLowerCase()),
    );
    if (tenants.size === 0 && collection.validationTokens.length === 0) return;
    if (collection.validationTokens.length === 0) {
      throw new GraphNotificationError(
        'missing_validation_token',
        'rich notifications came without validationTokens',
      );
    }
    const known = new Set([
      ...tenants,
      ...collection.changes.map((c) => c.tenantId.toLowerCase()),
      ...collection.lifecycle.flatMap((l) => (l.tenantId ? [l.tenantId.toLowerCase()] : [])),
    ]);
    const covered = new Set<string>();
    for (const token of collection.validationTokens) {
      // The token names its tenant in tid; it must be one of the body's tenants.
      const tid = tenantOf(token);
      if (!tid || !known.has(tid)) {
        throw new GraphNotificationError(
          'invalid_validation_token',
          'a validation token is for another tenant',
        );
      }
      await verifyToken(token, tid);
      covered.add(tid);
    }
    for (const tenant of tenants) {
      if (!covered.has(tenant)) {
        throw new GraphNotificationError(
          'missing_validation_token',
          'a tenant of the rich notifications has no token',
        );
      }
    }
  }

  return { verifyToken, verifyCollection };
}

/** The tid claim of an unverified JWT (only to choose the issuer to verify against). */
function tenantOf(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part || part.length > 16_384) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as {
      tid?: unknown;
      iss?: unknown;
    };
    const tid = typeof claims.tid === 'string' ? claims.tid : undefined;
    return tid && GUID.test(tid) ? tid.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}
