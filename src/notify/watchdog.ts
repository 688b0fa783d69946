/**
 * The subscription watchdog. Exchange ends push subscriptions without telling anyone (a server
 * restart, a mailbox move, a retry schedule that ran out while Herald was unreachable); the only
 * sign is silence. Every subscription pings at least every StatusFrequency minutes, so:
 *
 *   active ──(no callback for silentAfterPeriods × StatusFrequency)──▶ silent
 *   silent ──(checkin push delivered)──▶ repairing          (delivery worker)
 *   silent | repairing ──(a callback after all)──▶ active   (intake, status pings)
 *   silent | repairing ──(device checks in with credentials: resubscribed)──▶ active
 *   silent | repairing ──(no check-in for deadAfterHours)──▶ dead
 *
 * Herald holds no credentials it could resubscribe with (DESIGN decision 1), so repair means a
 * silent `checkin` push asking the app to check in with fresh ones; the push is repeated every
 * checkinRepeatMinutes while the device stays away (also for `needs_credentials`).
 *
 * One node runs the watchdog at a time, through the `watchdog` lease (DESIGN decision 4); if that
 * node dies, another takes over when the lease lapses. Each pass works in batches of batchSize
 * through indexed queries, and pushes go through the outbox, whose workers bound concurrency.
 */
import { LeasedJob } from '../jobs/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { NewOutboxEvent, Store } from '../store/index.ts';

export const WATCHDOG_LEASE = 'watchdog';

export interface WatchdogSettings {
  intervalSeconds: number;
  silentAfterPeriods: number;
  checkinRepeatMinutes: number;
  deadAfterHours: number;
  batchSize: number;
}

export interface WatchdogOptions {
  store: Store;
  logger: Logger;
  settings: WatchdogSettings;
  /** Names this node in the lease. */
  owner: string;
  now?: () => number;
  metrics?: Metrics;
  /** Runs before each pass: write this node's pending status pings, so they count. */
  beforePass?: () => Promise<void>;
  /** Called when checkin pushes were queued (the delivery workers wake up). */
  onEnqueued?: () => void;
}

/** What one pass did. */
export interface WatchdogPass {
  silent: number;
  checkinsQueued: number;
  dead: number;
  stalePendingDeleted: number;
}

/** A registration still `pending` this long was interrupted mid-creation (a crash): it is removed. */
const STALE_PENDING_MS = 15 * 60_000;
/** At most this many batches of one kind per pass, so one pass always ends. */
const MAX_BATCHES = 100;

export class Watchdog {
  readonly #o: WatchdogOptions;
  readonly #now: () => number;
  readonly #job: LeasedJob<WatchdogPass>;

  constructor(options: WatchdogOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#job = new LeasedJob({
      lease: WATCHDOG_LEASE,
      leases: options.store.leases,
      owner: options.owner,
      intervalMs: options.settings.intervalSeconds * 1000,
      now: this.#now,
      logger: options.logger,
      failedMessage: 'watchdog pass failed; trying again at the next interval',
      releaseFailedMessage: 'watchdog: could not release its lease; it lapses by itself',
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
  async run(): Promise<WatchdogPass | undefined> {
    const outcome = await this.#job.run();
    return outcome.held ? outcome.result : undefined;
  }

  async #pass(): Promise<WatchdogPass> {
    await this.#o.beforePass?.();
    const pass: WatchdogPass = {
      silent: await this.#markSilent(),
      checkinsQueued: await this.#askForCheckins(),
      dead: await this.#markDead(),
      stalePendingDeleted: await this.#deleteStalePending(),
    };
    this.#o.metrics?.watchdogRuns.inc();
    this.#o.metrics?.watchdogLastRun.set(this.#now() / 1000);
    if (pass.silent + pass.checkinsQueued + pass.dead + pass.stalePendingDeleted > 0) {
      this.#o.logger.info(pass, 'watchdog pass');
    }
    return pass;
  }

  async #markSilent(): Promise<number> {
    const { store, settings, logger, metrics } = this.#o;
    let total = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const found = await store.registrations.markSilent({
        now: this.#now(),
        periods: settings.silentAfterPeriods,
        limit: settings.batchSize,
      });
      for (const registration of found) {
        logger.info(
          {
            registrationId: registration.id,
            tenantId: registration.tenantId,
            lastSeenAt:
              registration.lastSeenAt === null ? null : new Date(registration.lastSeenAt).toISOString(),
            statusFrequencyMinutes: registration.statusFrequencyMinutes,
          },
          'subscription silent: no callback from Exchange for too long; asking the device to check in',
        );
      }
      total += found.length;
      if (found.length < settings.batchSize) break;
    }
    if (total > 0) metrics?.subscriptionTransitions.inc({ to: 'silent' }, total);
    return total;
  }

  async #askForCheckins(): Promise<number> {
    const { store, settings, metrics } = this.#o;
    let total = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const now = this.#now();
      const due = await store.registrations.dueForCheckin(
        now - settings.checkinRepeatMinutes * 60_000,
        settings.batchSize,
      );
      if (due.length === 0) break;
      const rows: NewOutboxEvent[] = due.map((registration) => ({
        registrationId: registration.id,
        kind: 'checkin',
        itemId: null,
        // One row per request: a repeated request is a new push.
        dedupeKey: `checkin:watchdog:${now}`,
        payload: { events: [] },
        availableAt: now,
      }));
      let queued = 0;
      await store.transaction(async (tx) => {
        queued = await tx.outbox.enqueue(rows);
        await tx.registrations.markCheckinSent(
          due.map((r) => r.id),
          now,
        );
      });
      total += queued;
      if (due.length < settings.batchSize) break;
    }
    if (total > 0) {
      metrics?.checkinPushesQueued.inc({ reason: 'silent' }, total);
      metrics?.eventsEnqueued.inc({ kind: 'checkin' }, total);
      this.#o.onEnqueued?.();
    }
    return total;
  }

  async #markDead(): Promise<number> {
    const { store, settings, metrics } = this.#o;
    const before = this.#now() - settings.deadAfterHours * 3_600_000;
    const reason = `no_checkin: silent for more than ${settings.deadAfterHours} h without the device checking in`;
    let total = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const marked = await store.registrations.markDead(before, reason, settings.batchSize);
      total += marked;
      if (marked < settings.batchSize) break;
    }
    if (total > 0) metrics?.subscriptionTransitions.inc({ to: 'dead' }, total);
    return total;
  }

  async #deleteStalePending(): Promise<number> {
    const { store, settings } = this.#o;
    return store.registrations.deleteStalePending(this.#now() - STALE_PENDING_MS, settings.batchSize);
  }
}
