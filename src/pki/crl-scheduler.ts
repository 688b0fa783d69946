/**
 * The CA's background job: on start and then every schedulerIntervalMinutes, refresh CRLs that
 * are missing, near their nextUpdate or older than a revocation, pick up a CA another node
 * imported, and delete long-expired one-time challenges. One node at a time, through the
 * `pki-crl` lease (DESIGN decision 4); unref'd timer; stop() waits for a running pass.
 */
import { LeasedJob } from '../jobs/index.ts';
import type { Logger } from '../log/index.ts';
import type { Store } from '../store/index.ts';

export const CRL_LEASE = 'pki-crl';
/** Expired challenges are kept a day for "why was I refused" questions, then deleted. */
const CHALLENGE_RETENTION_MS = 86_400_000;

export interface CrlSchedulerOptions {
  store: Store;
  logger: Logger;
  /** Names this node in the lease. */
  owner: string;
  intervalMs: number;
  now: () => number;
  /** One maintenance pass of the CA (reload if changed, ensure fresh CRLs). */
  refresh: () => Promise<unknown>;
}

export class CrlScheduler {
  readonly #job: LeasedJob<void>;

  constructor(options: CrlSchedulerOptions) {
    const { store, now } = options;
    this.#job = new LeasedJob({
      lease: CRL_LEASE,
      leases: store.leases,
      owner: options.owner,
      intervalMs: options.intervalMs,
      now,
      logger: options.logger,
      failedMessage: 'pki: CRL maintenance failed; trying again at the next interval',
      releaseFailedMessage: 'pki: could not release the CRL lease; it lapses by itself',
      pass: async () => {
        await options.refresh();
        await store.pki.challenges.deleteExpired(now() - CHALLENGE_RETENTION_MS);
      },
    });
  }

  start(): void {
    this.#job.start();
  }

  stop(): Promise<void> {
    return this.#job.stop();
  }

  /** One pass now if this node holds (or can take) the lease; false when another node has it. */
  async run(): Promise<boolean> {
    return (await this.#job.run()).held;
  }
}
