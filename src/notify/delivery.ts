/**
 * The outbox workers: take due events from the outbox, fetch what the tenant's content policy
 * shows (subject and sender with GetItem, the Inbox unread count with GetFolder), compose, push,
 * and record the delivery. A delivery is idempotent per (registration, item): an event whose
 * item was delivered already completes without a second push, and APNs collapse ids make a push
 * resent after a crash show once.
 *
 * Failures are sorted, never looped on: a transient one (Exchange or the push service busy or
 * unreachable) is retried with bounded exponential backoff; a permanent one ends the event;
 * an unregistered device token deactivates the registration, whose next Exchange callback is
 * then answered Unsubscribe. An event that keeps failing to fetch is still pushed on its last
 * try, without the fetched fields, rather than lost.
 */
import { randomUUID } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';
import { HeraldError } from '../errors/index.ts';
import type { EwsClient, MailItem } from '../exchange/ews/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { PushResult, PushSender } from '../push/index.ts';
import type { ContentPolicy, OutboxEvent, Registration, Store } from '../store/index.ts';
import { ewsTarget, openRegistrationAccount } from './account.ts';
import { compose } from './compose.ts';
import { OUTBOX_KEY_PURPOSE } from './intake.ts';

export interface PushSenderLookup {
  senderFor(tenantId: string, appId: string, platform: 'ios' | 'android'): PushSender | undefined;
}

export interface DeliverySettings {
  workers: number;
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  expirySeconds: number;
  pollMilliseconds: number;
  /** How long a claimed event stays ours before another node may take it. */
  leaseSeconds: number;
}

/** Reads the fields of events from Microsoft Graph mailboxes (provider `graph`). */
export interface GraphFieldSource {
  fetch(
    event: OutboxEvent,
    registration: Registration,
    want: { mail: boolean; unread: boolean },
  ): Promise<Fetched>;
}

export interface DeliveryWorkerOptions {
  store: Store;
  master: MasterKey;
  ews: EwsClient;
  /** Graph mailboxes; without it their events are pushed without fields. */
  graph?: GraphFieldSource;
  senders: PushSenderLookup;
  logger: Logger;
  settings: DeliverySettings;
  /** Names this node's leases, stable across restarts (its events are taken back at start); default a random UUID. */
  owner?: string;
  /** Overrides settings.leaseSeconds (tests). */
  leaseMs?: number;
  now?: () => number;
  metrics?: Metrics;
}

/** What one event came to; returned by process() for tests and metrics. */
export type EventOutcome =
  | 'sent'
  | 'duplicate'
  | 'nothing_to_send'
  | 'registration_gone'
  | 'unregistered'
  | 'retry'
  | 'failed';

interface StoredPayload {
  events?: string[];
  wrappedKey?: string;
}

/** What a worker could read for one event (subject and sender, the unread count) and what went wrong. */
export interface Fetched {
  mail?: MailItem;
  unread?: number;
  /**
   * `unread` is the registration's stored count, not a fresh one (delegated Graph): the push
   * shows it, but it is not written back, so a count moved on meanwhile is not overwritten.
   */
  unreadFromStore?: boolean;
  /** The item is gone (deleted or moved before it could be read): no alert for it. */
  itemGone?: boolean;
  /** Exchange refused the credentials. */
  authFailed?: boolean;
  /** Herald's secure email gateway refused the mailbox (compliance rule): no push at all. */
  blocked?: boolean;
  /** A transient failure left fields unfetched. */
  transient?: HeraldError;
}

const TRANSIENT_EXCHANGE = new Set(['exchange_unreachable', 'exchange_busy', 'unavailable']);

export class DeliveryWorker {
  readonly #o: DeliveryWorkerOptions;
  readonly #now: () => number;
  readonly #owner: string;
  readonly #leaseMs: number;
  /** Events being delivered, by the promise of their delivery. */
  readonly #inFlight = new Map<Promise<void>, number>();
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;

  constructor(options: DeliveryWorkerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#owner = options.owner ?? randomUUID();
    this.#leaseMs = options.leaseMs ?? options.settings.leaseSeconds * 1000;
  }

  get owner(): string {
    return this.#owner;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New events were written: look now instead of at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /**
   * Stop claiming, then wait up to `timeoutMs` for the events in hand. Events still unfinished
   * then are handed back to the outbox (their leases released, the interrupted try uncounted), so
   * another node, or this one after a restart, takes them up at once: never lost. One whose push
   * was already on its way may be pushed again, under the same collapse id (one visible alert).
   */
  async stop(timeoutMs = 10_000): Promise<{ unfinished: number; released: number }> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.#inFlight.keys()]), timeout]);
    clearTimeout(timer);
    const unfinished = [...this.#inFlight.values()];
    let released = 0;
    if (unfinished.length > 0) {
      try {
        released = await this.#o.store.outbox.release(unfinished, this.#owner);
      } catch (error) {
        this.#o.logger.error(
          { err: error },
          'outbox: could not hand back unfinished events; their leases lapse',
        );
      }
    }
    return { unfinished: unfinished.length, released };
  }

  async #run(): Promise<void> {
    const { workers, pollMilliseconds } = this.#o.settings;
    try {
      // Events an earlier run of this node held when it was killed: take them back now rather
      // than after their leases lapse (only a stable owner name, see notification-service, has any).
      const reclaimed = await this.#o.store.outbox.reclaim(this.#owner);
      if (reclaimed > 0)
        this.#o.logger.info({ reclaimed }, 'outbox: took back events a previous run left in hand');
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'outbox: could not take back earlier events; their leases lapse');
    }
    while (this.#running) {
      this.#woken = false;
      const free = workers - this.#inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const events = await this.#claim(free);
          claimed = events.length;
          for (const event of events)
            this.#track(
              event.id,
              this.process(event).then(() => undefined),
            );
        } catch (error) {
          this.#o.logger.error({ err: error }, 'outbox: claiming events failed; retrying at the next poll');
        }
      }
      if (!this.#running) break;
      // More due work may wait when a full batch came back and slots are free: go again at once.
      if (claimed > 0 && claimed === free && this.#inFlight.size < workers) continue;
      if (this.#woken) continue;
      await this.#idle(this.#inFlight.size >= workers ? undefined : pollMilliseconds);
    }
  }

  /** Wait for a wake-up, a freed slot, or the poll interval. */
  async #idle(pollMs: number | undefined): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (pollMs !== undefined) timer = setTimeout(resolve, pollMs);
      // A slot freeing up is a reason to look again.
      for (const p of this.#inFlight.keys()) void p.then(resolve, resolve);
    });
    this.#wake = undefined;
    clearTimeout(timer);
  }

  #track(id: number, promise: Promise<void>): void {
    this.#inFlight.set(promise, id);
    void promise.finally(() => this.#inFlight.delete(promise));
  }

  #claim(limit: number): Promise<OutboxEvent[]> {
    return this.#o.store.outbox.claim({
      owner: this.#owner,
      limit,
      leaseMs: this.#leaseMs,
      now: this.#now(),
    });
  }

  /** Deliver one claimed event. Never throws: every failure ends in a retry or a final state. */
  async process(event: OutboxEvent): Promise<EventOutcome> {
    try {
      return await this.#process(event);
    } catch (error) {
      this.#o.logger.error(
        { err: error, outboxId: event.id, registrationId: event.registrationId },
        'outbox: delivering an event failed unexpectedly',
      );
      return this.#retryOrGiveUp(event, error instanceof Error ? error.message : String(error));
    }
  }

  async #process(event: OutboxEvent): Promise<EventOutcome> {
    const { store, logger } = this.#o;
    const payload = (event.payload ?? {}) as StoredPayload;
    const erased = { events: payload.events ?? [] };
    const registration = await store.registrations.get(event.registrationId);
    if (!registration || registration.state === 'inactive' || registration.state === 'dead') {
      await this.#complete(event, erased);
      return 'registration_gone';
    }
    if (event.kind === 'new_mail' && event.itemId) {
      const previous = await store.deliveries.find(registration.id, event.itemId);
      if (previous && previous.status !== 'failed') {
        await this.#complete(event, erased);
        return 'duplicate';
      }
    }
    const sender = this.#o.senders.senderFor(
      registration.tenantId,
      registration.appId,
      registration.platform,
    );
    if (!sender) {
      logger.warn(
        { registrationId: registration.id, tenantId: registration.tenantId, appId: registration.appId },
        'no push credentials for this app (removed from the configuration?): event dropped',
      );
      await store.outbox.fail(
        event.id,
        'app_not_configured',
        { final: true },
        { owner: this.#owner, payload: erased },
      );
      return 'failed';
    }
    const policy = await this.#policy(registration);
    const fetched = await this.#fetch(event, registration, payload, policy);
    if (fetched.transient && event.attempts < this.#o.settings.maxAttempts) {
      return this.#retryOrGiveUp(event, fetched.transient.code, retryAfterOf(fetched.transient));
    }
    if (fetched.blocked) {
      // A blocked user's notifications stop: the gateway's rule decides, not the push service.
      logger.info(
        { registrationId: registration.id, outboxId: event.id },
        'the gateway blocks this mailbox: no push',
      );
      await store.outbox.fail(
        event.id,
        'mailbox_blocked',
        { final: true },
        { owner: this.#owner, payload: erased },
      );
      return 'failed';
    }
    if (fetched.authFailed) await this.#needsCredentials(registration);

    const kind = event.kind === 'new_mail' && fetched.itemGone ? 'badge_refresh' : event.kind;
    const notification = compose({
      kind,
      policy,
      registrationId: registration.id,
      itemId: event.itemId ?? undefined,
      mail: fetched.mail,
      unread:
        fetched.unread ??
        (fetched.authFailed || fetched.transient ? (registration.unreadCount ?? undefined) : undefined),
      badgeSent: registration.badgeSent,
      expiresAt: this.#now() + this.#o.settings.expirySeconds * 1000,
    });
    // Only a count read from Exchange (or carried by the event) is stored.
    const freshUnread = fetched.unreadFromStore ? undefined : fetched.unread;
    if (!notification) {
      await this.#complete(event, erased, freshUnread === undefined ? {} : { unreadCount: freshUnread });
      return 'nothing_to_send';
    }
    const result = await sender.send(
      {
        platform: registration.platform,
        token: registration.pushToken,
        appId: registration.appId,
        environment: registration.environment,
      },
      notification,
    );
    return this.#settle(event, registration, result, {
      erased,
      badge: notification.badge,
      unread: freshUnread,
    });
  }

  async #settle(
    event: OutboxEvent,
    registration: Registration,
    result: PushResult,
    context: { erased: StoredPayload; badge: number | undefined; unread: number | undefined },
  ): Promise<EventOutcome> {
    const { store, logger, metrics } = this.#o;
    metrics?.pushes.inc({ provider: result.provider, result: result.status });
    metrics?.pushLatency.observe({ provider: result.provider }, result.latencyMs / 1000);
    const log = {
      outboxId: event.id,
      registrationId: registration.id,
      provider: result.provider,
      status: result.status,
      latencyMs: result.latencyMs,
    };
    const delivery = {
      registrationId: registration.id,
      outboxId: event.id,
      itemId: event.itemId,
      provider: result.provider,
      latencyMs: Math.round(result.latencyMs),
    };
    switch (result.status) {
      case 'sent': {
        // A silent subscription whose device has been asked to check in is being repaired.
        const repairing = event.kind === 'checkin' && registration.state === 'silent';
        let repaired: Registration | undefined;
        await store.transaction(async (tx) => {
          await tx.deliveries.record({ ...delivery, status: 'sent', providerId: result.providerId ?? null });
          await tx.registrations.update(registration.id, {
            ...(context.badge === undefined ? {} : { badgeSent: context.badge }),
            ...(context.unread === undefined ? {} : { unreadCount: context.unread }),
          });
          // Only if still silent: a callback may have brought it back to active meanwhile.
          if (repairing) {
            repaired = await tx.registrations.update(
              registration.id,
              { state: 'repairing' },
              { ifState: ['silent'] },
            );
          }
          await tx.outbox.complete(event.id, { owner: this.#owner, payload: context.erased });
        });
        if (repaired) metrics?.subscriptionTransitions.inc({ to: 'repairing' });
        metrics?.notificationDelay.observe(
          { kind: event.kind },
          Math.max(0, this.#now() - event.createdAt) / 1000,
        );
        logger.debug(log, 'push sent');
        return 'sent';
      }
      case 'unregistered': {
        await store.transaction(async (tx) => {
          await tx.deliveries.record({ ...delivery, status: 'unregistered', error: result.reason });
          // The device token is gone: stop. The next Exchange callback is answered Unsubscribe.
          await tx.registrations.update(registration.id, {
            state: 'inactive',
            deactivatedReason: `push_unregistered: ${result.reason}`,
          });
          await tx.outbox.complete(event.id, { owner: this.#owner, payload: context.erased });
        });
        logger.info({ ...log, reason: result.reason }, 'push token unregistered: registration deactivated');
        return 'unregistered';
      }
      case 'retry':
        logger.debug({ ...log, reason: result.reason }, 'push to be retried');
        return this.#retryOrGiveUp(event, result.reason, result.retryAfterMs, delivery);
      case 'failed':
        await store.deliveries.record({ ...delivery, status: 'failed', error: result.reason });
        await store.outbox.fail(
          event.id,
          result.reason,
          { final: true },
          { owner: this.#owner, payload: context.erased },
        );
        logger.warn({ ...log, reason: result.reason }, 'push refused; not retried');
        return 'failed';
    }
  }

  async #retryOrGiveUp(
    event: OutboxEvent,
    reason: string,
    retryAfterMs?: number,
    delivery?: {
      registrationId: string;
      outboxId: number;
      itemId: string | null;
      provider: 'apns' | 'fcm' | 'relay';
      latencyMs: number;
    },
  ): Promise<EventOutcome> {
    const { maxAttempts, retryBaseSeconds, retryMaxSeconds } = this.#o.settings;
    const payload = (event.payload ?? {}) as StoredPayload;
    if (event.attempts >= maxAttempts) {
      if (delivery) await this.#o.store.deliveries.record({ ...delivery, status: 'failed', error: reason });
      await this.#o.store.outbox.fail(
        event.id,
        `${reason} (gave up after ${event.attempts} tries)`,
        { final: true },
        { owner: this.#owner, payload: { events: payload.events ?? [] } },
      );
      this.#o.logger.warn(
        { outboxId: event.id, registrationId: event.registrationId, attempts: event.attempts, reason },
        'push given up after its last try',
      );
      return 'failed';
    }
    const backoffMs = Math.min(retryBaseSeconds * 2 ** (event.attempts - 1), retryMaxSeconds) * 1000;
    const delayMs = Math.max(backoffMs, Math.min(retryAfterMs ?? 0, retryMaxSeconds * 1000));
    await this.#o.store.outbox.fail(
      event.id,
      reason,
      { retryAt: this.#now() + delayMs },
      { owner: this.#owner },
    );
    return 'retry';
  }

  async #complete(
    event: OutboxEvent,
    payload: StoredPayload,
    patch: { unreadCount?: number } = {},
  ): Promise<void> {
    await this.#o.store.transaction(async (tx) => {
      if (patch.unreadCount !== undefined) await tx.registrations.update(event.registrationId, patch);
      await tx.outbox.complete(event.id, { owner: this.#owner, payload });
    });
  }

  async #policy(registration: Registration): Promise<ContentPolicy> {
    if (registration.contentPolicy) return registration.contentPolicy;
    const tenant = await this.#o.store.tenants.get(registration.tenantId);
    return tenant?.contentPolicy ?? 'full';
  }

  async #fetch(
    event: OutboxEvent,
    registration: Registration,
    payload: StoredPayload,
    policy: ContentPolicy,
  ): Promise<Fetched> {
    const wantMail = event.kind === 'new_mail' && policy === 'full' && event.itemId !== null;
    const wantUnread = event.kind !== 'checkin' && policy !== 'silent';
    if (!wantMail && !wantUnread) return {};
    if (registration.provider === 'graph') {
      return this.#o.graph
        ? this.#o.graph.fetch(event, registration, { mail: wantMail, unread: wantUnread })
        : {};
    }
    // Sealed keys are erased once an event ends; an event without one is pushed without fields.
    if (!payload.wrappedKey) return {};
    const key = this.#o.master.open(payload.wrappedKey, OUTBOX_KEY_PURPOSE, registration.id);
    let target: ReturnType<typeof ewsTarget>;
    try {
      target = ewsTarget(openRegistrationAccount(this.#o.master, registration, key));
    } catch {
      // Credentials replaced since (a check-in): the old key opens nothing. Push without fields.
      return {};
    }
    const fetched: Fetched = {};
    const [mail, unread] = await Promise.allSettled([
      wantMail ? this.#o.ews.getItem(target, event.itemId!) : Promise.resolve(undefined),
      wantUnread ? this.#o.ews.getInboxUnreadCount(target) : Promise.resolve(undefined),
    ]);
    if (mail.status === 'fulfilled' && mail.value) fetched.mail = mail.value;
    if (unread.status === 'fulfilled' && unread.value !== undefined) fetched.unread = unread.value;
    for (const outcome of [mail, unread]) {
      if (outcome.status === 'fulfilled') continue;
      const error = outcome.reason;
      if (!(error instanceof HeraldError)) throw error;
      if (error.code === 'exchange_auth_failed') fetched.authFailed = true;
      else if (error.code === 'mailbox_blocked') fetched.blocked = true;
      else if (error.details?.responseCode === 'ErrorItemNotFound') fetched.itemGone = true;
      else if (TRANSIENT_EXCHANGE.has(error.code)) fetched.transient = error;
      else
        this.#o.logger.warn(
          { registrationId: registration.id, code: error.code, responseCode: error.details?.responseCode },
          'Exchange could not give the notification fields; pushing without them',
        );
    }
    return fetched;
  }

  /**
   * Exchange refused the stored credentials (an OAuth token expired): the push goes out without
   * the fetched fields, the registration is marked, and the device is asked once to check in.
   */
  async #needsCredentials(registration: Registration): Promise<void> {
    let queued = 0;
    await this.#o.store.transaction(async (tx) => {
      // checkinSentAt: the watchdog repeats the request from then on, at its own pace.
      await tx.registrations.update(registration.id, {
        state: 'needs_credentials',
        checkinSentAt: this.#now(),
      });
      queued = await tx.outbox.enqueue([
        {
          registrationId: registration.id,
          kind: 'checkin',
          itemId: null,
          // One check-in request per set of credentials (the key hash changes when they do).
          dedupeKey: `checkin:${registration.keyHash.slice(0, 32)}`,
          payload: { events: [] },
        },
      ]);
    });
    if (registration.state !== 'needs_credentials') {
      this.#o.metrics?.subscriptionTransitions.inc({ to: 'needs_credentials' });
    }
    if (queued > 0) this.#o.metrics?.checkinPushesQueued.inc({ reason: 'credentials' });
    this.#o.logger.info(
      { registrationId: registration.id },
      'Exchange refused the credentials: asking the device to check in',
    );
    this.wake();
  }
}

function retryAfterOf(error: HeraldError): number | undefined {
  const value = error.details?.backOffMs;
  return typeof value === 'number' ? value : undefined;
}
