/**
 * A virtual clock for the simulators, so tests never wait minutes for Exchange's retry schedule or
 * status pings. Every timer a simulator uses goes through it.
 *
 * - `manual`: time moves only on `advance(ms)`. Advancing fires every timer that falls due inside
 *   the window, in due order (ties in creation order), sets the clock to each timer's due time
 *   while it runs, and awaits each callback, so `advance` resolves only after the work it caused
 *   (HTTP callbacks included) has finished. Timers scheduled by a callback that fall due inside
 *   the same window fire too.
 * - `speed`: virtual time = start + real elapsed × factor. One unref'd real timer is armed for
 *   the earliest virtual timer; `advance(ms)` also works and jumps ahead.
 *
 * `track(promise)` registers background work (e.g. a notification sent without `?wait=true`);
 * `advance` settles tracked work before firing timers, so a timer that work schedules is not
 * skipped.
 */

export type ClockOptions =
  | { mode: 'manual'; start?: number }
  | { mode: 'speed'; factor: number; start?: number };

export interface TimerHandle {
  readonly id: number;
  readonly at: number;
  readonly label: string;
}

export interface ClockState {
  mode: 'manual' | 'speed';
  factor: number;
  now: number;
  iso: string;
  timers: Array<{ id: number; at: number; inMs: number; label: string }>;
}

interface Timer extends TimerHandle {
  fn: () => unknown;
}

/** Longest delay node's setTimeout accepts. */
const MAX_REAL_DELAY = 2 ** 31 - 1;

export class SimClock {
  readonly mode: 'manual' | 'speed';
  readonly factor: number;
  #base: number;
  #realStart = performance.now();
  #offset = 0;
  #timers: Timer[] = [];
  #nextId = 1;
  #tracked = new Set<Promise<unknown>>();
  #chain: Promise<void> = Promise.resolve();
  #real: NodeJS.Timeout | undefined;
  #closed = false;
  #onError: (error: unknown, label: string) => void;

  constructor(options: ClockOptions = { mode: 'manual' }, onError?: (error: unknown, label: string) => void) {
    this.mode = options.mode;
    this.factor = options.mode === 'speed' ? options.factor : 0;
    if (options.mode === 'speed' && !(options.factor > 0)) {
      throw new RangeError('clock speed factor must be a positive number');
    }
    this.#base = options.start ?? Date.now();
    this.#onError = onError ?? (() => {});
  }

  /** Virtual time, epoch milliseconds. */
  now(): number {
    if (this.mode === 'manual') return this.#base + this.#offset;
    return Math.floor(this.#base + (performance.now() - this.#realStart) * this.factor + this.#offset);
  }

  setTimer(delayMs: number, fn: () => unknown, label = 'timer'): TimerHandle {
    const timer: Timer = { id: this.#nextId++, at: this.now() + Math.max(0, delayMs), label, fn };
    this.#timers.push(timer);
    this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
    this.#arm();
    return { id: timer.id, at: timer.at, label };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.#timers = this.#timers.filter((t) => t.id !== handle.id);
    this.#arm();
  }

  /** Register background work that `advance` must let finish before firing timers. */
  track<T>(promise: Promise<T>): Promise<T> {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.#tracked.add(settled);
    void settled.then(() => this.#tracked.delete(settled));
    return promise;
  }

  /** Move virtual time forward by `ms`, firing due timers in order and awaiting their work. */
  advance(ms: number): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) return Promise.reject(new RangeError('advance needs ms >= 0'));
    const run = this.#chain.then(async () => {
      await this.#settle();
      const target = this.now() + ms;
      await this.#fireDue(target);
      // Land exactly on the target (manual) or shift speed-mode time by what is still missing.
      const missing = target - this.now();
      if (missing > 0) this.#offset += missing;
      this.#arm();
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  state(): ClockState {
    const now = this.now();
    return {
      mode: this.mode,
      factor: this.mode === 'speed' ? this.factor : 0,
      now,
      iso: new Date(now).toISOString(),
      timers: this.#timers.map((t) => ({ id: t.id, at: t.at, inMs: t.at - now, label: t.label })),
    };
  }

  close(): void {
    this.#closed = true;
    this.#timers = [];
    if (this.#real) clearTimeout(this.#real);
    this.#real = undefined;
  }

  async #settle(): Promise<void> {
    while (this.#tracked.size > 0) await Promise.all([...this.#tracked]);
  }

  async #fireDue(target: number): Promise<void> {
    for (;;) {
      const next = this.#timers[0];
      if (!next || next.at > target || this.#closed) return;
      this.#timers.shift();
      const behind = next.at - this.now();
      if (behind > 0) this.#offset += behind;
      try {
        await next.fn();
      } catch (error) {
        this.#onError(error, next.label);
      }
      await this.#settle();
    }
  }

  #arm(): void {
    if (this.mode !== 'speed' || this.#closed) return;
    if (this.#real) clearTimeout(this.#real);
    this.#real = undefined;
    const next = this.#timers[0];
    if (!next) return;
    const delay = Math.min(MAX_REAL_DELAY, Math.max(0, Math.ceil((next.at - this.now()) / this.factor)));
    this.#real = setTimeout(() => {
      this.#real = undefined;
      const run = this.#chain.then(async () => {
        await this.#fireDue(this.now());
        this.#arm();
      });
      this.#chain = run.catch(() => {});
    }, delay);
    this.#real.unref();
  }
}
