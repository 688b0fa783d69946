/**
 * The simulator's state and the send logic, free of HTTP: service accounts and access tokens
 * (oauth.ts), what was sent, injected faults and unregistered tokens.
 *
 * A send is checked in FCM's order: authentication (401/403), the body (400), then the target:
 * an injected fault for the token (or for every send, token "*"), then an unregistered token
 * (404 UNREGISTERED). validate_only runs every check, answers
 * `projects/{p}/messages/fake_message_id` and delivers nothing.
 */
import { randomBytes } from 'node:crypto';
import { type ApiError, fcmError, parseError } from './errors.ts';
import { type GrantResult, InputError, OAuthServer } from './oauth.ts';
import {
  FAULT_ERROR_CODES,
  type FcmFault,
  type FcmFaultInfo,
  type FcmSendRecord,
  type FcmSimulatorOptions,
  type FcmStats,
  type FcmTokenRequestRecord,
} from './types.ts';
import { tooDeep, validateSendBody } from './validate.ts';

/** Fault key that matches every send. */
export const ANY_TARGET = '*';
const RETRY_AFTER_CODES = new Set(['QUOTA_EXCEEDED', 'UNAVAILABLE', 'INTERNAL']);
const MAX_FAULTS = 10_000;
const MAX_UNREGISTERED = 100_000;

export interface SendAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

interface FaultState {
  fault: FcmFault;
  remaining: number | undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function abbreviate(token: string): string {
  return token.length > 24 ? `${token.slice(0, 10)}…${token.slice(-8)}` : token;
}

/** Check a fault given through the API or the control API; throws InputError. */
export function checkFault(token: unknown, fault: unknown): asserts fault is FcmFault {
  if (typeof token !== 'string' || token === '' || token.length > 4096) {
    throw new InputError('token must be a non-empty string (or "*" for every send)');
  }
  if (!isObject(fault)) throw new InputError('fault must be an object');
  const { errorCode, times, retryAfterSeconds } = fault;
  if (typeof errorCode !== 'string' || !(FAULT_ERROR_CODES as readonly string[]).includes(errorCode)) {
    throw new InputError(`errorCode must be one of ${FAULT_ERROR_CODES.join(', ')}`);
  }
  if (times !== undefined && (!Number.isSafeInteger(times) || (times as number) < 1)) {
    throw new InputError('times must be a positive integer');
  }
  if (retryAfterSeconds !== undefined) {
    if (!Number.isSafeInteger(retryAfterSeconds) || (retryAfterSeconds as number) < 0) {
      throw new InputError('retryAfterSeconds must be a non-negative integer');
    }
    if (!RETRY_AFTER_CODES.has(errorCode)) {
      throw new InputError('retryAfterSeconds applies to QUOTA_EXCEEDED, UNAVAILABLE and INTERNAL only');
    }
  }
}

export class FcmSim {
  readonly oauth: OAuthServer;
  readonly now: () => number;
  readonly #limit: number;
  readonly #log: ((line: string) => void) | undefined;
  #requests: FcmSendRecord[] = [];
  #received: FcmSendRecord[] = [];
  #tokenRequests: FcmTokenRequestRecord[] = [];
  readonly #faults = new Map<string, FaultState>();
  readonly #unregistered = new Set<string>();
  #seq = 0;
  #stats: FcmStats = { requests: 0, accepted: 0, tokenRequests: 0 };

  constructor(options: FcmSimulatorOptions = {}) {
    this.now = options.now ?? Date.now;
    const ttl = options.accessTokenTtlSeconds ?? 3599;
    if (!Number.isSafeInteger(ttl) || ttl < 1)
      throw new RangeError('accessTokenTtlSeconds must be a positive integer');
    const limit = options.recordLimit ?? 10_000;
    if (!Number.isSafeInteger(limit) || limit < 0)
      throw new RangeError('recordLimit must be a non-negative integer');
    this.#limit = limit;
    this.#log = options.log;
    this.oauth = new OAuthServer({ now: this.now, ttlSeconds: ttl });
  }

  #push<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.#limit) list.splice(0, list.length - this.#limit);
  }

  /** POST /token with its parameters. */
  async token(params: Record<string, unknown>): Promise<GrantResult> {
    const at = this.now();
    const result = await this.oauth.grant(params);
    this.#stats.tokenRequests++;
    this.#push(this.#tokenRequests, {
      at,
      clientEmail: result.clientEmail,
      status: result.status,
      error: result.error,
      errorDescription: result.errorDescription,
      reason: result.reason,
    });
    this.#log?.(
      result.status === 200
        ? `fcm token 200 for ${result.clientEmail}`
        : `fcm token ${result.status} ${result.error} (${result.reason})${result.clientEmail ? ` for ${result.clientEmail}` : ''}`,
    );
    return result;
  }

  /** POST /v1/projects/{projectId}/messages:send. */
  send(projectId: string, authorization: string | undefined, rawBody: string): SendAnswer {
    const at = this.now();
    const seq = ++this.#seq;

    let parsed: unknown;
    let parseFailure: ApiError | undefined;
    if (rawBody.trim() === '') parsed = {};
    else {
      try {
        parsed = JSON.parse(rawBody);
      } catch {
        parseFailure = parseError('Invalid JSON payload received. Unexpected token.');
      }
      if (!parseFailure && tooDeep(parsed)) {
        parsed = undefined;
        parseFailure = parseError('Invalid JSON payload received. Message is nested too deeply.');
      }
    }
    const message = isObject(parsed) ? parsed.message : undefined;
    const token = isObject(message) && typeof message.token === 'string' ? message.token : undefined;
    const validateOnly = isObject(parsed) && (parsed.validate_only === true || parsed.validateOnly === true);

    const finish = (answer: {
      error?: ApiError;
      name?: string;
      clientEmail: string | undefined;
      validateOnly: boolean;
    }): SendAnswer => {
      const status = answer.error ? answer.error.httpStatus : 200;
      const record: FcmSendRecord = {
        seq,
        at,
        projectId,
        clientEmail: answer.clientEmail,
        message,
        token,
        status,
        errorCode: answer.error?.errorCode,
        name: answer.name,
        validateOnly: answer.validateOnly,
        error: answer.error?.body.error.message,
      };
      this.#stats.requests++;
      this.#push(this.#requests, record);
      if (status === 200 && !answer.validateOnly) {
        this.#stats.accepted++;
        this.#push(this.#received, record);
      }
      const target = token !== undefined ? `token=${abbreviate(token)}` : 'no token';
      this.#log?.(
        `fcm send ${projectId} ${target}${answer.validateOnly ? ' (validate_only)' : ''} → ${status} ${answer.error ? answer.error.errorCode : answer.name}`,
      );
      return answer.error
        ? { status, body: answer.error.body, headers: answer.error.headers ?? {} }
        : { status, body: { name: answer.name }, headers: {} };
    };

    const auth = this.oauth.authenticate(authorization, projectId);
    if (!auth.ok) return finish({ error: auth.error, clientEmail: auth.clientEmail, validateOnly });
    const clientEmail = auth.clientEmail;
    if (parseFailure) return finish({ error: parseFailure, clientEmail, validateOnly });
    const checked = validateSendBody(parsed);
    if (!checked.ok) return finish({ error: checked.error, clientEmail, validateOnly });
    const valid = checked.value;

    const faulted = this.#takeFault(valid.token);
    if (faulted) return finish({ error: faulted, clientEmail, validateOnly: valid.validateOnly });
    if (valid.token !== undefined && this.#unregistered.has(valid.token)) {
      return finish({ error: fcmError('UNREGISTERED'), clientEmail, validateOnly: valid.validateOnly });
    }
    const name = valid.validateOnly
      ? `projects/${projectId}/messages/fake_message_id`
      : `projects/${projectId}/messages/0:${Math.trunc(at)}${String(seq % 1000).padStart(3, '0')}%${randomBytes(8).toString('hex')}`;
    return finish({ name, clientEmail, validateOnly: valid.validateOnly });
  }

  #takeFault(token: string | undefined): ApiError | undefined {
    const key = token !== undefined && this.#faults.has(token) ? token : ANY_TARGET;
    const state = this.#faults.get(key);
    if (!state) return undefined;
    if (state.remaining !== undefined) {
      state.remaining--;
      if (state.remaining <= 0) this.#faults.delete(key);
    }
    const error = fcmError(state.fault.errorCode);
    if (state.fault.retryAfterSeconds !== undefined) {
      error.headers = { ...error.headers, 'Retry-After': String(state.fault.retryAfterSeconds) };
    }
    return error;
  }

  fault(token: string, fault: FcmFault): FcmFaultInfo {
    checkFault(token, fault);
    if (!this.#faults.has(token) && this.#faults.size >= MAX_FAULTS) {
      throw new InputError(`at most ${MAX_FAULTS} faults at a time`);
    }
    const stored: FcmFault = { errorCode: fault.errorCode };
    if (fault.times !== undefined) stored.times = fault.times;
    if (fault.retryAfterSeconds !== undefined) stored.retryAfterSeconds = fault.retryAfterSeconds;
    this.#faults.set(token, { fault: stored, remaining: fault.times });
    return { token, ...stored, remaining: fault.times };
  }

  faults(): FcmFaultInfo[] {
    return [...this.#faults].map(([token, state]) => ({ token, ...state.fault, remaining: state.remaining }));
  }

  /** Remove the fault of one token, or all; returns how many were removed. */
  clearFaults(token?: string): number {
    if (token === undefined) {
      const n = this.#faults.size;
      this.#faults.clear();
      return n;
    }
    return this.#faults.delete(token) ? 1 : 0;
  }

  unregister(token: string): void {
    if (typeof token !== 'string' || token === '' || token.length > 4096) {
      throw new InputError('token must be a non-empty string');
    }
    if (!this.#unregistered.has(token) && this.#unregistered.size >= MAX_UNREGISTERED) {
      throw new InputError(`at most ${MAX_UNREGISTERED} unregistered tokens`);
    }
    this.#unregistered.add(token);
  }

  received(filter: { token?: string } = {}): FcmSendRecord[] {
    return select(this.#received, filter);
  }

  requests(filter: { token?: string } = {}): FcmSendRecord[] {
    return select(this.#requests, filter);
  }

  tokenRequests(): FcmTokenRequestRecord[] {
    return this.#tokenRequests.map((r) => ({ ...r }));
  }

  /** Forget every record and zero the counters (faults, unregistered tokens and accounts stay). */
  clear(): void {
    this.#requests = [];
    this.#received = [];
    this.#tokenRequests = [];
    this.#stats = { requests: 0, accepted: 0, tokenRequests: 0 };
  }

  stats(): FcmStats {
    return { ...this.#stats };
  }
}

function select(records: FcmSendRecord[], filter: { token?: string }): FcmSendRecord[] {
  const chosen = filter.token === undefined ? records : records.filter((r) => r.token === filter.token);
  return chosen.map((r) => structuredClone(r));
}
