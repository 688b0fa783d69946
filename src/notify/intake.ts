/**
 * Event intake: Exchange's SendNotification callbacks. The answer goes back only after the
 * events are durable in the outbox (DESIGN decision 2); a callback with a wrong key, for an
 * unknown or deleted registration, or for a subscription Herald no longer owns is answered
 * `Unsubscribe`, which is how EWS push subscriptions are ended (MS-OXWSNTIF 3.1.4.1).
 */
import { dataKeyHash, decodeDataKey, digestsEqual, type MasterKey } from '../crypto/index.ts';
import type { EwsEvent, SendNotification, SubscriptionStatus } from '../exchange/ews/index.ts';
import type { Logger } from '../log/index.ts';
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
    if (statusOnly) {
      // Status pings only prove the subscription is alive: batched last-seen writes.
      this.#o.lastSeen.touch(registration.id, now);
    } else {
      const rows = this.#outboxRows(registration, key, notification.events, now);
      let enqueued = 0;
      await this.#o.store.transaction(async (tx) => {
        if (rows.length > 0) enqueued = await tx.outbox.enqueue(rows);
        await tx.registrations.update(registration.id, {
          ...(lastWatermark !== undefined ? { watermark: lastWatermark } : {}),
          ...(unreadCount !== undefined ? { unreadCount } : {}),
          lastSeenAt: now,
        });
      });
      if (enqueued > 0) this.#o.onEnqueued?.();
    }
    return 'OK';
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
    const wrappedKey = this.#o.master.seal(key, OUTBOX_KEY_PURPOSE, registration.id);
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
