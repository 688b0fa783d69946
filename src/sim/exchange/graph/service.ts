/**
 * Graph subscriptions on the simulated mailboxes and the notifications they cause.
 *
 * Behaviour, from Microsoft's documentation (see docs in index.ts for the pages):
 * - Create: validate the request (HTTPS notificationUrl, expirationDateTime within the maximum
 *   for Outlook messages, clientState ≤ 128 characters, includeResourceData needs
 *   encryptionCertificate + encryptionCertificateId), then the validation handshake on
 *   notificationUrl and lifecycleNotificationUrl: POST `url?validationToken=…`, answer 200
 *   `text/plain` with the decoded token within 10 s, else 400 and no subscription.
 * - Notifications: one POST per change and subscription (`{"value": [changeNotification]}`).
 *   A 2xx within the timeout (3 s) is delivered; anything else is retried with exponential
 *   backoff for up to 4 hours, then dropped. Every timer runs on the simulator clock.
 * - Expiry: at expirationDateTime the subscription is removed and gets nothing more.
 * - Lifecycle notifications on demand (control API): reauthorizationRequired holds change
 *   notifications until POST /subscriptions/{id}/reauthorize or a PATCH renewal;
 *   subscriptionRemoved deletes the subscription; missed only informs.
 */
import { randomUUID, type X509Certificate } from 'node:crypto';
import type { SimClock, TimerHandle } from '../../clock.ts';
import type { RingLog } from '../log.ts';
import type { Mailbox, MailboxStore, MailItem } from '../store.ts';
import { SimError } from '../store.ts';
import type { Caller, Entra } from './entra.ts';
import { accessDenied, GraphError } from './errors.ts';
import { Poster } from './post.ts';
import {
  etag,
  ewsId,
  findUser,
  inboxJson,
  MESSAGE_PROPERTIES,
  messageJson,
  parseSelect,
  parseSubscriptionResource,
  restId,
  userId,
} from './resources.ts';
import { encryptContent, parseEncryptionCertificate } from './rich.ts';

export type ChangeType = 'created' | 'updated' | 'deleted';
export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface GraphLimits {
  /** Maximum subscription lifetime for Outlook messages, minutes (documented: 10 080, under 7 days). */
  maxExpirationMinutes: number;
  /** With includeResourceData (documented: 1 440, under 1 day). */
  maxExpirationMinutesWithResourceData: number;
  /** Real ms the subscriber has to answer a validation request (documented: 10 s). */
  validationTimeoutMs: number;
  /** Real ms the subscriber has to answer a notification (documented: 3 s). */
  notificationTimeoutMs: number;
  /** Virtual ms before the first retry of a failed notification; each next one doubles. */
  firstRetryMs: number;
  /** Virtual ms after the first attempt past which no retry is made (documented: 4 hours). */
  retryWindowMs: number;
  /** Accept http:// notification URLs on loopback hosts (real Graph: HTTPS only). */
  allowHttpLoopback: boolean;
  /** Require lifecycleNotificationUrl when expiration is over 1 hour (the rule Graph applies to Teams resources). */
  requireLifecycleUrlOverOneHour: boolean;
  /** Active subscriptions per mailbox (documented: 1 000 for Outlook resources). */
  maxSubscriptionsPerMailbox: number;
}

export const DEFAULT_LIMITS: GraphLimits = {
  maxExpirationMinutes: 10_080,
  maxExpirationMinutesWithResourceData: 1_440,
  validationTimeoutMs: 10_000,
  notificationTimeoutMs: 3_000,
  firstRetryMs: 60_000,
  retryWindowMs: 4 * 3_600_000,
  allowHttpLoopback: true,
  requireLifecycleUrlOverOneHour: false,
  maxSubscriptionsPerMailbox: 1_000,
};

/** One outbound request: a validation handshake, a change or a lifecycle notification. */
export interface Attempt {
  seq: number;
  kind: 'validation' | 'change' | 'lifecycle';
  subscriptionId?: string;
  notificationId?: string;
  url: string;
  attempt: number;
  /** Virtual time of the attempt. */
  at: string;
  status?: number;
  ok: boolean;
  error?: string;
  durationMs: number;
  changeType?: ChangeType;
  lifecycleEvent?: LifecycleEvent;
  nextRetryAt?: string;
  gaveUp?: boolean;
}

export interface GraphDeliveryOutcome {
  subscriptionId: string;
  result: 'ok' | 'failed' | 'held';
  status?: number;
  error?: string;
  nextRetryAt?: string;
}

export interface GraphSubscriptionInfo {
  id: string;
  mailbox: string;
  applicationId: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  expirationDateTime: string;
  includeResourceData: boolean;
  state: 'active' | 'expired' | 'deleted' | 'removed';
  reauthorizationRequired: boolean;
  heldNotifications: number;
  corruptNextSignature: boolean;
  createdAt: string;
  endedAt?: string;
}

interface Subscription {
  id: string;
  appId: string;
  creatorId: string;
  delegatedEmail?: string;
  mailbox: Mailbox;
  resource: string;
  select?: string[];
  changeTypes: ChangeType[];
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  clientState?: string;
  expiresAt: number;
  includeResourceData: boolean;
  cert?: X509Certificate;
  certBase64?: string;
  certId?: string;
  notificationUrlAppId?: string;
  latestSupportedTlsVersion: string;
  state: GraphSubscriptionInfo['state'];
  reauthorizationRequired: boolean;
  held: Array<{ item: MailItem; changeType: ChangeType }>;
  corruptNextSignature: boolean;
  expiryTimer?: TimerHandle;
  createdAt: number;
  endedAt?: number;
}

type Json = Record<string, unknown>;

const CHANGE_TYPES = new Set<ChangeType>(['created', 'updated', 'deleted']);
const MAX_ATTEMPTS_KEPT = 1000;
const MAX_ENDED_KEPT = 200;
const READ_SCOPES = ['Mail.Read', 'Mail.ReadWrite', 'Mail.ReadBasic', 'Mail.ReadBasic.All'];

/** Graph writes DateTimeOffset with 7 fractional digits. */
const graphTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '0000Z');
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

const handshakeFailed = (detail: string) =>
  new GraphError(400, 'ValidationError', `Subscription validation request failed. ${detail}`);

export class GraphService {
  readonly limits: GraphLimits;
  readonly #subs = new Map<string, Subscription>();
  readonly #attempts: Attempt[] = [];
  #seq = 0;
  readonly #store: MailboxStore;
  readonly #entra: Entra;
  readonly #clock: SimClock;
  readonly #log: RingLog;
  readonly #poster: Poster;
  readonly #say: (line: string) => void;
  #closed = false;

  constructor(deps: {
    store: MailboxStore;
    entra: Entra;
    clock: SimClock;
    log: RingLog;
    limits?: Partial<GraphLimits>;
    callbackCa?: string | Buffer | Array<string | Buffer>;
    say?: (line: string) => void;
  }) {
    this.#store = deps.store;
    this.#entra = deps.entra;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.#poster = new Poster(deps.callbackCa);
    this.#say = deps.say ?? (() => {});
  }

  // ---- Graph API (caller authenticated) ----

  async create(caller: Caller, body: Json): Promise<Json> {
    const { user, select } = parseSubscriptionResource(body.resource);
    const mailbox = this.#target(caller, user);
    const changeTypes = parseChangeType(body.changeType);
    const notificationUrl = this.#checkUrl(body.notificationUrl, 'notificationUrl');
    const lifecycleNotificationUrl =
      body.lifecycleNotificationUrl == null
        ? undefined
        : this.#checkUrl(body.lifecycleNotificationUrl, 'lifecycleNotificationUrl');
    const clientState = optionalString(body.clientState, 'clientState', 128);
    const includeResourceData = body.includeResourceData === true;
    const expiresAt = this.#checkExpiration(body.expirationDateTime, includeResourceData);
    if (
      this.limits.requireLifecycleUrlOverOneHour &&
      !lifecycleNotificationUrl &&
      expiresAt - this.#clock.now() > 3_600_000
    ) {
      throw new GraphError(
        400,
        'InvalidRequest',
        'lifecycleNotificationUrl is required when expirationDateTime is more than 1 hour from now.',
      );
    }
    let cert: X509Certificate | undefined;
    let certId: string | undefined;
    if (includeResourceData) {
      cert = parseEncryptionCertificate(body.encryptionCertificate);
      certId = optionalString(body.encryptionCertificateId, 'encryptionCertificateId', 128);
      if (!certId)
        throw new GraphError(
          400,
          'InvalidRequest',
          'encryptionCertificateId is required when includeResourceData is true.',
        );
    }
    const live = [...this.#subs.values()].filter((s) => s.mailbox === mailbox && s.state === 'active');
    if (live.length >= this.limits.maxSubscriptionsPerMailbox) {
      throw new GraphError(
        403,
        'ExtensionError',
        `Operation: Create; Exception: [Status Code: Forbidden; Reason: The mailbox has reached the limit of ${this.limits.maxSubscriptionsPerMailbox} subscriptions.]`,
      );
    }
    await this.#handshake(notificationUrl);
    if (lifecycleNotificationUrl) await this.#handshake(lifecycleNotificationUrl);
    const sub: Subscription = {
      id: randomUUID(),
      appId: caller.appId,
      creatorId: caller.kind === 'app' ? caller.app.servicePrincipalId : userId(mailbox),
      delegatedEmail: caller.kind === 'delegated' ? mailbox.email : undefined,
      mailbox,
      resource: body.resource as string,
      select,
      changeTypes,
      notificationUrl,
      lifecycleNotificationUrl,
      clientState,
      expiresAt,
      includeResourceData,
      cert,
      certBase64: includeResourceData ? (body.encryptionCertificate as string) : undefined,
      certId,
      notificationUrlAppId: optionalString(body.notificationUrlAppId, 'notificationUrlAppId', 128),
      latestSupportedTlsVersion:
        optionalString(body.latestSupportedTlsVersion, 'latestSupportedTlsVersion', 8) ?? 'v1_2',
      state: 'active',
      reauthorizationRequired: false,
      held: [],
      corruptNextSignature: false,
      createdAt: this.#clock.now(),
    };
    this.#subs.set(sub.id, sub);
    this.#armExpiry(sub);
    this.#say(`graph subscription ${sub.id} (${mailbox.email}) created`);
    return this.#json(sub);
  }

  list(caller: Caller): Json {
    return {
      value: [...this.#subs.values()]
        .filter((s) => s.state === 'active' && owns(caller, s))
        .map((s) => this.#json(s)),
    };
  }

  get(caller: Caller, id: string): Json {
    return this.#json(this.#own(caller, id));
  }

  async update(caller: Caller, id: string, body: Json): Promise<Json> {
    const sub = this.#own(caller, id);
    const allowed = new Set([
      'expirationDateTime',
      'notificationUrl',
      'encryptionCertificate',
      'encryptionCertificateId',
      'latestSupportedTlsVersion',
      '@odata.type',
    ]);
    const extra = Object.keys(body).find((k) => !allowed.has(k));
    if (extra)
      throw new GraphError(
        400,
        'InvalidRequest',
        `The property '${extra}' cannot be updated on a subscription.`,
      );
    const expiresAt =
      body.expirationDateTime === undefined
        ? undefined
        : this.#checkExpiration(body.expirationDateTime, sub.includeResourceData);
    const url =
      body.notificationUrl === undefined
        ? undefined
        : this.#checkUrl(body.notificationUrl, 'notificationUrl');
    const cert =
      body.encryptionCertificate === undefined
        ? undefined
        : parseEncryptionCertificate(body.encryptionCertificate);
    const certId = optionalString(body.encryptionCertificateId, 'encryptionCertificateId', 128);
    if (url !== undefined && url !== sub.notificationUrl) await this.#handshake(url);
    if (sub.state !== 'active') throw notFound();
    if (expiresAt !== undefined) sub.expiresAt = expiresAt;
    if (url !== undefined) sub.notificationUrl = url;
    if (cert) {
      sub.cert = cert;
      sub.certBase64 = body.encryptionCertificate as string;
    }
    if (certId !== undefined) sub.certId = certId;
    if (typeof body.latestSupportedTlsVersion === 'string')
      sub.latestSupportedTlsVersion = body.latestSupportedTlsVersion;
    this.#armExpiry(sub);
    this.#reauthorized(sub);
    return this.#json(sub);
  }

  delete(caller: Caller, id: string): void {
    this.#end(this.#own(caller, id), 'deleted');
  }

  reauthorize(caller: Caller, id: string): void {
    this.#reauthorized(this.#own(caller, id));
  }

  getMessage(caller: Caller, user: string | undefined, messageId: string, query: URLSearchParams): Json {
    const mailbox = this.#target(caller, user);
    const select = parseSelect(query.get('$select'), MESSAGE_PROPERTIES);
    if (!/^[A-Za-z0-9_=-]+$/.test(messageId))
      throw new GraphError(400, 'ErrorInvalidIdMalformed', 'Id is malformed.');
    const item = mailbox.items.get(ewsId(messageId));
    if (!item)
      throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    const context = `https://graph.microsoft.com/v1.0/$metadata#users('${userId(mailbox)}')/messages${select ? `(${select.join(',')})` : ''}/$entity`;
    return { '@odata.context': context, ...messageJson(mailbox, item, select) };
  }

  getInbox(caller: Caller, user: string | undefined): Json {
    const mailbox = this.#target(caller, user);
    return {
      '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#users('${userId(mailbox)}')/mailFolders/$entity`,
      ...inboxJson(mailbox),
    };
  }

  // ---- the mailbox side ----

  /** A change on a mailbox's Inbox message: notify every live subscription that wants it. */
  publish(mailbox: Mailbox, item: MailItem, changeType: ChangeType): Promise<GraphDeliveryOutcome[]> {
    const outcomes: Array<Promise<GraphDeliveryOutcome>> = [];
    for (const sub of this.#subs.values()) {
      if (sub.mailbox !== mailbox || sub.state !== 'active' || !sub.changeTypes.includes(changeType))
        continue;
      if (sub.reauthorizationRequired) {
        sub.held.push({ item, changeType });
        outcomes.push(Promise.resolve({ subscriptionId: sub.id, result: 'held' }));
        continue;
      }
      outcomes.push(this.#notifyChange(sub, item, changeType));
    }
    return this.#clock.track(Promise.all(outcomes));
  }

  // ---- control API ----

  subscriptions(): GraphSubscriptionInfo[] {
    return [...this.#subs.values()].map((s) => this.#info(s));
  }

  subscription(id: string): GraphSubscriptionInfo {
    const sub = this.#subs.get(id);
    if (!sub) throw new SimError('subscription_not_found', `no Graph subscription ${id}`, 404);
    return this.#info(sub);
  }

  attempts(filter: { subscriptionId?: string; kind?: Attempt['kind'] } = {}): Attempt[] {
    return this.#attempts
      .filter(
        (a) =>
          (!filter.subscriptionId || a.subscriptionId === filter.subscriptionId) &&
          (!filter.kind || a.kind === filter.kind),
      )
      .map((a) => ({ ...a }));
  }

  /** Fault: the next rich notification of this subscription carries a wrong dataSignature. */
  corruptNextSignature(id: string): GraphSubscriptionInfo {
    const sub = this.#live(id);
    if (!sub.includeResourceData)
      throw new SimError('not_rich', `subscription ${id} does not include resource data`, 409);
    sub.corruptNextSignature = true;
    return this.#info(sub);
  }

  async lifecycle(
    id: string,
    event: unknown,
  ): Promise<{ subscription: GraphSubscriptionInfo; delivery: GraphDeliveryOutcome }> {
    if (event !== 'reauthorizationRequired' && event !== 'subscriptionRemoved' && event !== 'missed') {
      throw new SimError(
        'invalid_event',
        'event must be reauthorizationRequired, subscriptionRemoved or missed',
      );
    }
    const sub = this.#live(id);
    if (!sub.lifecycleNotificationUrl) {
      throw new SimError('no_lifecycle_url', `subscription ${id} has no lifecycleNotificationUrl`, 409);
    }
    if (event === 'reauthorizationRequired') sub.reauthorizationRequired = true;
    if (event === 'subscriptionRemoved') this.#end(sub, 'removed');
    const item: Json = {
      subscriptionId: sub.id,
      subscriptionExpirationDateTime: graphTime(sub.expiresAt),
      tenantId: this.#entra.tenantId,
      organizationId: this.#entra.tenantId,
      clientState: sub.clientState ?? null,
      lifecycleEvent: event,
      resource: sub.resource,
      resourceData: {
        '@odata.type': '#Microsoft.Graph.Subscription',
        '@odata.id': `Subscriptions('${sub.id}')`,
        id: sub.id,
      },
    };
    const delivery = await this.#clock.track(
      this.#deliver(sub, sub.lifecycleNotificationUrl, await this.#collection(sub, item), {
        kind: 'lifecycle',
        lifecycleEvent: event,
      }),
    );
    return { subscription: this.#info(sub), delivery };
  }

  close(): void {
    this.#closed = true;
    for (const sub of this.#subs.values()) this.#clock.clearTimer(sub.expiryTimer);
    this.#poster.close();
  }

  // ---- internals ----

  #target(caller: Caller, user: string | undefined): Mailbox {
    const scopes = caller.kind === 'app' ? caller.roles : caller.scopes;
    if (!scopes.some((s) => READ_SCOPES.includes(s))) throw accessDenied();
    if (user === undefined) {
      if (caller.kind === 'app') {
        throw new GraphError(
          400,
          'BadRequest',
          '/me request is only valid with delegated authentication flow.',
        );
      }
      return findUser(this.#store, caller.email);
    }
    const mailbox = findUser(this.#store, user);
    if (caller.kind === 'delegated' && mailbox.email.toLowerCase() !== caller.email.toLowerCase())
      throw accessDenied();
    if (caller.kind === 'app' && !this.#entra.appMayAccess(caller.app, mailbox.email)) {
      throw new GraphError(
        403,
        'ErrorAccessDenied',
        'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.',
      );
    }
    return mailbox;
  }

  #own(caller: Caller, id: string): Subscription {
    const sub = this.#subs.get(id);
    if (sub?.state !== 'active' || !owns(caller, sub)) throw notFound();
    return sub;
  }

  #live(id: string): Subscription {
    const sub = this.#subs.get(id);
    if (!sub) throw new SimError('subscription_not_found', `no Graph subscription ${id}`, 404);
    if (sub.state !== 'active')
      throw new SimError('subscription_ended', `subscription ${id} is ${sub.state}`, 409);
    return sub;
  }

  #checkUrl(value: unknown, name: string): string {
    let url: URL;
    try {
      url = new URL(String(value));
    } catch {
      throw new GraphError(400, 'InvalidRequest', `The '${name}' property is not a valid absolute URL.`);
    }
    const loopbackHttp =
      url.protocol === 'http:' && this.limits.allowHttpLoopback && LOOPBACK.test(url.hostname);
    if (url.protocol !== 'https:' && !loopbackHttp) {
      throw new GraphError(400, 'InvalidRequest', `The '${name}' must use the HTTPS protocol.`);
    }
    return String(value);
  }

  #checkExpiration(value: unknown, rich: boolean): number {
    const at = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(at))
      throw new GraphError(
        400,
        'InvalidRequest',
        "The 'expirationDateTime' property is required and must be a DateTimeOffset.",
      );
    const now = this.#clock.now();
    if (at <= now)
      throw new GraphError(400, 'InvalidRequest', 'Subscription expiration must be in the future.');
    const max = rich ? this.limits.maxExpirationMinutesWithResourceData : this.limits.maxExpirationMinutes;
    if (at - now > max * 60_000) {
      throw new GraphError(
        400,
        'InvalidRequest',
        `Subscription expiration can only be ${max} minutes in the future.`,
      );
    }
    return at;
  }

  async #handshake(url: string): Promise<void> {
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const target = `${url}${url.includes('?') ? '&' : '?'}validationToken=${encodeURIComponent(token)}`;
    const answer = await this.#poster.post(
      target,
      '',
      'text/plain; charset=utf-8',
      this.limits.validationTimeoutMs,
    );
    const problem =
      answer.error !== undefined
        ? `Notification endpoint must respond with 200 OK to validation request. (${answer.error})`
        : answer.status !== 200
          ? 'Notification endpoint must respond with 200 OK to validation request.'
          : !/^text\/plain\b/i.test(answer.contentType ?? '')
            ? 'Response must have Content-Type text/plain.'
            : answer.body !== token
              ? 'Response must exactly match validationToken query parameter.'
              : undefined;
    this.#record({
      kind: 'validation',
      url,
      attempt: 1,
      status: answer.status,
      ok: !problem,
      error: problem,
      durationMs: answer.durationMs,
    });
    if (problem) throw handshakeFailed(problem);
  }

  async #notifyChange(
    sub: Subscription,
    item: MailItem,
    changeType: ChangeType,
  ): Promise<GraphDeliveryOutcome> {
    const uid = userId(sub.mailbox);
    const id = restId(item.id);
    const path = `Users/${uid}/Messages/${id}`;
    const notification: Json = {
      subscriptionId: sub.id,
      subscriptionExpirationDateTime: graphTime(sub.expiresAt),
      changeType,
      resource: path,
      resourceData: {
        '@odata.type': '#Microsoft.Graph.Message',
        '@odata.id': path,
        '@odata.etag': etag(item.changeKey),
        id,
      },
      clientState: sub.clientState ?? null,
      tenantId: this.#entra.tenantId,
    };
    if (sub.includeResourceData && sub.cert && sub.certId) {
      const data = JSON.stringify({
        '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#users('${uid}')/messages/$entity`,
        '@odata.type': '#Microsoft.Graph.Message',
        '@odata.id': path,
        ...messageJson(sub.mailbox, item, sub.select),
      });
      notification.encryptedContent = encryptContent(data, sub.cert, sub.certId, {
        corruptSignature: sub.corruptNextSignature,
      });
      sub.corruptNextSignature = false;
    }
    return this.#deliver(sub, sub.notificationUrl, await this.#collection(sub, notification), {
      kind: 'change',
      changeType,
    });
  }

  async #collection(sub: Subscription, item: Json): Promise<string> {
    const body: Json = { value: [item] };
    if (sub.includeResourceData)
      body.validationTokens = [await this.#entra.validationToken(sub.notificationUrlAppId ?? sub.appId)];
    return JSON.stringify(body);
  }

  /** POST a notification; on failure schedule retries on the clock. Resolves with the first attempt's outcome. */
  #deliver(
    sub: Subscription,
    url: string,
    body: string,
    what: Pick<Attempt, 'kind' | 'changeType' | 'lifecycleEvent'>,
  ): Promise<GraphDeliveryOutcome> {
    const notificationId = randomUUID();
    const firstAt = this.#clock.now();
    const attempt = async (n: number): Promise<GraphDeliveryOutcome> => {
      const answer = await this.#poster.post(
        url,
        body,
        'application/json; charset=utf-8',
        this.limits.notificationTimeoutMs,
      );
      const ok = answer.status !== undefined && answer.status >= 200 && answer.status < 300;
      const error = ok ? undefined : (answer.error ?? `HTTP ${answer.status}`);
      const delay = this.limits.firstRetryMs * 2 ** (n - 1);
      const retry = !ok && !this.#closed && this.#clock.now() + delay - firstAt <= this.limits.retryWindowMs;
      let nextRetryAt: string | undefined;
      if (retry) {
        const timer = this.#clock.setTimer(
          delay,
          async () => {
            if (what.kind === 'change' && sub.state !== 'active') return;
            await attempt(n + 1);
          },
          `graph retry ${sub.id} attempt ${n + 1}`,
        );
        nextRetryAt = new Date(timer.at).toISOString();
      }
      this.#record({
        ...what,
        subscriptionId: sub.id,
        notificationId,
        url,
        attempt: n,
        status: answer.status,
        ok,
        error,
        durationMs: answer.durationMs,
        nextRetryAt,
        gaveUp: !ok && !retry ? true : undefined,
      });
      this.#log.add({
        time: new Date(this.#clock.now()).toISOString(),
        kind: 'callback',
        method: 'POST',
        url,
        subscriptionId: sub.id,
        attempt: n,
        status: answer.status,
        requestBody: body,
        responseBody: answer.body,
        error,
        durationMs: answer.durationMs,
      });
      return {
        subscriptionId: sub.id,
        result: ok ? 'ok' : 'failed',
        status: answer.status,
        error,
        nextRetryAt,
      };
    };
    return attempt(1);
  }

  #reauthorized(sub: Subscription): void {
    if (!sub.reauthorizationRequired) return;
    sub.reauthorizationRequired = false;
    const held = sub.held.splice(0);
    for (const { item, changeType } of held)
      void this.#clock.track(this.#notifyChange(sub, item, changeType));
  }

  #armExpiry(sub: Subscription): void {
    this.#clock.clearTimer(sub.expiryTimer);
    sub.expiryTimer = this.#clock.setTimer(
      sub.expiresAt - this.#clock.now(),
      () => {
        sub.expiryTimer = undefined;
        if (sub.state === 'active') this.#end(sub, 'expired');
      },
      `graph expiry ${sub.id}`,
    );
  }

  #end(sub: Subscription, state: 'expired' | 'deleted' | 'removed'): void {
    sub.state = state;
    sub.endedAt = this.#clock.now();
    sub.held = [];
    this.#clock.clearTimer(sub.expiryTimer);
    sub.expiryTimer = undefined;
    this.#say(`graph subscription ${sub.id} (${sub.mailbox.email}) ${state}`);
    const ended = [...this.#subs.values()].filter((s) => s.state !== 'active');
    for (const old of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_KEPT))) this.#subs.delete(old.id);
  }

  #record(attempt: Omit<Attempt, 'seq' | 'at'>): void {
    const clean = Object.fromEntries(Object.entries(attempt).filter(([, v]) => v !== undefined)) as Omit<
      Attempt,
      'seq' | 'at'
    >;
    this.#attempts.push({ seq: ++this.#seq, at: new Date(this.#clock.now()).toISOString(), ...clean });
    if (this.#attempts.length > MAX_ATTEMPTS_KEPT) this.#attempts.shift();
  }

  #json(sub: Subscription): Json {
    return {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity',
      id: sub.id,
      resource: sub.resource,
      applicationId: sub.appId,
      changeType: sub.changeTypes.join(','),
      clientState: sub.clientState ?? null,
      notificationUrl: sub.notificationUrl,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: sub.lifecycleNotificationUrl ?? null,
      expirationDateTime: graphTime(sub.expiresAt),
      creatorId: sub.creatorId,
      includeResourceData: sub.includeResourceData,
      latestSupportedTlsVersion: sub.latestSupportedTlsVersion,
      encryptionCertificate: sub.certBase64 ?? null,
      encryptionCertificateId: sub.certId ?? null,
      notificationUrlAppId: sub.notificationUrlAppId ?? null,
    };
  }

  #info(sub: Subscription): GraphSubscriptionInfo {
    return {
      id: sub.id,
      mailbox: sub.mailbox.email,
      applicationId: sub.appId,
      resource: sub.resource,
      changeType: sub.changeTypes.join(','),
      notificationUrl: sub.notificationUrl,
      lifecycleNotificationUrl: sub.lifecycleNotificationUrl ?? null,
      expirationDateTime: graphTime(sub.expiresAt),
      includeResourceData: sub.includeResourceData,
      state: sub.state,
      reauthorizationRequired: sub.reauthorizationRequired,
      heldNotifications: sub.held.length,
      corruptNextSignature: sub.corruptNextSignature,
      createdAt: new Date(sub.createdAt).toISOString(),
      endedAt: sub.endedAt === undefined ? undefined : new Date(sub.endedAt).toISOString(),
    };
  }
}

function owns(caller: Caller, sub: Subscription): boolean {
  if (sub.appId.toLowerCase() !== caller.appId.toLowerCase()) return false;
  return caller.kind === 'app' || sub.delegatedEmail?.toLowerCase() === caller.email.toLowerCase();
}

const notFound = () => new GraphError(404, 'ResourceNotFound', 'The object was not found.');

function parseChangeType(value: unknown): ChangeType[] {
  if (typeof value !== 'string' || !value)
    throw new GraphError(400, 'InvalidRequest', "The 'changeType' property is required.");
  const types = value.split(',').map((t) => t.trim());
  for (const t of types) {
    if (!CHANGE_TYPES.has(t as ChangeType))
      throw new GraphError(400, 'InvalidRequest', `Invalid 'changeType' attribute: '${t}'.`);
  }
  return [...new Set(types as ChangeType[])];
}

function optionalString(value: unknown, name: string, max: number): string | undefined {
  if (value == null) return undefined;
  if (typeof value !== 'string')
    throw new GraphError(400, 'InvalidRequest', `The '${name}' property must be a string.`);
  if (value.length > max) {
    throw new GraphError(
      400,
      'InvalidRequest',
      `The '${name}' property exceeds the maximum length of ${max} characters.`,
    );
  }
  return value;
}
