/**
 * Subscription lifetimes and when to renew.
 *
 * Maximum expirationDateTime for Outlook message subscriptions, from Microsoft Graph's
 * "subscription resource type" page (learn.microsoft.com/graph/api/resources/subscription,
 * "Maximum length of subscription per resource type", shared with "Set up notifications for
 * changes in resource data", learn.microsoft.com/graph/change-notifications-overview):
 * - Outlook message, event, personal contact: 10,080 minutes (under 7 days);
 * - the same with includeResourceData (rich notifications): 1,440 minutes (under 1 day).
 * Older revisions of that table said 4,230 minutes (under 3 days) for Outlook resources; the
 * values are parameters so a tenant (or a national cloud) can be configured to what it accepts.
 *
 * Renewal policy (`renewAt`): renew once less than a third of the maximum lifetime, or less than
 * 60 minutes, remains, whichever comes first. For 7-day subscriptions that is about 56 hours
 * before expiry (so two days of failed renewals still leave time to repair), for 1-day rich
 * subscriptions 8 hours before. Renewing by PATCH also reauthorizes the subscription
 * (learn.microsoft.com/graph/change-notifications-lifecycle-events).
 */

export interface SubscriptionLimits {
  /** Outlook message subscriptions, minutes (documented: 10 080). */
  maxLifetimeMinutes: number;
  /** With includeResourceData, minutes (documented: 1 440). */
  maxLifetimeMinutesWithResourceData: number;
  /** Requested expirations stay this far inside the maximum, for clock skew (default 5). */
  safetyMarginMinutes: number;
}

export const OUTLOOK_MESSAGE_LIMITS: Readonly<SubscriptionLimits> = Object.freeze({
  maxLifetimeMinutes: 10_080,
  maxLifetimeMinutesWithResourceData: 1_440,
  safetyMarginMinutes: 5,
});

export interface RenewalPolicy {
  /** Renew when less than this fraction of the maximum lifetime remains (default 1/3). */
  fraction: number;
  /** Renew when less than this many minutes remain, whatever the fraction (default 60). */
  minRemainingMinutes: number;
}

export const DEFAULT_RENEWAL_POLICY: Readonly<RenewalPolicy> = Object.freeze({
  fraction: 1 / 3,
  minRemainingMinutes: 60,
});

const MINUTE = 60_000;

function checked(limits: Partial<SubscriptionLimits> = {}): SubscriptionLimits {
  const all = { ...OUTLOOK_MESSAGE_LIMITS, ...limits };
  for (const [name, value] of Object.entries(all)) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number`);
  }
  if (
    all.maxLifetimeMinutes <= all.safetyMarginMinutes ||
    all.maxLifetimeMinutesWithResourceData <= all.safetyMarginMinutes
  ) {
    throw new RangeError('the maximum lifetimes must exceed the safety margin');
  }
  return all;
}

/** The maximum lifetime (ms) for a kind of subscription. */
export function maxLifetimeMs(includeResourceData: boolean, limits?: Partial<SubscriptionLimits>): number {
  const l = checked(limits);
  return (includeResourceData ? l.maxLifetimeMinutesWithResourceData : l.maxLifetimeMinutes) * MINUTE;
}

/** The expirationDateTime to ask for now: the maximum lifetime less the safety margin. */
export function subscriptionExpiration(
  now: Date | number,
  options: { includeResourceData?: boolean; limits?: Partial<SubscriptionLimits> } = {},
): Date {
  const l = checked(options.limits);
  const at = +now + maxLifetimeMs(options.includeResourceData === true, l) - l.safetyMarginMinutes * MINUTE;
  return new Date(at);
}

/**
 * When to renew a subscription expiring at `expiration`: the expiration less
 * max(fraction × maximum lifetime, minRemainingMinutes), but not before `now` (a subscription
 * already inside the window is due at once).
 */
export function renewAt(
  expiration: Date | number,
  now: Date | number,
  options: {
    includeResourceData?: boolean;
    limits?: Partial<SubscriptionLimits>;
    policy?: Partial<RenewalPolicy>;
  } = {},
): Date {
  const policy = { ...DEFAULT_RENEWAL_POLICY, ...options.policy };
  if (!(policy.fraction > 0 && policy.fraction < 1)) throw new RangeError('fraction must be between 0 and 1');
  if (!(policy.minRemainingMinutes >= 0)) throw new RangeError('minRemainingMinutes must be non-negative');
  const exp = +expiration;
  if (!Number.isFinite(exp)) throw new RangeError('expiration must be a valid date');
  const window = Math.max(
    maxLifetimeMs(options.includeResourceData === true, options.limits) * policy.fraction,
    policy.minRemainingMinutes * MINUTE,
  );
  return new Date(Math.max(+now, exp - window));
}

/** Whether a subscription expiring at `expiration` should be renewed at `now`. */
export function needsRenewal(
  expiration: Date | number,
  now: Date | number,
  options: Parameters<typeof renewAt>[2] = {},
): boolean {
  return +renewAt(expiration, now, options) <= +now;
}
