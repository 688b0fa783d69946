/**
 * The simulator's state and the changes the control API can make: mailboxes, mail delivery,
 * marking items read, killing subscriptions, revoking tokens. Each change writes the events
 * Exchange would write to the mailbox event table and hands them to the notifier.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type ClockOptions, type ClockState, SimClock } from '../clock.ts';
import { type GraphDeliveryOutcome, type GraphOptions, GraphSim } from './graph/index.ts';
import { RingLog } from './log.ts';
import { type DeliveryOutcome, Notifier, type NotifierOptions, type SubscriptionInfo } from './notifier.ts';
import {
  type Address,
  bumpChangeKey,
  changeKey,
  type IdAndKey,
  type Mailbox,
  type MailboxSpec,
  MailboxStore,
  type MailItem,
  newItemId,
  recordEvent,
  SimError,
  unreadCount,
} from './store.ts';

export interface MailboxInfo {
  email: string;
  username?: string;
  hasPassword: boolean;
  tokenCount: number;
  inbox: { folderId: string; totalCount: number; unreadCount: number };
  watermark: string;
}

export interface ItemInfo {
  itemId: string;
  changeKey: string;
  subject: string;
  from: Address;
  isRead: boolean;
  dateTimeReceived: string;
}

export interface DeliverInput {
  subject: string;
  from: Address;
  body?: string;
  bodyType?: 'Text' | 'HTML';
}

export interface DeliverResult {
  itemId: string;
  changeKey: string;
  /** With `wait`: one entry per live subscription that wanted the events. */
  outcomes?: DeliveryOutcome[];
  /** With `wait`: one entry per live Graph subscription on the Inbox (first attempt). */
  graph?: GraphDeliveryOutcome[];
}

export interface MarkReadResult {
  itemId: string;
  changeKey: string;
  isRead: boolean;
  changed: boolean;
  outcomes?: DeliveryOutcome[];
  graph?: GraphDeliveryOutcome[];
}

export interface SimulatorOptions extends NotifierOptions {
  clock?: ClockOptions;
  logLimit?: number;
  graph?: GraphOptions;
}

const snapshot = (id: IdAndKey): IdAndKey => ({ id: id.id, changeKey: id.changeKey });

export class ExchangeSim {
  readonly store = new MailboxStore();
  readonly clock: SimClock;
  readonly log: RingLog;
  readonly notifier: Notifier;
  readonly graph: GraphSim;
  /** Set once the server listens, e.g. http://127.0.0.1:8090. */
  baseUrl = '';

  constructor(options: SimulatorOptions = {}) {
    this.clock = new SimClock(options.clock ?? { mode: 'manual' }, (error, label) =>
      options.log?.(`timer ${label} failed: ${String(error)}`),
    );
    this.log = new RingLog(options.logLimit);
    this.notifier = new Notifier(this.clock, this.log, () => randomBytes(33).toString('base64'), options);
    this.graph = new GraphSim({
      store: this.store,
      clock: this.clock,
      log: this.log,
      options: options.graph,
      callbackCa: options.callbackCa,
      say: options.log,
    });
  }

  createMailbox(spec: MailboxSpec): MailboxInfo {
    if (
      spec.tokens !== undefined &&
      (!Array.isArray(spec.tokens) || spec.tokens.some((t) => typeof t !== 'string' || !t))
    ) {
      throw new SimError('invalid_tokens', 'tokens must be an array of non-empty strings');
    }
    if (spec.password !== undefined && typeof spec.password !== 'string') {
      throw new SimError('invalid_password', 'password must be a string');
    }
    if (
      spec.autodiscoverEwsUrl !== undefined &&
      (typeof spec.autodiscoverEwsUrl !== 'string' || !/^https?:\/\/[^\s]+$/i.test(spec.autodiscoverEwsUrl))
    ) {
      throw new SimError('invalid_autodiscover_url', 'autodiscoverEwsUrl must be an http(s) URL');
    }
    const mailbox = this.store.create(spec);
    this.graph.mailboxAdded(mailbox);
    return this.mailboxInfo(mailbox);
  }

  mailboxes(): MailboxInfo[] {
    return this.store.all().map((m) => this.mailboxInfo(m));
  }

  mailbox(email: string): MailboxInfo & { items: ItemInfo[] } {
    const mailbox = this.store.require(email);
    return {
      ...this.mailboxInfo(mailbox),
      items: [...mailbox.items.values()].map((i) => ({
        itemId: i.id,
        changeKey: i.changeKey,
        subject: i.subject,
        from: i.from,
        isRead: i.isRead,
        dateTimeReceived: new Date(i.received).toISOString(),
      })),
    };
  }

  /** Deliver a mail to the Inbox: CreatedEvent + NewMailEvent on the item, ModifiedEvent on the Inbox. */
  async deliver(
    email: string,
    input: DeliverInput,
    options: { wait?: boolean } = {},
  ): Promise<DeliverResult> {
    const mailbox = this.store.require(email);
    if (typeof input?.subject !== 'string') throw new SimError('invalid_mail', 'subject must be a string');
    const address = input.from?.address;
    if (typeof address !== 'string' || !address.includes('@')) {
      throw new SimError('invalid_mail', 'from.address must be an email address');
    }
    if (input.bodyType !== undefined && input.bodyType !== 'Text' && input.bodyType !== 'HTML') {
      throw new SimError('invalid_mail', 'bodyType must be Text or HTML');
    }
    const now = this.clock.now();
    const item: MailItem = {
      id: newItemId(mailbox),
      changeKey: changeKey(1),
      subject: input.subject,
      from: { name: typeof input.from.name === 'string' ? input.from.name : undefined, address },
      to: [{ name: mailbox.displayName, address: mailbox.email }],
      body: typeof input.body === 'string' ? input.body : '',
      bodyType: input.bodyType ?? 'Text',
      isRead: false,
      received: now,
      internetMessageId: `<${randomUUID()}@sim.exchange.invalid>`,
    };
    mailbox.items.set(item.id, item);
    bumpChangeKey(mailbox.inbox);
    const onItem = { timeStamp: now, itemId: snapshot(item), parentFolderId: snapshot(mailbox.inbox) };
    const events = [
      recordEvent(mailbox, { type: 'CreatedEvent', ...onItem }),
      recordEvent(mailbox, { type: 'NewMailEvent', ...onItem }),
      recordEvent(mailbox, this.#inboxModified(mailbox, now)),
    ];
    const published = this.notifier.publish(mailbox, events);
    const graph = this.graph.service.publish(mailbox, item, 'created');
    const result: DeliverResult = { itemId: item.id, changeKey: item.changeKey };
    if (options.wait) [result.outcomes, result.graph] = await Promise.all([published, graph]);
    return result;
  }

  /** Set IsRead: ModifiedEvent on the item, ModifiedEvent (with UnreadCount) on the Inbox. */
  async markRead(
    email: string,
    itemId: string,
    isRead = true,
    options: { wait?: boolean } = {},
  ): Promise<MarkReadResult> {
    const mailbox = this.store.require(email);
    const item = mailbox.items.get(itemId);
    if (!item) throw new SimError('item_not_found', `no item ${itemId} in ${email}`, 404);
    if (item.isRead === isRead) return { itemId, changeKey: item.changeKey, isRead, changed: false };
    item.isRead = isRead;
    bumpChangeKey(item);
    bumpChangeKey(mailbox.inbox);
    const now = this.clock.now();
    const events = [
      recordEvent(mailbox, {
        type: 'ModifiedEvent',
        timeStamp: now,
        itemId: snapshot(item),
        parentFolderId: snapshot(mailbox.inbox),
      }),
      recordEvent(mailbox, this.#inboxModified(mailbox, now)),
    ];
    const published = this.notifier.publish(mailbox, events);
    const graph = this.graph.service.publish(mailbox, item, 'updated');
    const result: MarkReadResult = { itemId, changeKey: item.changeKey, isRead, changed: true };
    if (options.wait) [result.outcomes, result.graph] = await Promise.all([published, graph]);
    return result;
  }

  subscriptions(email?: string): SubscriptionInfo[] {
    return this.notifier.list(email === undefined ? undefined : this.store.require(email));
  }

  subscription(id: string): SubscriptionInfo {
    const info = this.notifier.info(id);
    if (!info) throw new SimError('subscription_not_found', `no subscription ${id}`, 404);
    return info;
  }

  /** Drop a subscription silently, as Exchange does when it loses one (restart, mailbox move). */
  killSubscription(id: string): SubscriptionInfo {
    this.subscription(id);
    if (!this.notifier.end(id, 'killed'))
      throw new SimError('subscription_ended', `subscription ${id} already ended`, 409);
    return this.subscription(id);
  }

  loseEvents(id: string, count: number): SubscriptionInfo {
    this.subscription(id);
    if (!Number.isInteger(count) || count < 1 || count > 10_000)
      throw new SimError('invalid_count', 'count must be an integer from 1 to 10000');
    if (!this.notifier.loseEvents(id, count))
      throw new SimError('subscription_ended', `subscription ${id} already ended`, 409);
    return this.subscription(id);
  }

  revokeToken(token: string): { revoked: boolean } {
    if (typeof token !== 'string' || !token)
      throw new SimError('invalid_token', 'token must be a non-empty string');
    return { revoked: this.store.revoke(token) };
  }

  addToken(email: string, token: string): MailboxInfo {
    if (typeof token !== 'string' || !token)
      throw new SimError('invalid_token', 'token must be a non-empty string');
    this.store.addToken(email, token);
    return this.mailboxInfo(this.store.require(email));
  }

  async advance(ms: number): Promise<ClockState> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw new SimError('invalid_ms', 'ms must be a number >= 0');
    }
    await this.clock.advance(ms);
    return this.clock.state();
  }

  close(): void {
    this.notifier.close();
    this.graph.close();
    this.clock.close();
  }

  mailboxInfo(mailbox: Mailbox): MailboxInfo {
    return {
      email: mailbox.email,
      username: mailbox.username,
      hasPassword: mailbox.password !== undefined,
      tokenCount: mailbox.tokens.size,
      inbox: {
        folderId: mailbox.inbox.id,
        totalCount: mailbox.items.size,
        unreadCount: unreadCount(mailbox),
      },
      watermark: mailbox.watermark,
    };
  }

  #inboxModified(mailbox: Mailbox, now: number) {
    return {
      type: 'ModifiedEvent' as const,
      timeStamp: now,
      folderId: snapshot(mailbox.inbox),
      parentFolderId: snapshot(mailbox.root),
      unreadCount: unreadCount(mailbox),
    };
  }
}
