/**
 * Event intake: Exchange's SendNotification callbacks. The answer goes back only after the
 * events are durable in the outbox (DESIGN decision 2); a callback with a wrong key, for an
 * unknown or deleted registration, or for a subscription Herald no longer owns is answered
 * `Unsubscribe`, which is how EWS push subscriptions are ended (MS-OXWSNTIF 3.1.4.1).
 */
import { dataKeyHash, decodeDataKey, digestsEqual, type MasterKey } from '../crypto/index.ts';
import type { EwsEvent, SendNotification, SubscriptionStatus } from '../exchange/ews/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { NewOutboxEvent, Registration, Store } from '../store/index.ts';
import { parseCallbackSegment } from './callback-url.ts';
import type { LastSeenBatcher } from './last-seen.ts';

export const OUTBOX_KEY_PURPOSE = 'outbox-data-key';

/** Events that mean "a mail arrived in the Inbox" (Exchange sends Created + NewMail for one mail). */
const NEW_MAIL_EVENTS = new Set(['NewMailEvent', 'CreatedEvent']);
/** Events that may change what the badge should show. */
const CHANGE_EVENTS = new Set(['ModifiedEvent', 'DeletedEvent', 'MovedEvent', 'CopiedEvent']);

export interface IntakeOptions {
  store: Store;
  master: MasterKey;
  lastSeen: LastSeenBatcher;
  logger: Logger;
  now?: () => number;
  /** Called after new outbox rows are durable (the delivery workers wake up). */
  onEnqueued?: () => void;
  metrics?: Metrics;
}

export type AuthenticatedCallback = {
  registration: Registration;
  key: Buffer;
  /** The key is the one of a resubscribe in progress (check-in), not the current one. */
  viaNextKey: boolean;
};

export class EventIntake {
  readonly #o: IntakeOptions;
  readonly #now: () => number;

  constructor(options: IntakeOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Check the `{id}.{key}` path segment; undefined means: answer Unsubscribe. */
  async authenticate(segment: string): Promise<AuthenticatedCallback | undefined> {
    const parsed = parseCallbackSegment(segment);
    const key = parsed && decodeDataKey(parsed.encodedKey);
    if (!parsed || !key) return undefined;
    const registration = await this.#o.store.registrations.get(parsed.registrationId);
    if (!registration || registration.state === 'dead' || registration.state === 'inactive') return undefined;
    const presented = dataKeyHash(key);
    if (digestsEqual(registration.keyHash, presented)) return { registration, key, viaNextKey: false };
    if (registration.nextKeyHash !== null && digestsEqual(registration.nextKeyHash, presented)) {
      return { registration, key, viaNextKey: true };
    }
    return undefined;
  }

  /** Make the notification's events durable; returns what to answer Exchange. */
  async accept(callback: AuthenticatedCallback, notification: SendNotification): Promise<SubscriptionStatus> {
    const { registration, key } = callback;
    const current = registration.subscriptionId;
    // A subscription replaced at check-in may still call back with an old key that has been
    // superseded; the key check catches that. A foreign subscription id with a valid key can only
    // be the new subscription of a check-in in progress, whose id is not stored yet.
    if (current && notification.subscriptionId !== current && !callback.viaNextKey) {
      this.#o.logger.info(
        { registrationId: registration.id },
        'callback from a superseded subscription: Unsubscribe',
      );
      return 'Unsubscribe';
    }
    const now = this.#now();
    const lastWatermark = notification.events.findLast((e) => e.watermark)?.watermark;
    const unreadCount = notification.events.findLast((e) => e.unreadCount !== undefined)?.unreadCount;
    const statusOnly = notification.events.every((e) => e.type === 'StatusEvent');
    const gap = this.#gap(callback, notification);
    if (statusOnly && !gap && (lastWatermark === undefined || lastWatermark === registration.watermark)) {
      // Status pings only prove the subscription is alive: batched last-seen writes (which also
      // bring a subscription the watchdog thought silent back to active). A ping that moves the
      // watermark on (Exchange may) is written at once, so the next notification is not a gap.
      this.#o.lastSeen.touch(registration.id, now);
      return 'OK';
    }
    const rows = statusOnly ? [] : this.#outboxRows(registration, key, notification.events, now);
    if (gap) {
      // Events were missed: nothing says which mails they were, but the badge can be made true.
      this.#o.metrics?.watermarkGaps.inc();
      this.#o.logger.warn(
        { registrationId: registration.id, subscriptionId: notification.subscriptionId },
        'PreviousWatermark is not the last watermark seen: Exchange events were missed; refreshing the badge',
      );
      rows.push({
        registrationId: registration.id,
        kind: 'badge_refresh',
        itemId: null,
        dedupeKey: `gap:${notification.previousWatermark}`,
        payload: { events: ['WatermarkGap'], wrappedKey: this.#wrap(registration, key) },
        availableAt: now,
      });
    }
    let enqueued = 0;
    const revived = registration.state === 'silent' || registration.state === 'repairing';
    await this.#o.store.transaction(async (tx) => {
      if (rows.length > 0) enqueued = await tx.outbox.enqueue(rows);
      await tx.registrations.update(registration.id, {
        ...(lastWatermark !== undefined ? { watermark: lastWatermark } : {}),
        ...(unreadCount !== undefined ? { unreadCount } : {}),
        ...(revived ? { state: 'active' as const, silentSince: null, checkinSentAt: null } : {}),
        lastSeenAt: now,
      });
    });
    if (revived) this.#o.metrics?.subscriptionTransitions.inc({ to: 'active' });
    if (enqueued > 0) {
      for (const row of rows) this.#o.metrics?.eventsEnqueued.inc({ kind: row.kind });
      this.#o.onEnqueued?.();
    }
    return 'OK';
  }

  /**
   * Watermark continuity: each notification names the watermark of the last event Exchange knows
   * the subscriber acknowledged. When that is not the last one Herald stored, events were lost in
   * between. A retry of a notification Herald stored but whose answer never reached Exchange is
   * not a gap: its events run up to the stored watermark.
   */
  #gap(callback: AuthenticatedCallback, notification: SendNotification): boolean {
    const { registration } = callback;
    const previous = notification.previousWatermark;
    const stored = registration.watermark;
    // A resubscribe in progress calls with the new subscription, whose watermark is not stored yet.
    if (callback.viaNextKey || !previous || !stored || previous === stored) return false;
    return !notification.events.some((e) => e.watermark === stored);
  }

  #wrap(registration: Registration, key: Buffer): string {
    return this.#o.master.seal(key, OUTBOX_KEY_PURPOSE, registration.id);
  }

  #outboxRows(registration: Registration, key: Buffer, events: EwsEvent[], now: number): NewOutboxEvent[] {
    const newMailItems = new Map<string, EwsEvent[]>();
    const changes: EwsEvent[] = [];
    for (const event of events) {
      if (NEW_MAIL_EVENTS.has(event.type) && event.itemId) {
        const list = newMailItems.get(event.itemId) ?? [];
        list.push(event);
        newMailItems.set(event.itemId, list);
      } else if (CHANGE_EVENTS.has(event.type)) {
        changes.push(event);
      }
    }
    // The data key travels with the row (sealed under the master key, never in clear), so a
    // worker can fetch subject and sender after a restart; it is erased when the row completes.
    const wrappedKey = this.#wrap(registration, key);
    const rows: NewOutboxEvent[] = [];
    for (const [itemId, itemEvents] of newMailItems) {
      rows.push({
        registrationId: registration.id,
        kind: 'new_mail',
        itemId,
        // One row per (registration, item): a retried notification or the Created + NewMail pair
        // of one mail lands on the same key and is ignored.
        dedupeKey: `mail:${itemId}`,
        payload: { events: itemEvents.map((e) => e.type), wrappedKey },
        availableAt: now,
      });
    }
    // A folder ModifiedEvent that comes with a new mail only repeats its badge change.
    const relevantChanges = changes.filter((e) => !(newMailItems.size > 0 && e.folderId && !e.itemId));
    if (relevantChanges.length > 0) {
      const last = relevantChanges.at(-1)!;
      rows.push({
        registrationId: registration.id,
        kind: 'badge_refresh',
        itemId: null,
        dedupeKey: `badge:${last.watermark ?? `${now}`}`,
        payload: { events: relevantChanges.map((e) => e.type), wrappedKey },
        availableAt: now,
      });
    }
    return rows;
  }
}
