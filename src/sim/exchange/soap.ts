/**
 * SOAP 1.1 envelopes as Exchange writes them: responses carry `t:ServerVersionInfo` in the
 * header; errors inside an operation are ResponseMessages with ResponseClass="Error"; requests
 * that cannot be understood at all get a soap:Fault with an EWS faultcode and HTTP 500
 * (Exchange answers schema violations this way: faultcode a:ErrorSchemaValidation).
 * Every body built here must validate against Microsoft's messages.xsd / types.xsd.
 */
import type { IdAndKey, MailboxEvent } from './store.ts';
import { esc, NS } from './xml.ts';

/** What the simulator reports as its version: Exchange Server 2019 CU14. */
export const SERVER_VERSION = {
  MajorVersion: 15,
  MinorVersion: 2,
  MajorBuildNumber: 1544,
  MinorBuildNumber: 4,
  Version: 'V2017_07_11',
} as const;

/** types.xsd ExchangeVersionType: the values a RequestServerVersion may carry. */
export const EXCHANGE_VERSIONS = new Set([
  'Exchange2007',
  'Exchange2007_SP1',
  'Exchange2009',
  'Exchange2010',
  'Exchange2010_SP1',
  'Exchange2010_SP2',
  'Exchange2012',
  'Exchange2013',
  'Exchange2013_SP1',
  'Exchange2015',
  'Exchange2016',
  'V2015_10_05',
  'V2016_01_06',
  'V2016_04_13',
  'V2016_07_13',
  'V2016_10_10',
  'V2017_01_07',
  'V2017_04_14',
  'V2017_07_11',
  'V2017_10_09',
  'V2018_01_08',
]);

const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>';

export function responseEnvelope(body: string): string {
  const v = SERVER_VERSION;
  const header = `<h:ServerVersionInfo xmlns:h="${NS.t}" MajorVersion="${v.MajorVersion}" MinorVersion="${v.MinorVersion}" MajorBuildNumber="${v.MajorBuildNumber}" MinorBuildNumber="${v.MinorBuildNumber}" Version="${v.Version}"/>`;
  return `${XML_DECL}<s:Envelope xmlns:s="${NS.soap}"><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

/** A response element such as m:GetItemResponse wrapping its response messages. */
export function responseBody(operation: string, messages: string[]): string {
  return `<m:${operation}Response xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseMessages>${messages.join('')}</m:ResponseMessages></m:${operation}Response>`;
}

export function successMessage(element: string, inner = ''): string {
  return `<m:${element} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>${inner}</m:${element}>`;
}

/** An error response message; `tail` is what the type requires after the base (e.g. empty m:Items). */
export function errorMessage(element: string, code: string, text: string, tail = ''): string {
  return `<m:${element} ResponseClass="Error"><m:MessageText>${esc(text)}</m:MessageText><m:ResponseCode>${code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${tail}</m:${element}>`;
}

/** soap:Fault the way Exchange sends it for requests it rejects before any operation runs. */
export function faultEnvelope(
  code: string,
  message: string,
  soapCode?: 'Client' | 'Server' | 'VersionMismatch',
): string {
  const faultcode = soapCode
    ? `<faultcode>s:${soapCode}</faultcode>`
    : `<faultcode xmlns:a="${NS.t}">a:${code}</faultcode>`;
  return `${XML_DECL}<s:Envelope xmlns:s="${NS.soap}"><s:Body><s:Fault>${faultcode}<faultstring xml:lang="en-US">${esc(message)}</faultstring><detail><e:ResponseCode xmlns:e="${NS.e}">${code}</e:ResponseCode><e:Message xmlns:e="${NS.e}">${esc(message)}</e:Message></detail></s:Fault></s:Body></s:Envelope>`;
}

export function idXml(element: string, id: IdAndKey): string {
  return `<t:${element} Id="${esc(id.id)}" ChangeKey="${esc(id.changeKey)}"/>`;
}

/** xs:dateTime as Exchange writes it: UTC, whole seconds. */
export function dateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One event inside t:Notification (types.xsd NotificationType; MS-OXWSNTIF 2.2.4). */
export function eventXml(event: MailboxEvent): string {
  const watermark = `<t:Watermark>${esc(event.watermark)}</t:Watermark>`;
  if (event.type === 'StatusEvent') return `<t:StatusEvent>${watermark}</t:StatusEvent>`;
  const target = event.itemId ? idXml('ItemId', event.itemId) : idXml('FolderId', event.folderId!);
  const unread =
    event.type === 'ModifiedEvent' && event.unreadCount !== undefined
      ? `<t:UnreadCount>${event.unreadCount}</t:UnreadCount>`
      : '';
  return `<t:${event.type}>${watermark}<t:TimeStamp>${dateTime(event.timeStamp ?? 0)}</t:TimeStamp>${target}${idXml('ParentFolderId', event.parentFolderId!)}${unread}</t:${event.type}>`;
}

export interface NotificationInput {
  subscriptionId: string;
  previousWatermark: string;
  moreEvents: boolean;
  events: MailboxEvent[];
  /** RequestServerVersion of the Subscribe request; Exchange answers in the caller's version. */
  version: string;
}

/** The SendNotification request Exchange POSTs to the subscription's URL. */
export function sendNotificationEnvelope(n: NotificationInput): string {
  const notification = `<m:Notification><t:SubscriptionId>${esc(n.subscriptionId)}</t:SubscriptionId><t:PreviousWatermark>${esc(n.previousWatermark)}</t:PreviousWatermark><t:MoreEvents>${n.moreEvents}</t:MoreEvents>${n.events.map(eventXml).join('')}</m:Notification>`;
  const body = `<m:SendNotification xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseMessages>${successMessage('SendNotificationResponseMessage', notification)}</m:ResponseMessages></m:SendNotification>`;
  return `${XML_DECL}<soap:Envelope xmlns:soap="${NS.soap}"><soap:Header><t:RequestServerVersion xmlns:t="${NS.t}" Version="${esc(n.version)}"/></soap:Header><soap:Body>${body}</soap:Body></soap:Envelope>`;
}
