/**
 * The CA's background job: on start and then every schedulerIntervalMinutes, refresh CRLs that
 * are missing, near their nextUpdate or older than a revocation, pick up a CA another node
 * imported, and delete long-expired one-time challenges. One node at a time, through the
 * `pki-crl` lease (DESIGN decision 4); unref'd timer; stop() waits for a running pass.
 */
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
  readonly #o: CrlSchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: CrlSchedulerOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.#schedule(), this.#o.intervalMs);
    this.#timer.unref();
    void this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#pass;
    try {
      await this.#o.store.leases.release(CRL_LEASE, this.#o.owner);
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'pki: could not release the CRL lease; it lapses by itself');
    }
  }

  /** One pass now if this node holds (or can take) the lease; false when another node has it. */
  run(): Promise<boolean> {
    const pass = this.#pass.then(() => this.#runOnce());
    this.#pass = pass.catch(() => undefined);
    return pass;
  }

  #schedule(): Promise<unknown> {
    return this.run().catch((error: unknown) => {
      this.#o.logger.error({ err: error }, 'pki: CRL maintenance failed; trying again at the next interval');
    });
  }

  async #runOnce(): Promise<boolean> {
    const { store, owner, intervalMs, now } = this.#o;
    // Three intervals: a pass may overrun one, and a dead node's turn moves on soon after.
    const ttl = Math.max(3 * intervalMs, 30_000);
    if (!(await store.leases.acquire(CRL_LEASE, owner, ttl, now()))) return false;
    await this.#o.refresh();
    await store.pki.challenges.deleteExpired(now() - CHALLENGE_RETENTION_MS);
    return true;
  }
}
