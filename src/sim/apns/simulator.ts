/**
 * The APNs simulator's state and its answer to one push request, following Apple's "Sending
 * notification requests to APNs" and "Handling notification responses from APNs".
 *
 * Checks run in this order (Apple does not document one; this is the order a front end that
 * authenticates before it reads headers and the body would use):
 *   405 MethodNotAllowed → auth (403 …ProviderToken/BadCertificate, 429 TooManyProviderTokenUpdates)
 *   → 400 DuplicateHeaders → 400 MissingDeviceToken / BadDeviceToken → 400 BadMessageId
 *   → 400 InvalidPushType → 400 BadPriority → 400 BadExpirationDate → 400 BadCollapseId
 *   → 400 BadPriority (10 + background) → 400 MissingTopic / BadTopic / TopicDisallowed
 *   → 400 PayloadEmpty / 413 PayloadTooLarge / 400 PayloadEmpty (not a JSON object with an `aps`
 *     dictionary) → 400 BadPriority (10 + content-available only) → 400 DeviceTokenNotForTopic
 *   → injected fault → 410 Unregistered → 200.
 * (404 BadPath is answered by the server for paths outside /3/device.)
 */
import { randomUUID } from 'node:crypto';
import type { AuthOutcome } from './auth.ts';
import { SimInputError } from './errors.ts';
import type { ApnsAuth, ApnsFault, ApnsRequestRecord, ApnsStats } from './types.ts';

/** Apple's apns-push-type values. */
export const PUSH_TYPES: ReadonlySet<string> = new Set([
  'alert',
  'background',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
  'widgets',
  'controls',
]);

/** 4 KB for every notification but VoIP, which may carry 5 KB. */
export const MAX_PAYLOAD = 4096;
export const MAX_VOIP_PAYLOAD = 5120;
export const MAX_COLLAPSE_ID_BYTES = 64;

/** The headers APNs reads; any of them twice → DuplicateHeaders. */
const APNS_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'apns-id',
  'apns-topic',
  'apns-push-type',
  'apns-priority',
  'apns-expiration',
  'apns-collapse-id',
]);

const TOKEN_RE = /^(?:[0-9a-f]{2}){32,100}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Bundle ids: letters, digits, hyphens and periods; suffixes such as `.voip` fit too. */
const TOPIC_RE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;
/**
 * Topics an APNs certificate for bundle id B allows besides B itself: Apple's certificates cover
 * the app's VoIP, complication and file-provider topics.
 */
const CERT_TOPIC_SUFFIXES = ['', '.voip', '.complication', '.pushkit.fileprovider'];

const FAULT_STATUSES: ReadonlySet<number> = new Set([400, 410, 429, 500, 503]);
const DEFAULT_FAULT_REASON: Record<number, string> = {
  410: 'Unregistered',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

export function isDeviceToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

export interface PushRequest {
  method: string;
  /** Device token from the path (may be empty or malformed). */
  token: string;
  headers: Record<string, string | string[] | undefined>;
  /** Flat [name, value, …] as received, for duplicate detection. */
  rawHeaders: readonly string[];
  /** The body as kept (at most the server's keep limit). */
  body: Buffer;
  /** Bytes received (≥ body.length when the body was cut). */
  bodyBytes: number;
  /** Undefined when the method is not POST (not authenticated then). */
  auth: AuthOutcome | undefined;
  connectionId: number;
}

export interface PushAnswer {
  status: number;
  reason: string | undefined;
  apnsId: string;
  /** For 410: when APNs learnt the token was no longer valid, epoch ms. */
  timestamp?: number;
}

interface ActiveFault {
  fault: ApnsFault;
  remaining: number | undefined;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parsePayload(body: Buffer, bodyBytes: number): { value: unknown; parsed: boolean } {
  if (bodyBytes === 0) return { value: undefined, parsed: false };
  if (body.length < bodyBytes) return { value: undefined, parsed: false };
  const text = body.toString('utf8');
  try {
    return { value: JSON.parse(text), parsed: true };
  } catch {
    return { value: text, parsed: false };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tokenArg(token: unknown): string {
  if (typeof token !== 'string' || !TOKEN_RE.test(token.toLowerCase())) {
    throw new SimInputError('token must be a device token: 64 to 200 hex characters, even length');
  }
  return token.toLowerCase();
}

export interface ApnsSimOptions {
  now?: () => number;
  topics?: string[];
  recordLimit?: number;
  log?: (line: string) => void;
}

export class ApnsSim {
  readonly now: () => number;
  readonly #log: ((line: string) => void) | undefined;
  readonly #recordLimit: number;
  #records: ApnsRequestRecord[] = [];
  #seq = 0;
  readonly #faults = new Map<string, ActiveFault>();
  readonly #unregistered = new Map<string, number>();
  readonly #devices = new Map<string, string>();
  readonly #topics: ReadonlySet<string> | undefined;
  /** Send GOAWAY after a session answered this many push streams. */
  goawayAfterStreams: number | undefined;
  readonly stats: ApnsStats = {
    connections: 0,
    openConnections: 0,
    requests: 0,
    accepted: 0,
    maxConcurrentStreamsSeen: 0,
    goaways: 0,
  };

  constructor(options: ApnsSimOptions = {}) {
    this.now = options.now ?? Date.now;
    this.#log = options.log;
    const limit = options.recordLimit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError('recordLimit must be an integer ≥ 0');
    this.#recordLimit = limit;
    this.#topics = options.topics && options.topics.length > 0 ? new Set(options.topics) : undefined;
  }

  push(req: PushRequest): PushAnswer {
    const headers = req.headers;
    const idHeader = single(headers['apns-id']);
    const apnsId = idHeader !== undefined && UUID_RE.test(idHeader) ? idHeader : randomUUID();
    const token = req.token.toLowerCase();
    const pushType = single(headers['apns-push-type']);
    const priorityText = single(headers['apns-priority']);
    const expirationText = single(headers['apns-expiration']);
    const collapseId = single(headers['apns-collapse-id']);
    const topicHeader = single(headers['apns-topic']);
    const auth: ApnsAuth = req.auth?.auth ?? { kind: 'none' };
    const certTopic = req.auth?.ok ? req.auth.certTopic : undefined;
    const topic = topicHeader ?? certTopic;
    const payload = parsePayload(req.body, req.bodyBytes);
    const priority = priorityText === undefined ? undefined : Number(priorityText);
    const expiration =
      expirationText !== undefined && /^\d{1,15}$/.test(expirationText) ? Number(expirationText) : undefined;

    const answer = (status: number, reason?: string, timestamp?: number): PushAnswer => {
      this.#record({
        seq: ++this.#seq,
        at: this.now(),
        apnsId,
        token,
        topic,
        pushType,
        priority: priority !== undefined && Number.isFinite(priority) ? priority : undefined,
        expiration,
        collapseId,
        payload: payload.value,
        payloadBytes: req.bodyBytes,
        auth,
        status,
        reason,
        connectionId: req.connectionId,
      });
      this.stats.requests++;
      if (status === 200) this.stats.accepted++;
      this.#log?.(
        `push ${token ? `${token.slice(0, 12)}…` : '(no token)'} topic=${topic ?? '-'} type=${pushType ?? '-'} → ${status}${reason ? ` ${reason}` : ''} apns-id=${apnsId}`,
      );
      return timestamp === undefined ? { status, reason, apnsId } : { status, reason, apnsId, timestamp };
    };

    if (req.method !== 'POST') return answer(405, 'MethodNotAllowed');
    if (!req.auth) return answer(403, 'MissingProviderToken');
    if (!req.auth.ok) return answer(req.auth.status, req.auth.reason);

    const seen = new Set<string>();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if (!APNS_HEADERS.has(name)) continue;
      if (seen.has(name)) return answer(400, 'DuplicateHeaders');
      seen.add(name);
    }

    if (token === '') return answer(400, 'MissingDeviceToken');
    if (!TOKEN_RE.test(token)) return answer(400, 'BadDeviceToken');
    if (idHeader !== undefined && !UUID_RE.test(idHeader)) return answer(400, 'BadMessageId');
    if (pushType !== undefined && !PUSH_TYPES.has(pushType)) return answer(400, 'InvalidPushType');
    if (priorityText !== undefined && !['10', '5', '1'].includes(priorityText)) {
      return answer(400, 'BadPriority');
    }
    if (expirationText !== undefined && expiration === undefined) return answer(400, 'BadExpirationDate');
    if (collapseId !== undefined && Buffer.byteLength(collapseId) > MAX_COLLAPSE_ID_BYTES) {
      return answer(400, 'BadCollapseId');
    }
    // Background notifications must be sent with priority 5.
    if (priority === 10 && pushType === 'background') return answer(400, 'BadPriority');

    if (topic === undefined) return answer(400, 'MissingTopic');
    if (!TOPIC_RE.test(topic)) return answer(400, 'BadTopic');
    if (certTopic !== undefined && !CERT_TOPIC_SUFFIXES.some((suffix) => topic === certTopic + suffix)) {
      // The certificate is valid but not for this app: Apple's "Pushing to this topic is not allowed".
      return answer(400, 'TopicDisallowed');
    }
    if (this.#topics && !this.#topics.has(topic)) return answer(400, 'TopicDisallowed');

    if (req.bodyBytes === 0) return answer(400, 'PayloadEmpty');
    const limit = pushType === 'voip' ? MAX_VOIP_PAYLOAD : MAX_PAYLOAD;
    if (req.bodyBytes > limit) return answer(413, 'PayloadTooLarge');
    // Apple documents no reason for a body that is not a JSON dictionary with an `aps`
    // dictionary; the closest documented one is PayloadEmpty ("The message payload is empty"):
    // there is no notification in it.
    if (!payload.parsed || !isObject(payload.value) || !isObject(payload.value.aps)) {
      return answer(400, 'PayloadEmpty');
    }
    const apsKeys = Object.keys(payload.value.aps);
    // A background update (aps holds only content-available) must not be sent with priority 10.
    if (priority === 10 && apsKeys.length === 1 && apsKeys[0] === 'content-available') {
      return answer(400, 'BadPriority');
    }

    const bound = this.#devices.get(token);
    if (bound !== undefined && bound !== topic) return answer(400, 'DeviceTokenNotForTopic');

    const active = this.#faults.get(token);
    if (active) {
      if (active.remaining !== undefined && --active.remaining <= 0) this.#faults.delete(token);
      const { status } = active.fault;
      const reason = active.fault.reason ?? DEFAULT_FAULT_REASON[status]!;
      return answer(status, reason, status === 410 ? this.now() : undefined);
    }

    const gone = this.#unregistered.get(token);
    if (gone !== undefined) return answer(410, 'Unregistered', gone);
    return answer(200);
  }

  #record(record: ApnsRequestRecord): void {
    if (this.#recordLimit === 0) return;
    this.#records.push(record);
    // Drop in batches so a long run does not shift the array on every push.
    if (this.#records.length >= this.#recordLimit * 2) {
      this.#records = this.#records.slice(-this.#recordLimit);
    }
  }

  requests(filter: { token?: string } = {}): ApnsRequestRecord[] {
    const token = filter.token?.toLowerCase();
    const kept =
      this.#records.length > this.#recordLimit ? this.#records.slice(-this.#recordLimit) : this.#records;
    return kept.filter((r) => token === undefined || r.token === token).map((r) => ({ ...r }));
  }

  received(filter: { token?: string } = {}): ApnsRequestRecord[] {
    return this.requests(filter).filter((r) => r.status === 200);
  }

  clear(): void {
    this.#records = [];
  }

  fault(token: string, fault: ApnsFault): void {
    const key = tokenArg(token);
    if (typeof fault !== 'object' || fault === null)
      throw new SimInputError('a fault is {status, reason?, times?}');
    const { status, reason, times } = fault as { status: unknown; reason?: unknown; times?: unknown };
    if (typeof status !== 'number' || !FAULT_STATUSES.has(status)) {
      throw new SimInputError('fault status must be 400, 410, 429, 500 or 503');
    }
    if (reason !== undefined && (typeof reason !== 'string' || reason === '')) {
      throw new SimInputError('fault reason must be a non-empty string');
    }
    if (status === 400 && reason === undefined) {
      throw new SimInputError('a 400 fault needs a reason, e.g. BadDeviceToken');
    }
    if (times !== undefined && times !== null && (!Number.isInteger(times) || (times as number) < 1)) {
      throw new SimInputError('fault times must be a positive integer (omit it for "until cleared")');
    }
    const remaining = typeof times === 'number' ? times : undefined;
    this.#faults.set(key, { fault: { ...fault, times: remaining } as ApnsFault, remaining });
  }

  clearFaults(token?: string): void {
    if (token === undefined) this.#faults.clear();
    else this.#faults.delete(token.toLowerCase());
  }

  faults(): Array<{
    token: string;
    status: number;
    reason: string | undefined;
    remaining: number | undefined;
  }> {
    return [...this.#faults].map(([token, f]) => ({
      token,
      status: f.fault.status,
      reason: f.fault.reason,
      remaining: f.remaining,
    }));
  }

  unregister(token: string): number {
    const key = tokenArg(token);
    const at = this.now();
    this.#unregistered.set(key, at);
    return at;
  }

  registerDevice(token: string, topic: string): void {
    const key = tokenArg(token);
    if (typeof topic !== 'string' || !TOPIC_RE.test(topic)) {
      throw new SimInputError('topic must be a bundle id such as com.example.app');
    }
    this.#devices.set(key, topic);
    // A device that registers again is reachable again.
    this.#unregistered.delete(key);
  }

  goawayAfter(streams: number | undefined): void {
    if (streams !== undefined && streams !== null && (!Number.isInteger(streams) || streams < 1)) {
      throw new SimInputError('afterStreams must be a positive integer, or null to turn GOAWAY off');
    }
    this.goawayAfterStreams = streams ?? undefined;
  }
}
