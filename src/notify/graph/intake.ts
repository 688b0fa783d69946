/**
 * What Graph POSTs to a registration's notification and lifecycle URLs, made durable before it
 * is acknowledged (DESIGN decision 2): 202 once the outbox rows and subscription changes are
 * committed; a failure on Herald's side throws (500, Graph tries again).
 *
 * Every item is authenticated by its clientState against the stored hash; an item with a wrong
 * one, or from another subscription, is dropped and counted. Rich notifications (delegated
 * subscriptions) must come with valid validationTokens and an encryptedContent whose HMAC
 * matches; the ciphertext goes into the outbox as it came (only Herald's certificate opens it),
 * never the subject or sender in clear.
 *
 * Lifecycle events: reauthorizationRequired and subscriptionRemoved make the subscription due at
 * once for the renewal job (which reauthorizes or re-creates it, or asks the device for a token);
 * missed queues a badge refresh (app-only) or a checkin push (delegated: the device's next
 * check-in with a token refreshes the count).
 */
import {
  type ChangeNotification,
  decryptMessage,
  GraphNotificationError,
  type LifecycleNotification,
  parseNotifications,
} from '../../exchange/graph/index.ts';
import type { Logger } from '../../log/index.ts';
import type { Metrics } from '../../metrics/index.ts';
import type {
  GraphSubscriptionPatch,
  GraphSubscriptionRecord,
  NewOutboxEvent,
  Registration,
  Store,
} from '../../store/index.ts';
import type { GraphEncryptionKeys } from './encryption-keys.ts';
import type { GraphSubscriptions } from './subscriptions.ts';

export type GraphIntakeAnswer =
  | { status: 202 }
  | {
      status: 400 | 403 | 413;
      code: 'invalid_notification' | 'invalid_client_state' | 'payload_too_large';
      message: string;
    };

type Rejection =
  | 'client_state'
  | 'unknown_subscription'
  | 'unknown_registration'
  | 'validation_token'
  | 'encrypted_content';

export interface GraphIntakeOptions {
  store: Store;
  subscriptions: GraphSubscriptions;
  keys: GraphEncryptionKeys;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
  maxBodyBytes: number;
  /** New outbox rows are durable (the delivery workers wake up). */
  onEnqueued?: () => void;
  /** A subscription became due for the renewal job (lifecycle event). */
  onRenewalDue?: () => void;
}

/** The outbox payload of a Graph new-mail event. */
export interface GraphOutboxPayload {
  events: string[];
  /** Delegated subscriptions: the notification's encryptedContent, as Graph sent it. */
  encryptedContent?: ChangeNotification['encryptedContent'];
  /** A badge refresh whose count is known already (from a check-in). */
  unread?: number;
}

export class GraphIntake {
  readonly #o: GraphIntakeOptions;
  readonly #now: () => number;

  constructor(options: GraphIntakeOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Handle one POST body for registration `registrationId`. Throws only on Herald's own failures. */
  async accept(registrationId: string, body: unknown): Promise<GraphIntakeAnswer> {
    let collection: ReturnType<typeof parseNotifications>;
    try {
      collection = parseNotifications(body, { maxBytes: this.#o.maxBodyBytes });
    } catch (error) {
      if (!(error instanceof GraphNotificationError)) throw error;
      this.#o.logger.info({ registrationId, reason: error.reason }, 'graph: malformed notification body');
      return error.reason === 'too_large'
        ? { status: 413, code: 'payload_too_large', message: error.message }
        : { status: 400, code: 'invalid_notification', message: error.message };
    }
    const items = collection.changes.length + collection.lifecycle.length;
    const registration = await this.#o.store.registrations.get(registrationId);
    const record = registration && (await this.#o.store.graphSubscriptions.get(registrationId));
    if (!registration || !record || registration.state === 'dead' || registration.state === 'inactive') {
      // A deleted registration's subscription may call until it expires (a delegated one cannot
      // be deleted without the device's token): acknowledged and dropped, so Graph does not retry.
      this.#count(collection, 'unknown_registration');
      this.#o.logger.info(
        { registrationId, items },
        'graph: notification for an unknown or ended registration: dropped',
      );
      return { status: 202 };
    }

    const rejected = new Map<Rejection, number>();
    const reject = (reason: Rejection, kind: 'change' | 'lifecycle') => {
      rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
      this.#o.metrics?.graphNotifications.inc({ kind, result: reason });
    };
    const authentic = <T extends { subscriptionId: string; clientState: string | undefined }>(
      item: T,
      kind: 'change' | 'lifecycle',
    ): boolean => {
      if (!this.#o.subscriptions.checkClientState(record, item.clientState)) {
        reject('client_state', kind);
        return false;
      }
      // The subscription id is not stored yet while it is being made (or re-made): the clientState
      // alone then speaks for it.
      const idPending = record.subscriptionId === null || record.nextClientStateHash !== null;
      if (!idPending && item.subscriptionId !== record.subscriptionId) {
        reject('unknown_subscription', kind);
        return false;
      }
      return true;
    };
    let changes = collection.changes.filter((c) => authentic(c, 'change'));
    const lifecycle = collection.lifecycle.filter((l) => authentic(l, 'lifecycle'));

    const rich = changes.filter((c) => c.encryptedContent !== undefined);
    const unreadMails = new Set<string>();
    if (rich.length > 0) {
      const ok = await this.#verifyRich(registration, record, collection, rich, unreadMails);
      if (!ok.tokens) {
        for (let i = 0; i < rich.length; i++) reject('validation_token', 'change');
        changes = changes.filter((c) => c.encryptedContent === undefined);
      } else {
        for (let i = 0; i < ok.tampered.size; i++) reject('encrypted_content', 'change');
        changes = changes.filter((c) => !ok.tampered.has(c));
      }
    }
    if (changes.length + lifecycle.length === 0 && rejected.size > 0) {
      const clientState = rejected.has('client_state') && rejected.size === 1;
      this.#o.logger.warn(
        { registrationId, rejected: Object.fromEntries(rejected) },
        'graph: every notification item was rejected',
      );
      return clientState
        ? {
            status: 403,
            code: 'invalid_client_state',
            message: 'The clientState does not match the subscription.',
          }
        : { status: 400, code: 'invalid_notification', message: 'The notification did not pass validation.' };
    }
    await this.#store(registration, record, changes, lifecycle, unreadMails);
    return { status: 202 };
  }

  /** Validation tokens of the collection, then each item's HMAC (and whether its mail is unread). */
  async #verifyRich(
    registration: Registration,
    record: GraphSubscriptionRecord,
    collection: ReturnType<typeof parseNotifications>,
    rich: ChangeNotification[],
    unreadMails: Set<string>,
  ): Promise<{ tokens: boolean; tampered: Set<ChangeNotification> }> {
    const tampered = new Set<ChangeNotification>();
    const appIds = [
      record.applicationId,
      this.#o.subscriptions.access.tenant(registration.tenantId)?.appClientId,
    ].filter((a): a is string => typeof a === 'string' && a.length > 0);
    try {
      if (appIds.length === 0)
        throw new GraphNotificationError('invalid_validation_token', 'no app id to check the tokens against');
      await this.#o.subscriptions.access.verifier(appIds).verifyCollection({ ...collection, changes: rich });
    } catch (error) {
      if (!(error instanceof GraphNotificationError)) throw error;
      this.#o.logger.warn(
        { registrationId: registration.id, reason: error.reason, why: error.message },
        'graph: validation tokens of a rich notification refused',
      );
      return { tokens: false, tampered };
    }
    for (const change of rich) {
      const content = change.encryptedContent!;
      try {
        const ring = await this.#o.keys.ring(content.encryptionCertificateId);
        const message = decryptMessage(content, ring);
        if (message.isRead !== true) unreadMails.add(change.messageId);
      } catch (error) {
        if (!(error instanceof GraphNotificationError)) throw error;
        tampered.add(change);
        this.#o.logger.warn(
          { registrationId: registration.id, reason: error.reason },
          'graph: the encrypted content of a notification is not valid: dropped',
        );
      }
    }
    return { tokens: true, tampered };
  }

  async #store(
    registration: Registration,
    record: GraphSubscriptionRecord,
    changes: ChangeNotification[],
    lifecycle: LifecycleNotification[],
    unreadMails: Set<string>,
  ): Promise<void> {
    const now = this.#now();
    const rows: NewOutboxEvent[] = [];
    const delegated = record.auth === 'delegated';
    for (const change of changes) {
      if (change.changeType === 'created') {
        const payload: GraphOutboxPayload = { events: ['created'] };
        if (change.encryptedContent) payload.encryptedContent = change.encryptedContent;
        rows.push({
          registrationId: registration.id,
          kind: 'new_mail',
          itemId: change.messageId,
          // A retried notification lands on the same row.
          dedupeKey: `mail:${change.messageId}`,
          payload,
          availableAt: now,
        });
      } else if (!delegated) {
        // A change that is not a new mail may move the badge (app-only can read the count).
        rows.push({
          registrationId: registration.id,
          kind: 'badge_refresh',
          itemId: null,
          dedupeKey: `badge:${change.messageId}:${change.changeType}:${now}`,
          payload: { events: [change.changeType] },
          availableAt: now,
        });
      }
    }
    let patch: GraphSubscriptionPatch | undefined;
    const events = new Set(lifecycle.map((l) => l.lifecycleEvent));
    if (events.has('subscriptionRemoved')) patch = { state: 'removed', renewAt: now };
    else if (events.has('reauthorizationRequired')) patch = { state: 'reauthorize', renewAt: now };
    if (events.has('missed')) {
      rows.push(
        delegated
          ? {
              registrationId: registration.id,
              kind: 'checkin',
              itemId: null,
              dedupeKey: `checkin:graph-missed:${now}`,
              payload: { events: ['missed'] },
              availableAt: now,
            }
          : {
              registrationId: registration.id,
              kind: 'badge_refresh',
              itemId: null,
              dedupeKey: `missed:${now}`,
              payload: { events: ['missed'] },
              availableAt: now,
            },
      );
    }
    const last = lifecycle.at(-1);
    // Delegated: nothing can read the Inbox now, so each new unread mail moves the last known
    // count on (a check-in with a token sets it right); a retried notification's rows are not new.
    const counted = delegated
      ? rows.filter((r) => r.kind === 'new_mail' && unreadMails.has(r.itemId ?? ''))
      : [];
    const others = rows.filter((r) => !counted.includes(r));
    let enqueued = 0;
    let fresh = 0;
    await this.#o.store.transaction(async (tx) => {
      if (counted.length > 0) fresh = await tx.outbox.enqueue(counted);
      if (others.length > 0) enqueued = await tx.outbox.enqueue(others);
      enqueued += fresh;
      if (patch || last) {
        await tx.graphSubscriptions.update(registration.id, {
          ...patch,
          ...(last ? { lastLifecycleEvent: last.lifecycleEvent, lastLifecycleAt: now } : {}),
        });
      }
      await tx.registrations.update(registration.id, { lastSeenAt: now });
      if (fresh > 0) await tx.registrations.addUnread(registration.id, fresh);
    });
    if (changes.length > 0)
      this.#o.metrics?.graphNotifications.inc({ kind: 'change', result: 'accepted' }, changes.length);
    for (const l of lifecycle) {
      this.#o.metrics?.graphNotifications.inc({ kind: 'lifecycle', result: 'accepted' });
      this.#o.metrics?.graphLifecycleEvents.inc({ event: l.lifecycleEvent });
      this.#o.logger.info(
        { registrationId: registration.id, subscriptionId: l.subscriptionId, event: l.lifecycleEvent },
        'graph: lifecycle notification',
      );
    }
    if (enqueued > 0) {
      for (const row of rows) this.#o.metrics?.eventsEnqueued.inc({ kind: row.kind });
      this.#o.onEnqueued?.();
    }
    if (patch) this.#o.onRenewalDue?.();
  }

  #count(collection: ReturnType<typeof parseNotifications>, result: Rejection): void {
    const { changes, lifecycle } = collection;
    if (changes.length > 0)
      this.#o.metrics?.graphNotifications.inc({ kind: 'change', result }, changes.length);
    if (lifecycle.length > 0)
      this.#o.metrics?.graphNotifications.inc({ kind: 'lifecycle', result }, lifecycle.length);
  }
}
