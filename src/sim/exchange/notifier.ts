/**
 * Push subscriptions and the delivery of SendNotification requests to their URLs.
 *
 * Behaviour follows Microsoft's documentation for push notifications:
 * - Events are queued per subscription and sent in order; one notification carries a batch,
 *   with PreviousWatermark (the watermark of the last event the client acknowledged) and
 *   MoreEvents (MS-OXWSNTIF 2.2.4.x NotificationType).
 * - When no notification was sent for StatusFrequency minutes, a StatusEvent is sent
 *   ("StatusFrequency ... the frequency, in minutes, at which notification messages will be sent
 *   to the client when no events have occurred", PushSubscriptionRequest reference).
 * - The client answers SendNotificationResult/SubscriptionStatus: OK keeps the subscription,
 *   Unsubscribe ends it (SubscriptionStatus reference).
 * - A failed callback (connection error, non-2xx, unparseable answer) is retried with the SAME
 *   notification after 30 s, each next interval doubling; once the next interval would exceed
 *   StatusFrequency the server gives up and the subscription and its queued events are gone
 *   (StatusFrequency reference, Remarks: "the default retry interval is 30 seconds and subsequent
 *   retries are always double the time of the last retry interval"). Note: Microsoft's table
 *   there lists the retry *times* as 30, 60, 120 s...; this simulator uses the intervals reading
 *   (attempts at 0, 30, 90, 210, 450 s for StatusFrequency 5), as Herald's design assumes.
 */
import type { SimClock, TimerHandle } from '../clock.ts';
import { CallbackClient } from './callback.ts';
import type { RingLog } from './log.ts';
import { dateTime, sendNotificationEnvelope } from './soap.ts';
import type { EventName, Mailbox, MailboxEvent } from './store.ts';

export type SubscriptionState = 'active' | 'retrying' | 'dead' | 'unsubscribed' | 'killed';

/** What happened to one callback attempt. */
export interface CallbackOutcome {
  at: string;
  attempt: number;
  ok: boolean;
  httpStatus?: number;
  subscriptionStatus?: 'OK' | 'Unsubscribe';
  error?: string;
}

/** What became of one published change for one subscription (answer of deliver with wait). */
export interface DeliveryOutcome {
  subscriptionId: string;
  /**
   * ok: acknowledged with OK; unsubscribed: answered Unsubscribe; failed: the first attempt failed
   * (see nextRetryAt, or gaveUp); queued: waiting behind a pending retry; lost: the subscription
   * ended before the events were sent.
   */
  result: 'ok' | 'unsubscribed' | 'failed' | 'queued' | 'lost';
  httpStatus?: number;
  subscriptionStatus?: 'OK' | 'Unsubscribe';
  error?: string;
  nextRetryAt?: string;
  gaveUp?: boolean;
}

export interface SubscriptionInfo {
  id: string;
  mailbox: string;
  callbackUrl: string;
  statusFrequencyMinutes: number;
  eventTypes: string[];
  state: SubscriptionState;
  createdAt: string;
  endedAt?: string;
  /** Watermark of the last event the subscriber acknowledged. */
  watermark: string;
  queuedEvents: number;
  /** Events still to be lost by the lose-events fault. */
  eventsToLose: number;
  callbacks: number;
  lastCallback?: CallbackOutcome;
  retry?: { attempt: number; nextRetryAt: string; intervalMs: number };
  nextStatusAt?: string;
}

export interface SubscribeParams {
  callbackUrl: string;
  statusFrequencyMinutes: number;
  eventTypes: EventName[];
  watermark: string;
  version: string;
  /** Events after the requested watermark, replayed in the first notification. */
  replay: MailboxEvent[];
}

interface Queued {
  event: MailboxEvent;
  waiter?: (outcome: DeliveryOutcome) => void;
}

interface InFlight {
  body: string;
  events: MailboxEvent[];
  waiters: Array<(outcome: DeliveryOutcome) => void>;
  attempt: number;
}

interface Subscription {
  id: string;
  mailbox: Mailbox;
  callbackUrl: string;
  statusFrequencyMinutes: number;
  eventTypes: Set<EventName>;
  version: string;
  createdAt: number;
  endedAt?: number;
  state: SubscriptionState;
  lastWatermark: string;
  queue: Queued[];
  /** Fault: this many next events are lost on Exchange's side (see loseEvents). */
  toLose: number;
  inFlight?: InFlight;
  pump?: Promise<void>;
  retryTimer?: TimerHandle;
  retryIntervalMs?: number;
  statusTimer?: TimerHandle;
  callbacks: number;
  lastCallback?: CallbackOutcome;
}

export interface NotifierOptions {
  /** Real milliseconds to wait for a subscriber's answer. */
  callbackTimeoutMs?: number;
  /** Extra CA certificates for https callback URLs. */
  callbackCa?: string | Buffer | Array<string | Buffer>;
  log?: (line: string) => void;
}

const FIRST_RETRY_MS = 30_000;
const MAX_EVENTS_PER_NOTIFICATION = 50;
const MAX_ENDED_KEPT = 200;

export class Notifier {
  readonly #subs = new Map<string, Subscription>();
  readonly #clock: SimClock;
  readonly #log: RingLog;
  readonly #options: NotifierOptions;
  readonly #client: CallbackClient;
  readonly #newId: () => string;

  constructor(clock: SimClock, log: RingLog, newId: () => string, options: NotifierOptions = {}) {
    this.#clock = clock;
    this.#log = log;
    this.#newId = newId;
    this.#options = options;
    this.#client = new CallbackClient({ timeoutMs: options.callbackTimeoutMs, ca: options.callbackCa });
  }

  subscribe(mailbox: Mailbox, params: SubscribeParams): string {
    const sub: Subscription = {
      id: this.#newId(),
      mailbox,
      callbackUrl: params.callbackUrl,
      statusFrequencyMinutes: params.statusFrequencyMinutes,
      eventTypes: new Set(params.eventTypes),
      version: params.version,
      createdAt: this.#clock.now(),
      state: 'active',
      lastWatermark: params.watermark,
      queue: [],
      toLose: 0,
      callbacks: 0,
    };
    for (const event of params.replay) if (this.#wants(sub, event)) sub.queue.push({ event });
    this.#subs.set(sub.id, sub);
    this.#armStatus(sub);
    return sub.id;
  }

  /** Send whatever a new subscription has queued (replayed events); called after the Subscribe answer. */
  start(id: string): void {
    const sub = this.#subs.get(id);
    if (sub && sub.queue.length > 0) void this.#kick(sub);
  }

  owner(id: string): Mailbox | undefined {
    const sub = this.#subs.get(id);
    return sub && live(sub) ? sub.mailbox : undefined;
  }

  info(id: string): SubscriptionInfo | undefined {
    const sub = this.#subs.get(id);
    return sub ? this.#info(sub) : undefined;
  }

  list(mailbox?: Mailbox): SubscriptionInfo[] {
    return [...this.#subs.values()]
      .filter((s) => !mailbox || s.mailbox === mailbox)
      .map((s) => this.#info(s));
  }

  /**
   * Queue mailbox events for every live subscription on the mailbox. Resolves when each
   * subscription's first callback carrying them has been answered (or cannot happen yet).
   */
  publish(mailbox: Mailbox, events: MailboxEvent[]): Promise<DeliveryOutcome[]> {
    const outcomes: Array<Promise<DeliveryOutcome>> = [];
    for (const sub of this.#subs.values()) {
      if (sub.mailbox !== mailbox || !live(sub)) continue;
      const wanted = events.filter((e) => this.#wants(sub, e) && !this.#lose(sub, e));
      if (wanted.length === 0) {
        if (events.some((e) => this.#wants(sub, e))) {
          outcomes.push(Promise.resolve({ subscriptionId: sub.id, result: 'lost' }));
        }
        continue;
      }
      const outcome = new Promise<DeliveryOutcome>((resolve) => {
        wanted.forEach((event, i) => {
          sub.queue.push({ event, waiter: i === wanted.length - 1 ? resolve : undefined });
        });
      });
      outcomes.push(outcome);
      if (sub.retryTimer) this.#releaseQueuedWaiters(sub);
      else void this.#kick(sub);
    }
    return Promise.all(outcomes);
  }

  /**
   * Fault: the next `count` events of this subscription are lost on Exchange's side, as in a
   * mailbox database failover. Exchange's watermark moves past them all the same, so the next
   * notification's PreviousWatermark is one the subscriber never saw: how a client detects a gap.
   */
  loseEvents(id: string, count: number): boolean {
    const sub = this.#subs.get(id);
    if (!sub || !live(sub)) return false;
    sub.toLose += count;
    return true;
  }

  /** End a subscription. `killed` is silent, as when Exchange loses one (restart, move). */
  end(id: string, state: 'dead' | 'unsubscribed' | 'killed'): boolean {
    const sub = this.#subs.get(id);
    if (!sub || !live(sub)) return false;
    sub.state = state;
    sub.endedAt = this.#clock.now();
    this.#clock.clearTimer(sub.retryTimer);
    this.#clock.clearTimer(sub.statusTimer);
    sub.retryTimer = sub.statusTimer = undefined;
    sub.retryIntervalMs = undefined;
    const lost: DeliveryOutcome = { subscriptionId: sub.id, result: 'lost' };
    for (const waiter of sub.inFlight?.waiters ?? []) waiter(lost);
    for (const queued of sub.queue) queued.waiter?.(lost);
    sub.inFlight = undefined;
    sub.queue = [];
    this.#options.log?.(`subscription ${sub.id} (${sub.mailbox.email}) ended: ${state}`);
    this.#prune();
    return true;
  }

  close(): void {
    for (const sub of this.#subs.values()) if (live(sub)) this.end(sub.id, 'killed');
    this.#client.close();
  }

  #lose(sub: Subscription, event: MailboxEvent): boolean {
    if (sub.toLose === 0 || event.type === 'StatusEvent') return false;
    sub.toLose--;
    sub.lastWatermark = event.watermark;
    this.#options.log?.(`subscription ${sub.id}: event ${event.type} lost (fault)`);
    return true;
  }

  #wants(sub: Subscription, event: MailboxEvent): boolean {
    return event.type === 'StatusEvent' || sub.eventTypes.has(event.type);
  }

  #kick(sub: Subscription): Promise<void> {
    if (sub.pump) return sub.pump;
    if (sub.retryTimer || !live(sub)) return Promise.resolve();
    sub.pump = this.#clock.track(this.#drain(sub)).finally(() => {
      sub.pump = undefined;
    });
    return sub.pump;
  }

  async #drain(sub: Subscription): Promise<void> {
    this.#clock.clearTimer(sub.statusTimer);
    sub.statusTimer = undefined;
    while (live(sub) && !sub.retryTimer) {
      if (!sub.inFlight) {
        if (sub.queue.length === 0) break;
        const batch = sub.queue.splice(0, MAX_EVENTS_PER_NOTIFICATION);
        const events = batch.map((q) => q.event);
        sub.inFlight = {
          events,
          waiters: batch.flatMap((q) => (q.waiter ? [q.waiter] : [])),
          attempt: 0,
          body: sendNotificationEnvelope({
            subscriptionId: sub.id,
            previousWatermark: sub.lastWatermark,
            moreEvents: sub.queue.length > 0,
            events,
            version: sub.version,
          }),
        };
      }
      await this.#attempt(sub, sub.inFlight);
    }
    if (live(sub) && !sub.retryTimer) this.#armStatus(sub);
  }

  async #attempt(sub: Subscription, inFlight: InFlight): Promise<void> {
    inFlight.attempt++;
    const started = this.#clock.now();
    const answer = await this.#post(sub, inFlight);
    if (!live(sub)) return; // killed while the request was out
    const outcome: CallbackOutcome = {
      at: dateTime(started),
      attempt: inFlight.attempt,
      ok: answer.subscriptionStatus !== undefined,
      ...answer,
    };
    sub.callbacks++;
    sub.lastCallback = outcome;
    const waiters = inFlight.waiters;
    inFlight.waiters = [];
    const report = (o: Omit<DeliveryOutcome, 'subscriptionId'>) => {
      for (const waiter of waiters) waiter({ subscriptionId: sub.id, ...o });
    };
    if (answer.subscriptionStatus === 'OK') {
      const last = inFlight.events.findLast((e) => e.type !== 'StatusEvent');
      if (last) sub.lastWatermark = last.watermark;
      sub.inFlight = undefined;
      sub.state = 'active';
      sub.retryIntervalMs = undefined;
      report({ result: 'ok', httpStatus: answer.httpStatus, subscriptionStatus: 'OK' });
      return;
    }
    if (answer.subscriptionStatus === 'Unsubscribe') {
      report({ result: 'unsubscribed', httpStatus: answer.httpStatus, subscriptionStatus: 'Unsubscribe' });
      this.end(sub.id, 'unsubscribed');
      return;
    }
    const interval = FIRST_RETRY_MS * 2 ** (inFlight.attempt - 1);
    if (interval > sub.statusFrequencyMinutes * 60_000) {
      report({ result: 'failed', httpStatus: answer.httpStatus, error: answer.error, gaveUp: true });
      this.end(sub.id, 'dead');
      return;
    }
    sub.state = 'retrying';
    sub.retryIntervalMs = interval;
    sub.retryTimer = this.#clock.setTimer(
      interval,
      () => {
        sub.retryTimer = undefined;
        return this.#kick(sub);
      },
      `retry ${sub.id} attempt ${inFlight.attempt + 1}`,
    );
    report({
      result: 'failed',
      httpStatus: answer.httpStatus,
      error: answer.error,
      nextRetryAt: dateTime(sub.retryTimer.at),
    });
    this.#releaseQueuedWaiters(sub);
  }

  /** Events stuck behind a pending retry cannot be answered until virtual time moves. */
  #releaseQueuedWaiters(sub: Subscription): void {
    for (const queued of sub.queue) {
      queued.waiter?.({
        subscriptionId: sub.id,
        result: 'queued',
        nextRetryAt: dateTime(sub.retryTimer!.at),
      });
      queued.waiter = undefined;
    }
  }

  #armStatus(sub: Subscription): void {
    this.#clock.clearTimer(sub.statusTimer);
    sub.statusTimer = this.#clock.setTimer(
      sub.statusFrequencyMinutes * 60_000,
      () => {
        sub.statusTimer = undefined;
        if (!live(sub) || sub.inFlight || sub.queue.length > 0 || sub.retryTimer) return;
        sub.queue.push({ event: { type: 'StatusEvent', watermark: sub.lastWatermark } });
        return this.#kick(sub);
      },
      `status ${sub.id}`,
    );
  }

  async #post(
    sub: Subscription,
    inFlight: InFlight,
  ): Promise<{ httpStatus?: number; subscriptionStatus?: 'OK' | 'Unsubscribe'; error?: string }> {
    const started = performance.now();
    const time = new Date(this.#clock.now()).toISOString();
    const { responseBody, ...answer } = await this.#client.post(sub.callbackUrl, inFlight.body);
    this.#log.add({
      time,
      kind: 'callback',
      method: 'POST',
      url: sub.callbackUrl,
      subscriptionId: sub.id,
      attempt: inFlight.attempt,
      status: answer.httpStatus,
      requestBody: inFlight.body,
      responseBody,
      error: answer.error,
      durationMs: Math.round(performance.now() - started),
    });
    return answer;
  }

  #info(sub: Subscription): SubscriptionInfo {
    return {
      id: sub.id,
      mailbox: sub.mailbox.email,
      callbackUrl: sub.callbackUrl,
      statusFrequencyMinutes: sub.statusFrequencyMinutes,
      eventTypes: [...sub.eventTypes],
      state: sub.state,
      createdAt: dateTime(sub.createdAt),
      endedAt: sub.endedAt === undefined ? undefined : dateTime(sub.endedAt),
      watermark: sub.lastWatermark,
      queuedEvents: sub.queue.length + (sub.inFlight?.events.length ?? 0),
      eventsToLose: sub.toLose,
      callbacks: sub.callbacks,
      lastCallback: sub.lastCallback,
      retry:
        sub.retryTimer && sub.inFlight
          ? {
              attempt: sub.inFlight.attempt + 1,
              nextRetryAt: dateTime(sub.retryTimer.at),
              intervalMs: sub.retryIntervalMs ?? 0,
            }
          : undefined,
      nextStatusAt: sub.statusTimer ? dateTime(sub.statusTimer.at) : undefined,
    };
  }

  #prune(): void {
    const ended = [...this.#subs.values()].filter((s) => !live(s));
    for (const sub of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_KEPT))) this.#subs.delete(sub.id);
  }
}

function live(sub: Subscription): boolean {
  return sub.state === 'active' || sub.state === 'retrying';
}
