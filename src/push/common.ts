/** Small helpers every sender shares: timing, Retry-After, result logging. */
import type { Logger } from '../log/index.ts';
import type { PushNotification, PushProvider, PushResult, PushSender, PushTarget } from './types.ts';

/** Milliseconds since `start` (a performance.now() reading), rounded. */
export function since(start: number): number {
  return Math.round(performance.now() - start);
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns ms, or undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(
  header: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function retry(
  provider: PushProvider,
  reason: string,
  latencyMs: number,
  retryAfterMs?: number,
): PushResult {
  return retryAfterMs === undefined
    ? { status: 'retry', provider, reason, latencyMs }
    : { status: 'retry', provider, reason, retryAfterMs, latencyMs };
}

/**
 * One line per push: provider, outcome, reason, latency and the registration it was for. Never
 * the device token, the payload's texts, a JWT, an access token or a secret.
 */
export function logResult(logger: Logger | undefined, result: PushResult, n: PushNotification): void {
  if (!logger) return;
  const fields: Record<string, unknown> = {
    provider: result.provider,
    status: result.status,
    pushType: n.type,
    registrationId: n.registrationId,
    latencyMs: result.latencyMs,
  };
  if (result.status !== 'sent') fields.reason = result.reason;
  if (result.status === 'retry' && result.retryAfterMs !== undefined)
    fields.retryAfterMs = result.retryAfterMs;
  if (result.status === 'sent' && result.providerId !== undefined) fields.providerId = result.providerId;
  if (result.status === 'retry' || result.status === 'failed') logger.warn(fields, 'push not delivered');
  else logger.info(fields, result.status === 'sent' ? 'push sent' : 'push token unregistered');
}

/** A sender's `send`: one delivery timed from its start, then its one log line. */
export function loggedSend(
  logger: Logger | undefined,
  deliver: (target: PushTarget, n: PushNotification, start: number) => Promise<PushResult>,
): PushSender['send'] {
  return async (target, n) => {
    const result = await deliver(target, n, performance.now());
    logResult(logger, result, n);
    return result;
  };
}
