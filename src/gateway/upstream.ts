/**
 * Keep-alive connection pools towards Exchange, one per identity. IIS binds Windows
 * authentication (NTLM always, Kerberos with authPersistNonNTLM) to the TCP connection, so a
 * connection that carried one user's request must never carry another's (DESIGN: gateway). Pools
 * are keyed by who the request is for; a pool idle for a while is closed; their number is bounded.
 */
import { createSecureContext, getCACertificates, rootCertificates, type SecureContext } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';

export interface UpstreamOptions {
  /** Extra CAs for Exchange's certificate, besides the system store. */
  caPems: readonly string[];
  ignoreTlsErrors: boolean;
  /** Headers and body timeout, ms (above ActiveSync's longest hanging request). */
  timeoutMs: number;
  /** An idle upstream connection is closed after this long. */
  keepAliveMs?: number;
  /** At most this many pools; the least recently used idle one is closed beyond it. */
  maxPools?: number;
  now?: () => number;
}

interface Entry {
  agent: Agent;
  inflight: number;
  lastUsed: number;
}

function systemCas(): string[] {
  // Node 23.9+: the bundled roots plus NODE_EXTRA_CA_CERTS (and the system store when Node is
  // started with --use-system-ca); older Node: the bundled roots.
  try {
    return getCACertificates('default');
  } catch {
    return [...rootCertificates];
  }
}

export class UpstreamPools {
  readonly #options: Required<Omit<UpstreamOptions, 'caPems'>>;
  /**
   * One TLS context for every upstream connection: passing `ca` per connection would make Node
   * parse the whole trust store again for each one (about 1 MB and a millisecond apiece).
   */
  readonly #secureContext: SecureContext | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: UpstreamOptions) {
    this.#options = {
      ignoreTlsErrors: options.ignoreTlsErrors,
      timeoutMs: options.timeoutMs,
      keepAliveMs: options.keepAliveMs ?? 60_000,
      maxPools: options.maxPools ?? 10_000,
      now: options.now ?? Date.now,
    };
    this.#secureContext =
      options.caPems.length > 0
        ? createSecureContext({ ca: [...systemCas(), ...options.caPems] })
        : undefined;
    this.#sweeper = setInterval(() => this.sweep(), Math.max(1000, this.#options.keepAliveMs / 2));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The dispatcher for one identity, held until `release` is called; `key` says whose requests
   * may share its connections (see proxy.ts connectionKey).
   */
  acquire(key: string): { dispatcher: Dispatcher; release(): void } {
    if (this.#closed) throw new Error('upstream pools are closed');
    let entry = this.#entries.get(key);
    if (entry) {
      // Move to the end: Map order is the LRU order.
      this.#entries.delete(key);
    } else {
      entry = { agent: this.#newAgent(), inflight: 0, lastUsed: 0 };
    }
    this.#entries.set(key, entry);
    entry.inflight += 1;
    entry.lastUsed = this.#options.now();
    this.#evict();
    let released = false;
    const held = entry;
    return {
      dispatcher: entry.agent,
      release: () => {
        if (released) return;
        released = true;
        held.inflight -= 1;
        held.lastUsed = this.#options.now();
      },
    };
  }

  /** Closes the pool of `key` (its downstream connection ended), once its requests are done. */
  discard(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    void entry.agent.close().catch(() => {});
  }

  /** Closes pools that have been idle longer than the keep-alive time. */
  sweep(): void {
    const cutoff = this.#options.now() - this.#options.keepAliveMs;
    for (const [key, entry] of this.#entries) {
      if (entry.inflight === 0 && entry.lastUsed <= cutoff) this.discard(key);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    const agents = [...this.#entries.values()].map((e) => e.agent);
    this.#entries.clear();
    // destroy: long polls in flight end now (the devices reconnect to another gateway).
    await Promise.allSettled(agents.map((a) => a.destroy()));
  }

  #evict(): void {
    if (this.#entries.size <= this.#options.maxPools) return;
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#options.maxPools) break;
      if (entry.inflight === 0) this.discard(key);
    }
  }

  #newAgent(): Agent {
    const { timeoutMs, keepAliveMs, ignoreTlsErrors } = this.#options;
    return new Agent({
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: keepAliveMs,
      keepAliveMaxTimeout: keepAliveMs,
      connect: {
        ...(this.#secureContext ? { secureContext: this.#secureContext } : {}),
        rejectUnauthorized: !ignoreTlsErrors,
        timeout: 10_000,
      },
    });
  }
}
