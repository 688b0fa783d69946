/**
 * The Graph side of registrations (notify/registrations.ts does what both sources share: the
 * push app check, the identity claim, the pending row):
 * - subscribe a new registration's mailbox, with the tenant's app or the device's token;
 * - a check-in: app-only subscriptions are Herald's to keep, so it only nudges the renewal job;
 *   a delegated one uses the fresh token to renew (or re-create) the subscription and to read
 *   the true unread count (a badge update when it moved), then drops the token;
 * - unregister: delete the subscription at Graph (app-only; a delegated one cannot be deleted
 *   without a token and ends at its expiration, its notifications dropped meanwhile).
 */
import { HeraldError } from '../../errors/index.ts';
import { GraphRequestError, maxLifetimeMs, toHeraldError } from '../../exchange/graph/index.ts';
import type { Logger } from '../../log/index.ts';
import type { Metrics } from '../../metrics/index.ts';
import type { GraphSubscriptionRecord, Registration, Store } from '../../store/index.ts';
import type { CredentialsPayload } from '../account.ts';
import type { GraphCaller, GraphSubscriptions } from './subscriptions.ts';

/** A delegated subscription is renewed at a check-in once it is this much older than a fresh one. */
const CHECKIN_RENEW_AFTER_MS = 60 * 60_000;

export type GraphCheckinState = 'active' | 'resubscribed' | 'needs_credentials';

export class GraphRegistrationFlows {
  readonly subscriptions: GraphSubscriptions;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #now: () => number;
  readonly #onRenewalDue: (() => void) | undefined;
  readonly #onEnqueued: (() => void) | undefined;

  constructor(options: {
    store: Store;
    subscriptions: GraphSubscriptions;
    logger: Logger;
    metrics?: Metrics;
    now?: () => number;
    onRenewalDue?: () => void;
    onEnqueued?: () => void;
  }) {
    this.subscriptions = options.subscriptions;
    this.#store = options.store;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#now = options.now ?? Date.now;
    this.#onRenewalDue = options.onRenewalDue;
    this.#onEnqueued = options.onEnqueued;
  }

  /** Whether the tenant uses app-only access (else: delegated tokens from devices). */
  isAppOnly(tenantId: string): boolean {
    return this.subscriptions.access.tenant(tenantId)?.appClientId !== undefined;
  }

  /** The caller for a registration request: the tenant's app, or the device's Graph token. */
  caller(tenantId: string, credentials: CredentialsPayload | undefined): GraphCaller {
    if (!this.subscriptions.access.tenant(tenantId)) throw new HeraldError('graph_not_configured');
    if (this.isAppOnly(tenantId)) return { auth: 'app' };
    if (!credentials) {
      throw new HeraldError('credentials_required', {
        message:
          'This tenant uses delegated Graph access: account.credentials must carry the device\'s Graph access token ({"type":"oauth","accessToken":"..."}).',
      });
    }
    if (credentials.type !== 'oauth') {
      throw new HeraldError('invalid_credentials_payload', {
        message: 'Microsoft Graph takes an OAuth access token: {"type":"oauth","accessToken":"..."}.',
      });
    }
    return { auth: 'delegated', accessToken: credentials.accessToken };
  }

  /** Subscribe; Graph's and Entra's refusals become the device API's 502 errors. */
  async subscribe(
    registration: { id: string; tenantId: string },
    mailbox: string,
    caller: GraphCaller,
  ): Promise<{ record: GraphSubscriptionRecord; unreadCount: number | undefined }> {
    let record: GraphSubscriptionRecord;
    try {
      record = await this.subscriptions.subscribe(registration, mailbox, caller);
    } catch (error) {
      throw toHeraldError(error);
    }
    return { record, unreadCount: await this.#unread(registration.tenantId, mailbox, caller) };
  }

  /** After a registration replaced another for the same device and mailbox: end the old subscription. */
  async replaced(tenantId: string, subscriptionId: string | null, caller: GraphCaller): Promise<void> {
    if (subscriptionId) await this.subscriptions.remove(tenantId, subscriptionId, caller);
  }

  async checkin(
    registration: Registration,
    mailbox: string,
    credentials: CredentialsPayload | undefined,
  ): Promise<{ state: GraphCheckinState }> {
    const record = await this.#store.graphSubscriptions.get(registration.id);
    const healthy = registration.state === 'active' || registration.state === 'pending';
    if (!record) return { state: 'needs_credentials' };
    if (record.auth === 'app') {
      // Herald keeps app-only subscriptions itself; a device noticing trouble only hurries it.
      if (record.state !== 'active' && record.state !== 'creating') {
        await this.#store.graphSubscriptions.update(registration.id, { renewAt: this.#now() });
        this.#onRenewalDue?.();
      }
      return {
        state: healthy || registration.state === 'needs_credentials' ? 'active' : 'needs_credentials',
      };
    }
    if (!credentials) return { state: healthy ? 'active' : 'needs_credentials' };
    const caller = this.caller(registration.tenantId, credentials);
    const now = this.#now();
    let gone =
      record.state === 'removed' ||
      record.state === 'expired' ||
      record.subscriptionId === null ||
      record.expiresAt === null ||
      record.expiresAt <= now ||
      registration.state === 'dead';
    let action: 'renew' | 'recreate' | undefined;
    try {
      if (!gone && this.#dueAtCheckin(record, registration, now)) {
        action = 'renew';
        try {
          await this.subscriptions.renew(record, registration, caller);
          this.#metrics?.graphRenewals.inc({ action, result: 'ok' });
        } catch (error) {
          if (!(error instanceof GraphRequestError && error.status === 404)) throw error;
          this.#metrics?.graphRenewals.inc({ action, result: 'gone' });
          gone = true;
        }
      }
      if (gone) {
        action = 'recreate';
        await this.subscriptions.recreate(record, registration, mailbox, caller);
        this.#metrics?.graphRenewals.inc({ action, result: 'ok' });
      }
    } catch (error) {
      if (action) this.#metrics?.graphRenewals.inc({ action, result: 'failed' });
      const mapped = toHeraldError(error);
      if (mapped.code === 'exchange_auth_failed') {
        await this.#store.registrations.update(registration.id, { state: 'needs_credentials' });
        this.#logger.info(
          { registrationId: registration.id, details: mapped.details },
          "graph: the device's token was refused at check-in",
        );
        return { state: 'needs_credentials' };
      }
      throw mapped;
    }
    const unread = await this.#unread(registration.tenantId, mailbox, caller);
    await this.#settleCheckin(registration, unread);
    if (gone)
      this.#logger.info({ registrationId: registration.id }, 'graph: subscription created anew at check-in');
    return { state: gone ? 'resubscribed' : 'active' };
  }

  /** Unregister: delete the subscription at Graph where Herald can (app-only). */
  async unregister(registration: Registration): Promise<void> {
    const record = await this.#store.graphSubscriptions.get(registration.id);
    if (record?.auth === 'app' && record.subscriptionId) {
      await this.subscriptions.remove(
        registration.tenantId,
        record.subscriptionId,
        { auth: 'app' },
        record.expiresAt,
      );
    }
  }

  /** Renew at a check-in when Graph asked, the registration waits for a token, or it is over an hour old. */
  #dueAtCheckin(record: GraphSubscriptionRecord, registration: Registration, now: number): boolean {
    if (record.state === 'reauthorize' || registration.state !== 'active') return true;
    const fresh = maxLifetimeMs(record.includeResourceData, this.subscriptions.access.limits);
    return record.expiresAt! - now < fresh - CHECKIN_RENEW_AFTER_MS;
  }

  /** The registration is healthy again; a badge update when the true count differs from the device's. */
  async #settleCheckin(registration: Registration, unread: number | undefined): Promise<void> {
    const now = this.#now();
    let queued = 0;
    await this.#store.transaction(async (tx) => {
      await tx.registrations.update(registration.id, {
        state: 'active',
        lastSeenAt: now,
        silentSince: null,
        checkinSentAt: null,
        deactivatedReason: null,
        ...(unread === undefined ? {} : { unreadCount: unread }),
      });
      if (unread !== undefined && registration.badgeSent !== null && unread !== registration.badgeSent) {
        queued = await tx.outbox.enqueue([
          {
            registrationId: registration.id,
            kind: 'badge_refresh',
            itemId: null,
            dedupeKey: `checkin-badge:${now}`,
            payload: { events: ['checkin'], unread },
            availableAt: now,
          },
        ]);
      }
    });
    if (registration.state !== 'active' && registration.state !== 'pending') {
      this.#metrics?.subscriptionTransitions.inc({ to: 'active' });
    }
    if (queued > 0) {
      this.#metrics?.eventsEnqueued.inc({ kind: 'badge_refresh' });
      this.#onEnqueued?.();
    }
  }

  /** The Inbox unread count with the device's token (delegated), best effort. */
  async #unread(tenantId: string, mailbox: string, caller: GraphCaller): Promise<number | undefined> {
    if (caller.auth !== 'delegated') return undefined;
    try {
      return await this.subscriptions.client(tenantId, caller).getInboxUnreadCount(mailbox);
    } catch (error) {
      this.#logger.info({ code: toHeraldError(error).code }, 'graph: could not read the unread count');
      return undefined;
    }
  }
}
