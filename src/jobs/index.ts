/**
 * A periodic job that one node runs at a time, through a lease in the database (DESIGN decision 4):
 * on start and then every interval, a pass runs if this node holds (or can take) the lease; passes
 * never overlap; the timer is unref'd; stop() waits for a running pass and hands the lease over.
 * The subscription watchdog and the CA's CRL maintenance are such jobs.
 */
import type { Logger } from '../log/index.ts';
import type { LeaseRepository } from '../store/index.ts';

export interface LeasedJobOptions<T> {
  /** The lease's name. */
  lease: string;
  leases: LeaseRepository;
  /** Names this node in the lease. */
  owner: string;
  intervalMs: number;
  now: () => number;
  logger: Logger;
  /** Logged when a scheduled pass fails (it is tried again at the next interval). */
  failedMessage: string;
  /** Logged when stop() cannot release the lease (it lapses by itself). */
  releaseFailedMessage: string;
  /** One pass, run while this node holds the lease. */
  pass: () => Promise<T>;
}

export class LeasedJob<T> {
  readonly #o: LeasedJobOptions<T>;
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: LeasedJobOptions<T>) {
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
      await this.#o.leases.release(this.#o.lease, this.#o.owner);
    } catch (error) {
      this.#o.logger.warn({ err: error }, this.#o.releaseFailedMessage);
    }
  }

  /** One pass now, after any running one; `{ held: false }` when another node has the lease. */
  run(): Promise<{ held: false } | { held: true; result: T }> {
    const pass = this.#pass.then(() => this.#runOnce());
    this.#pass = pass.catch(() => undefined);
    return pass;
  }

  #schedule(): Promise<unknown> {
    return this.run().catch((error: unknown) => {
      this.#o.logger.error({ err: error }, this.#o.failedMessage);
    });
  }

  async #runOnce(): Promise<{ held: false } | { held: true; result: T }> {
    const { leases, lease, owner, intervalMs, now } = this.#o;
    // Three intervals: a pass may overrun one, and a dead node's turn moves on soon after.
    const ttl = Math.max(3 * intervalMs, 30_000);
    if (!(await leases.acquire(lease, owner, ttl, now()))) return { held: false };
    return { held: true, result: await this.#o.pass() };
  }
}
