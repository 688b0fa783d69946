/**
 * The push side of EWS notifications (MS-OXWSNTIF): Exchange POSTs a SendNotification request
 * (messages.xsd SendNotificationResponseType — the schema reuses a response type for it) to the
 * subscription's URL and expects a SendNotificationResult telling it to continue or unsubscribe.
 */

import { parseXsBoolean } from './operations/get-item.ts';
import { escapeXml, M_NS, readSoapBody, SOAP_NS, T_NS } from './soap.ts';
import type { EwsEvent, EwsEventType, SendNotification, SubscriptionStatus } from './types.ts';
import { attr, child, childrenOf, childText, type XmlElement, type XmlLimits, XmlParseError } from './xml.ts';

/** types.xsd NotificationType's event choice. */
const eventTypes: ReadonlySet<string> = new Set<EwsEventType>([
  'StatusEvent',
  'NewMailEvent',
  'CreatedEvent',
  'ModifiedEvent',
  'DeletedEvent',
  'MovedEvent',
  'CopiedEvent',
  'FreeBusyChangedEvent',
]);

function malformed(message: string): XmlParseError {
  return new XmlParseError('unexpected_structure', `SendNotification: ${message}`);
}

/**
 * Longest id, watermark or timestamp accepted, in UTF-8 bytes. Exchange's are base64 of well under
 * 200 bytes; the values end up in database keys (the outbox dedupe key is `mail:{ItemId}`), and
 * PostgreSQL refuses an index entry over 2704 bytes: without this bound a hostile or broken
 * sender got a 500, and Exchange retries a 500.
 */
export const MAX_NOTIFICATION_ID_BYTES = 1024;
/** xs:int, the type of UnreadCount (and the database column that keeps it). */
const XS_INT_MAX = 2_147_483_647;

function bounded<T extends string | undefined>(value: T, what: string): T {
  if (value !== undefined && Buffer.byteLength(value, 'utf8') > MAX_NOTIFICATION_ID_BYTES) {
    throw malformed(`${what} is longer than ${MAX_NOTIFICATION_ID_BYTES} bytes`);
  }
  return value;
}

function idOf(el: XmlElement, local: string): string | undefined {
  const idEl = child(el, T_NS, local);
  if (!idEl) return undefined;
  const id = attr(idEl, 'Id');
  if (!id) throw malformed(`${local} without Id`);
  return bounded(id, `${local} Id`);
}

function readEvent(el: XmlElement): EwsEvent {
  const event: EwsEvent = { type: el.local as EwsEventType };
  const watermark = bounded(childText(el, T_NS, 'Watermark'), 'Watermark');
  if (watermark) event.watermark = watermark;
  if (event.type === 'StatusEvent') return event; // BaseNotificationEventType: Watermark only
  // BaseObjectChangedEventType: TimeStamp, ItemId | FolderId, ParentFolderId.
  const timeStamp = bounded(childText(el, T_NS, 'TimeStamp'), 'TimeStamp');
  if (timeStamp) event.timeStamp = timeStamp;
  const itemId = idOf(el, 'ItemId');
  const folderId = idOf(el, 'FolderId');
  if (itemId === undefined && folderId === undefined)
    throw malformed(`${event.type} without ItemId or FolderId`);
  if (itemId !== undefined) event.itemId = itemId;
  if (folderId !== undefined) event.folderId = folderId;
  const parentFolderId = idOf(el, 'ParentFolderId');
  if (parentFolderId !== undefined) event.parentFolderId = parentFolderId;
  if (event.type === 'MovedEvent' || event.type === 'CopiedEvent') {
    // MovedCopiedEventType: OldItemId | OldFolderId, OldParentFolderId.
    const oldItemId = idOf(el, 'OldItemId');
    const oldFolderId = idOf(el, 'OldFolderId');
    const oldParentFolderId = idOf(el, 'OldParentFolderId');
    if (oldItemId !== undefined) event.oldItemId = oldItemId;
    if (oldFolderId !== undefined) event.oldFolderId = oldFolderId;
    if (oldParentFolderId !== undefined) event.oldParentFolderId = oldParentFolderId;
  }
  if (event.type === 'ModifiedEvent') {
    // ModifiedEventType: the folder's new UnreadCount (xs:int), when the folder changed.
    const unread = childText(el, T_NS, 'UnreadCount');
    if (unread !== undefined) {
      if (!/^[+]?\d{1,10}$/.test(unread) || Number(unread) > XS_INT_MAX)
        throw malformed('UnreadCount is not a count');
      event.unreadCount = Number(unread);
    }
  }
  return event;
}

function readNotification(message: XmlElement): SendNotification {
  const notification = child(message, M_NS, 'Notification');
  if (!notification) throw malformed('no m:Notification');
  const subscriptionId = bounded(childText(notification, T_NS, 'SubscriptionId'), 'SubscriptionId');
  if (!subscriptionId) throw malformed('no SubscriptionId');
  const result: SendNotification = { subscriptionId, moreEvents: false, events: [] };
  const previous = bounded(childText(notification, T_NS, 'PreviousWatermark'), 'PreviousWatermark');
  if (previous) result.previousWatermark = previous;
  const more = childText(notification, T_NS, 'MoreEvents');
  if (more !== undefined) {
    try {
      result.moreEvents = parseXsBoolean(more);
    } catch {
      throw malformed('MoreEvents is not a boolean');
    }
  }
  for (const el of notification.children) {
    if (el.ns === T_NS && eventTypes.has(el.local)) result.events.push(readEvent(el));
  }
  // NotificationType requires at least one event (the choice has minOccurs=1).
  if (result.events.length === 0) throw malformed('no events');
  return result;
}

/** Parse the SendNotification request Exchange posts to the callback URL. Throws XmlError. */
export function parseSendNotification(body: string | Buffer, limits?: Partial<XmlLimits>): SendNotification {
  const request = readSoapBody(body, limits);
  if (request.ns !== M_NS || request.local !== 'SendNotification') throw malformed('not a SendNotification');
  const messages = childrenOf(
    child(request, M_NS, 'ResponseMessages'),
    M_NS,
    'SendNotificationResponseMessage',
  );
  if (messages.length === 0) throw malformed('no SendNotificationResponseMessage');
  // The schema allows several response messages; Exchange sends one per request for one
  // subscription. Several for the same subscription are merged; mixed subscriptions cannot be
  // answered with one SubscriptionStatus, so they are refused.
  const [first, ...rest] = messages.map(readNotification);
  for (const next of rest) {
    if (next.subscriptionId !== first!.subscriptionId)
      throw malformed('several subscriptions in one request');
    first!.events.push(...next.events);
    first!.moreEvents ||= next.moreEvents;
  }
  return first!;
}

/** The SendNotificationResult envelope Herald answers with (messages.xsd SendNotificationResultType). */
export function buildSendNotificationResult(status: SubscriptionStatus): string {
  if (status !== 'OK' && status !== 'Unsubscribe') throw new RangeError('status must be OK or Unsubscribe');
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<soap:Envelope xmlns:soap="${SOAP_NS}" xmlns:m="${M_NS}">` +
    `<soap:Body><m:SendNotificationResult><m:SubscriptionStatus>${status}</m:SubscriptionStatus>` +
    '</m:SendNotificationResult></soap:Body></soap:Envelope>'
  );
}

/**
 * A SOAP 1.1 fault (SOAP 1.1 section 4.4): soap:Client when the request was bad, soap:Server
 * when Herald could not take it (e.g. storage down) so Exchange retries later.
 */
export function buildSoapFault(faultcode: 'soap:Client' | 'soap:Server', message: string): string {
  if (faultcode !== 'soap:Client' && faultcode !== 'soap:Server') {
    throw new RangeError('faultcode must be soap:Client or soap:Server');
  }
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<soap:Envelope xmlns:soap="${SOAP_NS}"><soap:Body><soap:Fault>` +
    `<faultcode>${faultcode}</faultcode><faultstring>${escapeXml(message)}</faultstring>` +
    '</soap:Fault></soap:Body></soap:Envelope>'
  );
}
