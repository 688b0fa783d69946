/**
 * Server-side faults of the simulated Graph API, for clients' retry paths: the next `times`
 * requests matching a method and a path prefix (after `/v1.0`) are answered with a Graph error
 * instead (429 TooManyRequests and 503 serviceNotAvailable with Retry-After, 500 generalException,
 * 504 gatewayTimeout). Token and key endpoints are not affected.
 */
import { SimError } from '../store.ts';
import { GraphError } from './errors.ts';

export interface GraphFaultSpec {
  /** e.g. DELETE; any method when absent. */
  method?: string;
  /** e.g. /subscriptions; any path when absent. Matched case-insensitively. */
  path?: string;
  status: 429 | 500 | 503 | 504;
  /** How many requests it affects (default 1). */
  times?: number;
  retryAfterSeconds?: number;
}

export interface GraphFault extends Required<Pick<GraphFaultSpec, 'status'>> {
  method: string | undefined;
  path: string;
  remaining: number;
  retryAfterSeconds: number | undefined;
}

const CODES: Record<GraphFaultSpec['status'], [string, string]> = {
  429: ['TooManyRequests', 'Too many requests; retry after the time given in Retry-After.'],
  500: ['generalException', 'An unspecified error has occurred.'],
  503: ['serviceNotAvailable', 'The service is temporarily unavailable; retry later.'],
  504: ['gatewayTimeout', 'The server did not answer in time.'],
};

/** A Graph error that carries Retry-After. */
export class GraphFaultError extends GraphError {
  readonly retryAfterSeconds: number | undefined;
  constructor(fault: GraphFault) {
    const [code, message] = CODES[fault.status as GraphFaultSpec['status']];
    super(fault.status, code, message);
    this.retryAfterSeconds = fault.retryAfterSeconds;
  }
}

export class GraphFaults {
  #faults: GraphFault[] = [];

  add(spec: GraphFaultSpec): GraphFault {
    if (!Object.hasOwn(CODES, String(spec?.status))) {
      throw new SimError('invalid_fault', 'status must be 429, 500, 503 or 504');
    }
    const times = spec.times ?? 1;
    if (!Number.isSafeInteger(times) || times < 1)
      throw new SimError('invalid_fault', 'times must be a positive integer');
    if (
      spec.retryAfterSeconds !== undefined &&
      !(Number.isSafeInteger(spec.retryAfterSeconds) && spec.retryAfterSeconds >= 0)
    ) {
      throw new SimError('invalid_fault', 'retryAfterSeconds must be a non-negative integer');
    }
    const fault: GraphFault = {
      method: spec.method?.toUpperCase(),
      path: (spec.path ?? '').toLowerCase(),
      status: spec.status,
      remaining: times,
      retryAfterSeconds: spec.retryAfterSeconds,
    };
    this.#faults.push(fault);
    return { ...fault };
  }

  list(): GraphFault[] {
    return this.#faults.map((f) => ({ ...f }));
  }

  clear(): void {
    this.#faults = [];
  }

  /** The fault this request meets (its count taken), if any. */
  take(method: string, path: string): GraphFault | undefined {
    const lower = path.toLowerCase();
    const fault = this.#faults.find(
      (f) => (f.method === undefined || f.method === method.toUpperCase()) && lower.startsWith(f.path),
    );
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.#faults = this.#faults.filter((f) => f !== fault);
    return fault;
  }
}
