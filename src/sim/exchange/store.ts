/**
 * The simulated mailboxes: credentials, the Inbox and its items, and the mailbox event table
 * whose positions are the watermarks handed out in Subscribe responses and notifications.
 * Only the Inbox exists; that is all Herald watches.
 *
 * Identifiers are opaque base64 strings like Exchange's (they contain `+`, `/` and `=`), so a
 * client that treats them as anything but opaque breaks here as it would against Exchange.
 */
import { randomBytes } from 'node:crypto';

export interface Address {
  name?: string;
  address: string;
}

export interface IdAndKey {
  id: string;
  changeKey: string;
}

export interface MailItem extends IdAndKey {
  subject: string;
  from: Address;
  to: Address[];
  body: string;
  bodyType: 'Text' | 'HTML';
  isRead: boolean;
  /** Virtual epoch milliseconds. */
  received: number;
  internetMessageId: string;
}

export type EventName =
  | 'NewMailEvent'
  | 'CreatedEvent'
  | 'ModifiedEvent'
  | 'DeletedEvent'
  | 'MovedEvent'
  | 'CopiedEvent'
  | 'FreeBusyChangedEvent'
  | 'StatusEvent';

/** One row of the mailbox event table (or a status ping, which has only a watermark). */
export interface MailboxEvent {
  type: EventName;
  watermark: string;
  timeStamp?: number;
  itemId?: IdAndKey;
  folderId?: IdAndKey;
  parentFolderId?: IdAndKey;
  unreadCount?: number;
}

export interface MailboxSpec {
  email: string;
  password?: string;
  username?: string;
  tokens?: string[];
  displayName?: string;
  /**
   * The EWS URL Autodiscover reports for this mailbox (default: the simulator's own). Another
   * server's URL plays a hybrid organisation's mailbox that lives elsewhere.
   */
  autodiscoverEwsUrl?: string;
}

export interface Mailbox {
  email: string;
  displayName: string;
  username?: string;
  password?: string;
  tokens: Set<string>;
  guid: Buffer;
  inbox: IdAndKey;
  root: IdAndKey;
  items: Map<string, MailItem>;
  /** Bounded event table: watermark → position, for Subscribe with a Watermark. */
  events: MailboxEvent[];
  eventCounter: number;
  /** Watermark of the newest event (or of the empty table). */
  watermark: string;
  /** Watermark of the empty table, valid until the table drops its oldest event. */
  origin: string | undefined;
  autodiscoverEwsUrl?: string | undefined;
}

export class SimError extends Error {
  override name = 'SimError';
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const EVENT_TABLE_LIMIT = 1000;
const ITEM_ID_BYTES = 46;

export class MailboxStore {
  readonly #byEmail = new Map<string, Mailbox>();
  readonly #revoked = new Set<string>();

  create(spec: MailboxSpec): Mailbox {
    const email = spec.email?.trim();
    if (!email || !/^[^@\s]+@[^@\s]+$/.test(email))
      throw new SimError('invalid_email', 'email must look like user@domain');
    const key = email.toLowerCase();
    if (this.#byEmail.has(key)) throw new SimError('mailbox_exists', `mailbox ${email} already exists`, 409);
    const guid = randomBytes(16);
    const mailbox: Mailbox = {
      email,
      displayName: spec.displayName ?? email.split('@')[0]!,
      username: spec.username,
      password: spec.password,
      tokens: new Set(spec.tokens ?? []),
      guid,
      inbox: { id: folderId(guid, 1), changeKey: changeKey(1) },
      root: { id: folderId(guid, 0), changeKey: changeKey(1) },
      items: new Map(),
      events: [],
      eventCounter: 0,
      watermark: watermarkFor(guid, 0),
      origin: watermarkFor(guid, 0),
      autodiscoverEwsUrl: spec.autodiscoverEwsUrl,
    };
    this.#byEmail.set(key, mailbox);
    return mailbox;
  }

  get(email: string): Mailbox | undefined {
    return this.#byEmail.get(email.toLowerCase());
  }

  require(email: string): Mailbox {
    const mailbox = this.get(email);
    if (!mailbox) throw new SimError('mailbox_not_found', `no mailbox ${email}`, 404);
    return mailbox;
  }

  all(): Mailbox[] {
    return [...this.#byEmail.values()];
  }

  /** Mailbox whose Basic credentials match (username = email or the configured username). */
  byBasic(user: string, password: string): Mailbox | undefined {
    const wanted = user.toLowerCase();
    return this.all().find(
      (m) =>
        m.password !== undefined &&
        m.password === password &&
        (m.email.toLowerCase() === wanted || m.username?.toLowerCase() === wanted),
    );
  }

  byToken(token: string): Mailbox | undefined {
    if (this.#revoked.has(token)) return undefined;
    return this.all().find((m) => m.tokens.has(token));
  }

  /** Revoke a bearer token; true when some mailbox held it. */
  revoke(token: string): boolean {
    const known = this.all().some((m) => m.tokens.has(token));
    this.#revoked.add(token);
    for (const m of this.all()) m.tokens.delete(token);
    return known;
  }

  addToken(email: string, token: string): void {
    this.#revoked.delete(token);
    this.require(email).tokens.add(token);
  }
}

export function unreadCount(mailbox: Mailbox): number {
  let unread = 0;
  for (const item of mailbox.items.values()) if (!item.isRead) unread++;
  return unread;
}

/** Append an event to the mailbox's event table, giving it the next watermark. */
export function recordEvent(mailbox: Mailbox, event: Omit<MailboxEvent, 'watermark'>): MailboxEvent {
  mailbox.eventCounter++;
  const stored: MailboxEvent = { ...event, watermark: watermarkFor(mailbox.guid, mailbox.eventCounter) };
  mailbox.watermark = stored.watermark;
  mailbox.events.push(stored);
  if (mailbox.events.length > EVENT_TABLE_LIMIT) {
    mailbox.events.shift();
    mailbox.origin = undefined;
  }
  return stored;
}

/**
 * Events after `watermark`, or undefined when the watermark is not in the table (Exchange then
 * answers ErrorInvalidWatermark; see PushSubscriptionRequest, Watermark element).
 */
export function eventsAfter(mailbox: Mailbox, watermark: string): MailboxEvent[] | undefined {
  if (watermark === mailbox.watermark) return [];
  if (watermark === mailbox.origin) return [...mailbox.events];
  const index = mailbox.events.findIndex((e) => e.watermark === watermark);
  if (index < 0) return undefined;
  return mailbox.events.slice(index + 1);
}

export function newItemId(mailbox: Mailbox): string {
  // Shape only: 2 header bytes, the mailbox guid, a marker, then random bytes.
  return Buffer.concat([
    Buffer.from([0x00, 0x03]),
    mailbox.guid,
    Buffer.from([0x46]),
    randomBytes(27),
  ]).toString('base64');
}

/** Whether a string could be one of our item ids (else Exchange says ErrorInvalidIdMalformed). */
export function isWellFormedItemId(id: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(id)) return false;
  const bytes = Buffer.from(id, 'base64');
  return (
    bytes.length === ITEM_ID_BYTES &&
    bytes.toString('base64') === id &&
    bytes[0] === 0x00 &&
    bytes[1] === 0x03
  );
}

export function changeKey(version: number): string {
  const bytes = Buffer.alloc(20);
  bytes.write('CQAAABYAAA', 0, 'latin1');
  bytes.writeUInt32BE(version, 16);
  return bytes.toString('base64');
}

function folderId(guid: Buffer, n: number): string {
  return Buffer.concat([Buffer.from([0x00, 0x01]), guid, Buffer.from([0x2e, 0x00, n])]).toString('base64');
}

function watermarkFor(guid: Buffer, counter: number): string {
  const position = Buffer.alloc(8);
  position.writeBigUInt64BE(BigInt(counter));
  return Buffer.concat([Buffer.from([0x01, 0x00, 0x00, 0x00]), guid.subarray(0, 8), position]).toString(
    'base64',
  );
}

export function bumpChangeKey(target: IdAndKey): void {
  const bytes = Buffer.from(target.changeKey, 'base64');
  const version = bytes.length >= 20 ? bytes.readUInt32BE(16) : 0;
  target.changeKey = changeKey(version + 1);
}
