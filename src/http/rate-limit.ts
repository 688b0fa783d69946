/**
 * Rate limits of the device API: per client IP address, counted before authentication (so
 * guessing API tokens is limited too), and per tenant, counted once the token has named it.
 * Over a limit: 429 `rate_limited` with `Retry-After` in whole seconds.
 *
 * The counters live in this process (fixed one-minute windows in @fastify/rate-limit's LRU
 * store): every node counts on its own, so N nodes behind a load balancer admit up to N times
 * the configured rate (docs/security.md). The client IP is the socket's peer address: Herald
 * does not trust X-Forwarded-For, which a client could rotate to dodge the per-IP limit.
 *
 * Not limited, on purpose: the Exchange callback (Exchange retries what it is refused, so a 429
 * would only delay mail) and `GET /alive` (load balancers poll it).
 */
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HeraldError } from '../errors/index.ts';

export interface RateLimitSettings {
  /** Device API requests one client IP address may make per minute (0: no limit). */
  ipRequestsPerMinute: number;
  /** Device API requests one tenant may make per minute (0: no limit). */
  tenantRequestsPerMinute: number;
}

/** An onRequest hook: resolves when the request may go on, throws `rate_limited` otherwise. */
export type RateLimitHook = (request: FastifyRequest) => Promise<void>;

const WINDOW_MS = 60_000;
/** Clients tracked per limiter; beyond this the least recently seen are forgotten (bounded memory). */
const TRACKED_CLIENTS = 50_000;

export interface DeviceApiRateLimits {
  /** Counts every request by client address; run it before authentication. */
  perIp: RateLimitHook | undefined;
  /** Counts every authenticated request by tenant; run it after authentication. */
  perTenant: RateLimitHook | undefined;
}

/**
 * Build the two limiters in `scope` (the device API's plugin). A limit of 0 is no limiter at
 * all: nothing is counted and no hook is returned.
 */
export async function deviceApiRateLimits(
  scope: FastifyInstance,
  settings: RateLimitSettings,
): Promise<DeviceApiRateLimits> {
  const { ipRequestsPerMinute, tenantRequestsPerMinute } = settings;
  if (ipRequestsPerMinute <= 0 && tenantRequestsPerMinute <= 0)
    return { perIp: undefined, perTenant: undefined };
  // global: false: the plugin limits nothing by itself; the hooks below call the limiters.
  await scope.register(rateLimit, { global: false });

  const limiter = (
    max: number,
    who: string,
    keyGenerator?: (request: FastifyRequest) => string,
  ): RateLimitHook | undefined => {
    if (max <= 0) return undefined;
    const options: RateLimitOptions = {
      max,
      timeWindow: WINDOW_MS,
      cache: TRACKED_CLIENTS,
      // The default key is the socket's address (IPv6 grouped by /64, IPv4-mapped addresses as IPv4).
      ...(keyGenerator ? { keyGenerator } : {}),
    };
    const check = scope.createRateLimit(options);
    return async (request) => {
      const state = await check(request);
      if (state.isAllowed || !state.isExceeded) return;
      const retryAfterSeconds = Math.max(1, state.ttlInSeconds);
      throw new HeraldError('rate_limited', {
        message: `Too many requests ${who}: at most ${max} a minute. Retry in ${retryAfterSeconds} s.`,
        details: { retryAfterSeconds },
      });
    };
  };

  return {
    perIp: limiter(ipRequestsPerMinute, 'from this address'),
    perTenant: limiter(tenantRequestsPerMinute, 'for this tenant', (request) => {
      // Only ever installed after authentication, which sets request.tenant or refuses.
      if (!request.tenant) throw new HeraldError('unauthorized');
      return `tenant:${request.tenant.id}`;
    }),
  };
}
