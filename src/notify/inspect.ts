/**
 * The read side of subscription health: what the admin API and `herald registrations` show
 * about registrations, computed in one place so both show the same thing. It answers an IT
 * admin's question "why does this mailbox get no pushes?" with a readable `health` sentence.
 *
 * Never output: the push token in full (only its last characters), the account or mailbox
 * ciphertext, key hashes, the email hash. A filter by mailbox address hashes the address the
 * way registrations are stored (a keyed hash), so the address itself is never looked up.
 */
import { identifierHash, type MasterKey } from '../crypto/index.ts';
import type {
  ContentPolicy,
  Delivery,
  DeliveryStatus,
  GraphSubscriptionRecord,
  MailProvider,
  OutboxStatus,
  Platform,
  PushEnvironment,
  PushProvider,
  Registration,
  RegistrationFilter,
  RegistrationState,
  Store,
} from '../store/index.ts';

/** Every registration state, in lifecycle order (for validation and for counts). */
export const REGISTRATION_STATES = [
  'pending',
  'active',
  'silent',
  'repairing',
  'needs_credentials',
  'dead',
  'inactive',
] as const satisfies readonly RegistrationState[];

// Fails to compile when a state is added to the store but not to the list above.
type MissingState = Exclude<RegistrationState, (typeof REGISTRATION_STATES)[number]>;
const allStatesListed: MissingState extends never ? true : never = true;
void allStatesListed;

export const PLATFORMS = ['ios', 'android'] as const satisfies readonly Platform[];

/** How many deliveries `show` lists. */
export const RECENT_DELIVERIES = 10;
/** Largest page `list` returns. */
export const MAX_PAGE = 500;

export interface RegistrationSummary {
  id: string;
  tenantId: string;
  platform: Platform;
  appId: string;
  environment: PushEnvironment;
  provider: MailProvider;
  state: RegistrationState;
  /** Only the last characters, e.g. `…a1b2c3`. */
  pushToken: string;
  statusFrequencyMinutes: number;
  /** ISO 8601 times, or null. */
  lastSeenAt: string | null;
  silentSince: string | null;
  checkinSentAt: string | null;
  deactivatedReason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliverySummary {
  at: string;
  status: DeliveryStatus;
  provider: PushProvider;
  latencyMs: number;
  error: string | null;
  /** Shortened; null for pushes about no item (check-in requests, badge updates). */
  itemId: string | null;
}

export interface RegistrationDetail extends RegistrationSummary {
  /** One sentence: what the state means for this registration now, and what happens next. */
  health: string;
  /** The registration's own content policy; null: the tenant's applies. */
  contentPolicy: ContentPolicy | null;
  unreadCount: number | null;
  badgeSent: number | null;
  subscriptionId: string | null;
  /** Outbox events of this registration per status. */
  outbox: Record<OutboxStatus, number>;
  /** The last {@link RECENT_DELIVERIES} deliveries, newest first. */
  deliveries: DeliverySummary[];
  /** The Microsoft Graph subscription (provider `graph`); null for EWS. */
  graph: GraphSubscriptionSummary | null;
}

export interface GraphSubscriptionSummary {
  auth: 'app' | 'delegated';
  state: GraphSubscriptionRecord['state'];
  subscriptionId: string | null;
  includeResourceData: boolean;
  expiresAt: string | null;
  /** When the renewal job next looks at it (null: when the device next checks in). */
  renewAt: string | null;
  renewalFailures: number;
  lastError: string | null;
  lastLifecycleEvent: string | null;
  lastLifecycleAt: string | null;
}

export interface InspectFilter {
  tenantId?: string;
  state?: RegistrationState;
  /** A mailbox address; matched through its keyed hash. */
  email?: string;
  platform?: Platform;
}

export interface InspectPage {
  /** 1..{@link MAX_PAGE}. */
  limit: number;
  /** Keyset pagination: the `next` of the previous page. */
  afterId?: string;
}

export interface RegistrationPage {
  registrations: RegistrationSummary[];
  /** Pass as `afterId` for the next page; null when this page is the last. */
  next: string | null;
}

export interface HealthOverview {
  /** Registrations per state, every state present (0 when none). */
  registrations: Record<RegistrationState, number>;
  /** Outbox events per status. */
  outbox: Record<OutboxStatus, number>;
}

export interface RegistrationInspectorOptions {
  store: Store;
  master: MasterKey;
  now?: () => number;
  /** The watchdog's thresholds, for the health text (defaults: the configuration's defaults). */
  watchdog?: { silentAfterPeriods: number; deadAfterHours: number };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export class RegistrationInspector {
  readonly #store: Store;
  readonly #emailKey: Buffer;
  readonly #now: () => number;
  readonly #silentAfterPeriods: number;
  readonly #deadAfterHours: number;

  constructor(options: RegistrationInspectorOptions) {
    this.#store = options.store;
    // The same key and kind as RegistrationService.emailHash, so a filter finds stored rows.
    this.#emailKey = options.master.derive('identifier-hash');
    this.#now = options.now ?? Date.now;
    this.#silentAfterPeriods = options.watchdog?.silentAfterPeriods ?? 2;
    this.#deadAfterHours = options.watchdog?.deadAfterHours ?? 72;
  }

  async list(filter: InspectFilter, page: InspectPage): Promise<RegistrationPage> {
    const limit = Math.min(Math.max(1, Math.floor(page.limit)), MAX_PAGE);
    const storeFilter: RegistrationFilter = {
      ...(filter.tenantId !== undefined ? { tenantId: filter.tenantId } : {}),
      ...(filter.state !== undefined ? { state: filter.state } : {}),
      ...(filter.platform !== undefined ? { platform: filter.platform } : {}),
      ...(filter.email !== undefined
        ? { emailHash: identifierHash(this.#emailKey, 'email', filter.email) }
        : {}),
    };
    // One row more than asked tells whether there is a next page, without a second query.
    const rows = await this.#store.registrations.list(storeFilter, {
      limit: limit + 1,
      ...(page.afterId !== undefined ? { afterId: page.afterId } : {}),
    });
    const shown = rows.slice(0, limit);
    return {
      registrations: shown.map((r) => summarize(r)),
      next: rows.length > limit ? shown[shown.length - 1]!.id : null,
    };
  }

  /** With `tenantId`, only a registration of that tenant. @returns undefined when there is none. */
  async show(id: string, tenantId?: string): Promise<RegistrationDetail | undefined> {
    const registration =
      tenantId === undefined
        ? await this.#store.registrations.get(id)
        : await this.#store.registrations.getForTenant(tenantId, id);
    if (!registration) return undefined;
    const [outbox, deliveries, graph] = await Promise.all([
      this.#store.outbox.countByStatus(registration.id),
      this.#store.deliveries.listForRegistration(registration.id),
      registration.provider === 'graph'
        ? this.#store.graphSubscriptions.get(registration.id)
        : Promise.resolve(undefined),
    ]);
    const recent = deliveries.slice(0, RECENT_DELIVERIES);
    return {
      ...summarize(registration),
      health: graph ? this.graphHealth(registration, graph) : this.health(registration, recent[0]),
      contentPolicy: registration.contentPolicy,
      unreadCount: registration.unreadCount,
      badgeSent: registration.badgeSent,
      subscriptionId: registration.subscriptionId,
      outbox,
      deliveries: recent.map((d) => summarizeDelivery(d, registration)),
      graph: graph
        ? {
            auth: graph.auth,
            state: graph.state,
            subscriptionId: graph.subscriptionId,
            includeResourceData: graph.includeResourceData,
            expiresAt: iso(graph.expiresAt),
            renewAt: iso(graph.renewAt),
            renewalFailures: graph.renewalFailures,
            lastError: graph.lastError,
            lastLifecycleEvent: graph.lastLifecycleEvent,
            lastLifecycleAt: iso(graph.lastLifecycleAt),
          }
        : null,
    };
  }

  /** The health sentence of a Graph registration. */
  graphHealth(r: Registration, g: GraphSubscriptionRecord): string {
    const now = this.#now();
    const expires = g.expiresAt === null ? 'no expiration yet' : `expires ${time(g.expiresAt)}`;
    const who = g.auth === 'app' ? "the tenant's application" : "the device's token (delegated)";
    const failing =
      g.renewalFailures > 0
        ? ` The last ${plural(g.renewalFailures, 'renewal')} failed (${g.lastError ?? 'unknown'}).`
        : '';
    if (r.state === 'dead' || r.state === 'inactive' || r.state === 'pending') return this.health(r);
    if (r.state === 'needs_credentials' || (g.auth === 'delegated' && g.state !== 'active')) {
      const asked =
        r.checkinSentAt === null ? '' : ` (asked at ${time(r.checkinSentAt)}, ${ago(now - r.checkinSentAt)})`;
      return `Graph subscription ${g.state}, ${expires}: waiting for the device to check in with a fresh Graph token${asked}, which renews or re-creates it.`;
    }
    switch (g.state) {
      case 'creating':
        return 'Herald is creating the Graph subscription.';
      case 'active':
        return `Graph subscription active with ${who}, ${expires}; ${g.renewAt === null ? 'renewed at the next check-in' : `renewal due ${time(g.renewAt)}`}.${failing}`;
      case 'reauthorize':
        return `Graph asked for reauthorization${g.lastLifecycleAt === null ? '' : ` at ${time(g.lastLifecycleAt)}`}; the renewal job answers it.${failing}`;
      case 'removed':
      case 'expired':
        return `Graph subscription ${g.state}; the renewal job creates a new one.${failing}`;
    }
  }

  /** Counts for a dashboard: registrations per state, outbox events per status. */
  async overview(): Promise<HealthOverview> {
    const [byState, outbox] = await Promise.all([
      this.#store.registrations.countByState(),
      this.#store.outbox.countByStatus(),
    ]);
    const registrations = Object.fromEntries(REGISTRATION_STATES.map((s) => [s, byState[s] ?? 0])) as Record<
      RegistrationState,
      number
    >;
    return { registrations, outbox };
  }

  /** The health sentence of one registration; `latest` is its newest delivery, if any. */
  health(r: Registration, latest?: Delivery): string {
    const now = this.#now();
    const every = duration(r.statusFrequencyMinutes * MINUTE);
    const silentRule = `no callback from Exchange for ${this.#silentAfterPeriods} × StatusFrequency (${this.#silentAfterPeriods} × ${every})`;
    const asked =
      r.checkinSentAt === null ? undefined : `${time(r.checkinSentAt)} (${ago(now - r.checkinSentAt)})`;
    const deadAt = r.silentSince === null ? undefined : r.silentSince + this.#deadAfterHours * HOUR;
    const deadline =
      deadAt === undefined
        ? ''
        : `; without a check-in it becomes dead at ${time(deadAt)} (after ${duration(this.#deadAfterHours * HOUR)})`;
    const silentFor =
      r.silentSince === null ? 'Silent' : `Silent since ${time(r.silentSince)} (${ago(now - r.silentSince)})`;
    const reason = r.deactivatedReason === null ? undefined : scrub(r.deactivatedReason, r);

    switch (r.state) {
      case 'pending':
        return `Being created since ${time(r.createdAt)} (${ago(now - r.createdAt)}): Herald is waiting for Exchange to accept the subscription; a registration left here was interrupted and is removed.`;
      case 'active': {
        let text: string;
        if (r.lastSeenAt === null) {
          text = `Subscribed at Exchange; no callback yet (it pings every ${every}).`;
        } else {
          const since = now - r.lastSeenAt;
          text =
            since > this.#silentAfterPeriods * r.statusFrequencyMinutes * MINUTE
              ? `Exchange last called ${ago(since)} although it pings every ${every}: overdue, the watchdog will mark it silent.`
              : `Exchange last called ${ago(since)}; it pings every ${every}.`;
        }
        if (latest && latest.status !== 'sent') {
          text += ` The last push (${time(latest.createdAt)}) ${latest.status === 'unregistered' ? 'was refused: device token unregistered' : 'failed'}${latest.error ? `: ${scrub(latest.error, r)}` : ''}.`;
        }
        return text;
      }
      case 'silent':
        return `${silentFor}: ${silentRule}; ${asked === undefined ? 'the device is about to be asked to check in' : `the device was asked to check in at ${asked}`}${deadline}.`;
      case 'repairing':
        return `${silentFor}: ${silentRule}; the device was asked to check in${asked === undefined ? '' : ` at ${asked}`} and Herald waits for it to check in with fresh credentials, which resubscribes${deadline}.`;
      case 'needs_credentials':
        return `Exchange refused the credentials; waiting for the device to check in with new ones${asked === undefined ? '' : ` (asked at ${asked})`}.`;
      case 'dead':
        return `Dead: ${r.silentSince === null ? 'silent' : `silent since ${time(r.silentSince)}`} and no check-in within ${duration(this.#deadAfterHours * HOUR)}${reason ? ` (${reason})` : ''}; Exchange's callbacks are refused and no pushes are sent until the device checks in with fresh credentials or registers again.`;
      case 'inactive':
        if (reason?.startsWith('push_unregistered')) {
          const detail = reason.replace(/^push_unregistered:?\s*/, '');
          return `The push service no longer knows this device token${detail ? ` (${detail})` : ''}; no pushes are sent until the app registers again with its current token.`;
        }
        return `Deactivated${reason ? ` (${reason})` : ''}; no pushes are sent until the app registers again.`;
    }
  }
}

function summarize(r: Registration): RegistrationSummary {
  return {
    id: r.id,
    tenantId: r.tenantId,
    platform: r.platform,
    appId: r.appId,
    environment: r.environment,
    provider: r.provider,
    state: r.state,
    pushToken: maskToken(r.pushToken),
    statusFrequencyMinutes: r.statusFrequencyMinutes,
    lastSeenAt: iso(r.lastSeenAt),
    silentSince: iso(r.silentSince),
    checkinSentAt: iso(r.checkinSentAt),
    deactivatedReason: r.deactivatedReason === null ? null : scrub(r.deactivatedReason, r),
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

function summarizeDelivery(d: Delivery, r: Registration): DeliverySummary {
  return {
    at: new Date(d.createdAt).toISOString(),
    status: d.status,
    provider: d.provider,
    latencyMs: d.latencyMs,
    error: d.error === null ? null : scrub(d.error, r),
    itemId: d.itemId === null ? null : shorten(d.itemId),
  };
}

/** `…a1b2c3`: the last 6 characters (fewer for a short token: never more than half of it). */
export function maskToken(token: string): string {
  return `…${token.slice(token.length - Math.min(6, Math.floor(token.length / 2)))}`;
}

/** EWS item ids are long; their start and end tell them apart well enough for a human. */
function shorten(itemId: string): string {
  return itemId.length <= 20 ? itemId : `${itemId.slice(0, 6)}…${itemId.slice(-8)}`;
}

/** A text from a push service or the watchdog never carries the full push token out. */
function scrub(text: string, r: Registration): string {
  return r.pushToken.length > 0 ? text.replaceAll(r.pushToken, maskToken(r.pushToken)) : text;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** ISO 8601 to the second, for sentences. */
function time(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A readable length of time: minutes below 2 hours, hours below 2 days, then days. */
export function duration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / MINUTE));
  if (minutes < 120) return plural(minutes, 'minute');
  const hours = Math.round(ms / HOUR);
  if (hours < 48) return plural(hours, 'hour');
  return plural(Math.round(ms / (24 * HOUR)), 'day');
}

/** `3 minutes ago`, `less than a minute ago`. */
export function ago(ms: number): string {
  return ms < MINUTE ? 'less than a minute ago' : `${duration(ms)} ago`;
}
