/**
 * Status pings only refresh a subscription's last-seen time (DESIGN "notification path"). With
 * thousands of subscriptions pinging every few minutes, one UPDATE per ping would be waste:
 * touches are collected and written in one statement per flush.
 */
import type { Logger } from '../log/index.ts';
import type { Store } from '../store/index.ts';

export class LastSeenBatcher {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #pending = new Map<string, number>();
  readonly #maxBatch: number;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Store, logger: Logger, options: { intervalMs?: number; maxBatch?: number } = {}) {
    this.#store = store;
    this.#logger = logger;
    this.#maxBatch = options.maxBatch ?? 500;
    const intervalMs = options.intervalMs ?? 1000;
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
  }

  touch(registrationId: string, at: number): void {
    this.#pending.set(registrationId, Math.max(at, this.#pending.get(registrationId) ?? 0));
    if (this.#pending.size >= this.#maxBatch) void this.flush();
  }

  /** Write what is pending; resolves when written. Errors are logged, touches kept for the next try. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const batch = [...this.#pending];
      this.#pending.clear();
      // Second precision is all the watchdog needs: one statement per chunk, stamped with the
      // newest time in the batch.
      const at = Math.max(...batch.map(([, time]) => time));
      try {
        for (let i = 0; i < batch.length; i += this.#maxBatch) {
          await this.#store.registrations.touchLastSeen(
            batch.slice(i, i + this.#maxBatch).map(([id]) => id),
            at,
          );
        }
      } catch (error) {
        for (const [id, at] of batch) this.touch(id, at);
        this.#logger.warn({ err: error }, 'could not record status pings; will retry');
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
