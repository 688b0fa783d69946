/**
 * The compliance rules as the gateway applies them: read from the database at start and every
 * `policy.reloadSeconds`, compiled once per change. Rules change without a restart; when the
 * database cannot be read the last rules stay in force (and the failure is logged), because
 * dropping block rules silently would open the gateway.
 */
import type { Logger } from 'pino';
import { type CompiledPolicy, compilePolicy, type GatewayRuleLike } from './policy/index.ts';

export interface RuleReader {
  list(): Promise<readonly GatewayRuleLike[]>;
}

export class RuleSource {
  readonly #reader: RuleReader;
  readonly #defaultAction: 'allow' | 'block';
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #policy: CompiledPolicy;
  #signature = '';
  #timer: NodeJS.Timeout | undefined;
  #loadedAt: number | undefined;
  #count = 0;
  #stopped = false;

  constructor(options: {
    reader: RuleReader;
    defaultAction: 'allow' | 'block';
    reloadSeconds: number;
    logger: Logger;
  }) {
    this.#reader = options.reader;
    this.#defaultAction = options.defaultAction;
    this.#intervalMs = options.reloadSeconds * 1000;
    this.#logger = options.logger;
    this.#policy = compilePolicy([], this.#defaultAction);
  }

  current(): CompiledPolicy {
    return this.#policy;
  }

  status(): { rules: number; loadedAt: string | undefined; default: 'allow' | 'block' } {
    return {
      rules: this.#count,
      loadedAt: this.#loadedAt === undefined ? undefined : new Date(this.#loadedAt).toISOString(),
      default: this.#defaultAction,
    };
  }

  /** Reads the rules now; true when they changed. Throws when the database cannot be read. */
  async reload(): Promise<boolean> {
    const rules = await this.#reader.list();
    this.#loadedAt = Date.now();
    const signature = JSON.stringify(rules);
    if (signature === this.#signature) return false;
    const compiled = compilePolicy(rules, this.#defaultAction);
    for (const problem of compiled.problems) this.#logger.warn({ problem }, 'compliance rule ignored');
    this.#policy = compiled;
    this.#signature = signature;
    this.#count = rules.length;
    this.#logger.info({ rules: rules.length }, 'compliance rules loaded');
    return true;
  }

  /** First load (must succeed), then a reload every interval. */
  async start(): Promise<void> {
    await this.reload();
    const tick = () => {
      this.reload().then(
        () => this.#schedule(tick),
        (error: unknown) => {
          this.#logger.warn({ err: error }, 'could not reload the compliance rules; keeping the last ones');
          this.#schedule(tick);
        },
      );
    };
    this.#schedule(tick);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(tick: () => void): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(tick, this.#intervalMs);
    this.#timer.unref();
  }
}
