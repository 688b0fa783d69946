/**
 * A bounded ring buffer of what the simulator received and sent, for `GET /sim/log`: EWS
 * requests (bodies included), callbacks to subscribers (both bodies), control calls (no bodies:
 * they carry passwords and tokens), Graph and token-endpoint requests (no bodies either). Credentials are never recorded, only who authenticated.
 */

export interface LogEntry {
  seq: number;
  /** Virtual time (ISO) when the exchange started. */
  time: string;
  kind: 'ews' | 'callback' | 'control' | 'graph' | 'autodiscover';
  method: string;
  url: string;
  status?: number;
  /** For EWS requests: the authenticated mailbox, or why authentication failed. */
  auth?: string;
  operation?: string;
  subscriptionId?: string;
  attempt?: number;
  requestBody?: string;
  responseBody?: string;
  error?: string;
  durationMs?: number;
}

const MAX_BODY = 64 * 1024;

export class RingLog {
  readonly #entries: LogEntry[] = [];
  readonly #limit: number;
  #seq = 0;

  constructor(limit = 500) {
    this.#limit = limit;
  }

  add(entry: Omit<LogEntry, 'seq'>): LogEntry {
    const stored: LogEntry = { ...entry, seq: ++this.#seq };
    for (const key of ['requestBody', 'responseBody'] as const) {
      const body = stored[key];
      if (body !== undefined && body.length > MAX_BODY) {
        stored[key] = `${body.slice(0, MAX_BODY)}…[truncated ${body.length - MAX_BODY} chars]`;
      }
    }
    this.#entries.push(stored);
    if (this.#entries.length > this.#limit) this.#entries.shift();
    return stored;
  }

  /** Newest last; `since` returns entries with seq > since. */
  list(options: { since?: number; limit?: number; kind?: LogEntry['kind'] } = {}): LogEntry[] {
    let entries = this.#entries.filter(
      (e) => e.seq > (options.since ?? 0) && (options.kind === undefined || e.kind === options.kind),
    );
    if (options.limit !== undefined) entries = entries.slice(-options.limit);
    return entries.map((e) => ({ ...e }));
  }
}
