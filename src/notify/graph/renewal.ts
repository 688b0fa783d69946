/**
 * The Graph renewal job: keeps every `graph` registration's subscription alive. One node runs it
 * at a time, through the `graph-renewal` lease (DESIGN decision 4); each pass takes the
 * subscriptions whose renewAt has come, soonest first, a bounded number at once.
 *
 * - app-only: renew (PATCH, which also answers reauthorizationRequired), or create anew when
 *   Graph removed it, it expired, or Graph no longer knows it; a failure is tried again with
 *   backoff (1, 2, 4… minutes, at most an hour), its error code kept for `registrations show`.
 * - delegated: Herald holds no token, so the device is asked: the registration goes to
 *   `needs_credentials` and gets a `checkin` push (the watchdog repeats it while the device
 *   stays away); its next check-in with a fresh token renews or re-creates the subscription.
 *   A subscription whose expiration passes meanwhile is marked `expired`.
 * - the subscriptions of deleted registrations whose DELETE failed (graph_deletions): tried again
 *   (1, 2, 4… minutes, at most an hour) until deleted, or dropped once expired at Graph.
 */

import type { MasterKey } from '../../crypto/index.ts';
import { GraphRequestError } from '../../exchange/graph/index.ts';
import { LeasedJob } from '../../jobs/index.ts';
import type { Logger } from '../../log/index.ts';
import type { Metrics } from '../../metrics/index.ts';
import type { GraphSubscriptionRecord, Registration, Store } from '../../store/index.ts';
import { openMailbox } from '../account.ts';
import { type GraphSubscriptions, graphErrorCode } from './subscriptions.ts';

export const GRAPH_RENEWAL_LEASE = 'graph-renewal';
const MAX_BACKOFF_MS = 60 * 60_000;

export interface GraphRenewalSettings {
  intervalSeconds: number;
  batchSize: number;
  concurrency: number;
}

export interface GraphRenewalOptions {
  store: Store;
  subscriptions: GraphSubscriptions;
  master: MasterKey;
  logger: Logger;
  settings: GraphRenewalSettings;
  owner: string;
  now?: () => number;
  metrics?: Metrics;
  /** checkin pushes were queued (the delivery workers wake up). */
  onEnqueued?: () => void;
}

export type RenewalOutcome = 'renewed' | 'recreated' | 'asked_device' | 'failed' | 'skipped';

export interface GraphRenewalPass {
  renewed: number;
  recreated: number;
  askedDevice: number;
  failed: number;
  skipped: number;
  /** Subscriptions of deleted registrations: deleted at last, or dropped once expired. */
  deleted: number;
  /** Of which the DELETE failed again. */
  deletionsFailed: number;
}

export class GraphRenewalJob {
  readonly #o: GraphRenewalOptions;
  readonly #now: () => number;
  readonly #job: LeasedJob<GraphRenewalPass>;

  constructor(options: GraphRenewalOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#job = new LeasedJob({
      lease: GRAPH_RENEWAL_LEASE,
      leases: options.store.leases,
      owner: options.owner,
      intervalMs: options.settings.intervalSeconds * 1000,
      now: this.#now,
      logger: options.logger,
      failedMessage: 'graph renewal pass failed; trying again at the next interval',
      releaseFailedMessage: 'graph renewal: could not release its lease; it lapses by itself',
      pass: () => this.#pass(),
    });
  }

  start(): void {
    this.#job.start();
  }

  stop(): Promise<void> {
    return this.#job.stop();
  }

  /** One pass now, if this node holds (or can take) the lease; undefined when another node has it. */
  async run(): Promise<GraphRenewalPass | undefined> {
    const outcome = await this.#job.run();
    return outcome.held ? outcome.result : undefined;
  }

  /** Something became due (a lifecycle event): a pass soon, without waiting for the interval. */
  wake(): void {
    this.run().catch((error: unknown) => this.#o.logger.error({ err: error }, 'graph renewal pass failed'));
  }

  async #pass(): Promise<GraphRenewalPass> {
    const { store, settings } = this.#o;
    const due = await store.graphSubscriptions.due(this.#now(), settings.batchSize);
    const pass: GraphRenewalPass = {
      renewed: 0,
      recreated: 0,
      askedDevice: 0,
      failed: 0,
      skipped: 0,
      deleted: 0,
      deletionsFailed: 0,
    };
    const key: Record<RenewalOutcome, keyof GraphRenewalPass> = {
      renewed: 'renewed',
      recreated: 'recreated',
      asked_device: 'askedDevice',
      failed: 'failed',
      skipped: 'skipped',
    };
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const record = due[next++]!;
        pass[key[await this.#handle(record)]]++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, due.length) }, worker));
    const deletions = await this.#deletions(pass);
    if (due.length > 0 || deletions > 0) this.#o.logger.info(pass, 'graph renewal pass');
    return pass;
  }

  /** The DELETEs that failed when their registrations went: once more, with backoff. */
  async #deletions(pass: GraphRenewalPass): Promise<number> {
    const { store, subscriptions, settings, metrics, logger } = this.#o;
    const now = this.#now();
    const due = await store.graphDeletions.due(now, settings.batchSize);
    for (const task of due) {
      const client = subscriptions.access.appClient(task.tenantId);
      // Expired at Graph by now, or its tenant has no application any more: nothing to delete.
      if ((task.expiresAt !== null && task.expiresAt <= now) || !client) {
        await store.graphDeletions.remove(task.subscriptionId);
        metrics?.graphRenewals.inc({ action: 'delete', result: 'gone' });
        pass.deleted++;
        continue;
      }
      try {
        await client.deleteSubscription(task.subscriptionId);
        await store.graphDeletions.remove(task.subscriptionId);
        metrics?.graphRenewals.inc({ action: 'delete', result: 'ok' });
        pass.deleted++;
      } catch (error) {
        const attempts = task.attempts + 1;
        const code = graphErrorCode(error);
        await store.graphDeletions.retryLater(
          task.subscriptionId,
          now + Math.min(60_000 * 2 ** attempts, MAX_BACKOFF_MS),
          code,
        );
        metrics?.graphRenewals.inc({ action: 'delete', result: 'failed' });
        pass.deletionsFailed++;
        logger.warn(
          { err: error, tenantId: task.tenantId, subscriptionId: task.subscriptionId, attempts, code },
          'graph: deleting a subscription failed again; trying later',
        );
      }
    }
    return due.length;
  }

  async #handle(record: GraphSubscriptionRecord): Promise<RenewalOutcome> {
    const { store } = this.#o;
    const registration = await store.registrations.get(record.registrationId);
    if (
      !registration ||
      registration.state === 'dead' ||
      registration.state === 'inactive' ||
      record.state === 'creating'
    ) {
      await store.graphSubscriptions.update(record.registrationId, { renewAt: null });
      return 'skipped';
    }
    if (record.auth === 'delegated') return this.#askDevice(record, registration);
    return this.#maintain(record, registration);
  }

  /** App-only: renew, or create anew when the subscription is gone. */
  async #maintain(record: GraphSubscriptionRecord, registration: Registration): Promise<RenewalOutcome> {
    const { subscriptions, metrics, logger } = this.#o;
    const now = this.#now();
    const gone =
      record.state === 'removed' ||
      record.state === 'expired' ||
      record.subscriptionId === null ||
      (record.expiresAt !== null && record.expiresAt <= now);
    let action: 'renew' | 'recreate' = gone ? 'recreate' : 'renew';
    try {
      if (action === 'renew') {
        try {
          await subscriptions.renew(record, registration, { auth: 'app' });
        } catch (error) {
          if (!(error instanceof GraphRequestError && error.status === 404)) throw error;
          metrics?.graphRenewals.inc({ action: 'renew', result: 'gone' });
          action = 'recreate';
        }
      }
      if (action === 'recreate') {
        const mailbox = openMailbox(this.#o.master, registration).email;
        await subscriptions.recreate(record, registration, mailbox, { auth: 'app' });
        logger.info(
          { registrationId: registration.id, previous: record.subscriptionId, reason: record.state },
          'graph: subscription created anew',
        );
      }
      metrics?.graphRenewals.inc({ action, result: 'ok' });
      return action === 'renew' ? 'renewed' : 'recreated';
    } catch (error) {
      const failures = record.renewalFailures + 1;
      const code = graphErrorCode(error);
      const expired = record.expiresAt !== null && record.expiresAt <= now;
      await this.#o.store.graphSubscriptions.update(record.registrationId, {
        renewalFailures: failures,
        lastError: code,
        renewAt: now + Math.min(60_000 * 2 ** (failures - 1), MAX_BACKOFF_MS),
        ...(expired && record.state !== 'removed' ? { state: 'expired' as const } : {}),
      });
      metrics?.graphRenewals.inc({ action, result: 'failed' });
      logger.warn(
        { err: error, registrationId: registration.id, action, failures, code },
        'graph: subscription upkeep failed; trying again later',
      );
      return 'failed';
    }
  }

  /** Delegated: only the device can bring a token; ask it, and look again at the expiration. */
  async #askDevice(record: GraphSubscriptionRecord, registration: Registration): Promise<RenewalOutcome> {
    const { store, metrics } = this.#o;
    const now = this.#now();
    const expired = record.expiresAt === null || record.expiresAt <= now;
    const reason = record.state === 'active' ? 'graph_renewal' : 'graph_lifecycle';
    let queued = 0;
    await store.transaction(async (tx) => {
      await tx.graphSubscriptions.update(record.registrationId, {
        ...(expired && record.state === 'active' ? { state: 'expired' as const } : {}),
        // At the expiration, once more: to mark it expired if no check-in came.
        renewAt: expired ? null : record.expiresAt,
      });
      if (registration.state === 'needs_credentials' && registration.checkinSentAt !== null) return;
      await tx.registrations.update(registration.id, { state: 'needs_credentials', checkinSentAt: now });
      queued = await tx.outbox.enqueue([
        {
          registrationId: registration.id,
          kind: 'checkin',
          itemId: null,
          dedupeKey: `checkin:graph:${record.subscriptionId ?? 'none'}:${record.state}:${record.expiresAt ?? 0}`,
          payload: { events: [reason] },
          availableAt: now,
        },
      ]);
    });
    if (registration.state !== 'needs_credentials')
      metrics?.subscriptionTransitions.inc({ to: 'needs_credentials' });
    if (queued > 0) {
      metrics?.checkinPushesQueued.inc({ reason });
      metrics?.eventsEnqueued.inc({ kind: 'checkin' });
      metrics?.graphRenewals.inc({ action: 'ask_device', result: 'ok' });
      this.#o.onEnqueued?.();
    }
    this.#o.logger.info(
      { registrationId: registration.id, subscriptionState: record.state, expired },
      'graph: a delegated subscription needs a fresh token: asking the device to check in',
    );
    return 'asked_device';
  }
}
