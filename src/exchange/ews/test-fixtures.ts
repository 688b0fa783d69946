/**
 * Hand-written Exchange answers for the tests, modelled on messages.xsd/types.xsd and the EWS
 * reference examples (Exchange 2016/2019 shape: s: envelope, h:ServerVersionInfo header, m:/t:
 * body). Variants with other prefixes and default namespaces prove the parsers read by namespace.
 * Test-only: imported by *.test.ts, never by the client.
 */
export const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';
export const M = 'http://schemas.microsoft.com/exchange/services/2006/messages';
export const T = 'http://schemas.microsoft.com/exchange/services/2006/types';

export const ids = {
  subscription: 'JwBkYjVwcjA2bWIxMjg4LmV1cnByZDA2LnByb2Qub3V0bG9vay5jb20QAAAAF8sXTl+V5UWDW6GLVa1+Gw==',
  watermark: 'AQAAAGzQ0q/3F8dEmV6wKGMNgSPvRwIAAAAAAAA=',
  item: 'AAMkADk0N2Y1MzQ4LWJkMDgtNDNiZC05ZTUzLWQ2ZDhmZjhiYWY3NABGAAAAAADWz0dt+VpLQp+0KQjs4nq/BwC=',
  changeKey: 'CQAAABYAAACLmYpvjQN9Tqt5o1HEnnlaAAAOd3VF',
  inbox: 'AAMkADk0N2Y1MzQ4LWJkMDgtNDNiZC05ZTUzLWQ2ZDhmZjhiYWY3NAAuAAAAAADWz0dt+VpLQp+0KQjs4nq/AQA=',
  drafts: 'AAMkADk0N2Y1MzQ4LWJkMDgtNDNiZC05ZTUzLWQ2ZDhmZjhiYWY3NAAuAAAAAADWz0dt+VpLQp+0KQjs4nq/AQB=',
};

const serverVersionHeader =
  '<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" ' +
  `MinorBuildNumber="4" Version="V2017_07_11" xmlns:h="${T}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema"/></s:Header>';

/** Wrap a body element (using m:/t:) the way Exchange does. */
export function exchangeEnvelope(body: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n<s:Envelope xmlns:s="${SOAP}">${serverVersionHeader}` +
    '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">' +
    `${body}</s:Body></s:Envelope>`
  );
}

function response(operation: string, inner: string, responseClass = 'Success', code = 'NoError'): string {
  return exchangeEnvelope(
    `<m:${operation}Response xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages>` +
      `<m:${operation}ResponseMessage ResponseClass="${responseClass}"><m:ResponseCode>${code}</m:ResponseCode>` +
      `${inner}</m:${operation}ResponseMessage></m:ResponseMessages></m:${operation}Response>`,
  );
}

export const subscribeSuccess = response(
  'Subscribe',
  `<m:SubscriptionId>${ids.subscription}</m:SubscriptionId><m:Watermark>${ids.watermark}</m:Watermark>`,
);

/** Same answer, default namespaces and unusual prefixes throughout. */
export const subscribeSuccessOtherPrefixes =
  `<env:Envelope xmlns:env="${SOAP}"><env:Body><SubscribeResponse xmlns="${M}"><ResponseMessages>` +
  '<SubscribeResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode>' +
  `<SubscriptionId>${ids.subscription}</SubscriptionId><Watermark>${ids.watermark}</Watermark>` +
  '</SubscribeResponseMessage></ResponseMessages></SubscribeResponse></env:Body></env:Envelope>';

export const unsubscribeSuccess = response('Unsubscribe', '');

export const getItemSuccess = response(
  'GetItem',
  `<m:Items><t:Message><t:ItemId Id="${ids.item}" ChangeKey="${ids.changeKey}"/>` +
    '<t:Subject>Q3 numbers &amp; forecast</t:Subject><t:DateTimeReceived>2024-05-02T09:15:00Z</t:DateTimeReceived>' +
    '<t:From><t:Mailbox><t:Name>Adele Vance</t:Name><t:EmailAddress>AdeleV@contoso.com</t:EmailAddress>' +
    '<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:From>' +
    '<t:IsRead>false</t:IsRead></t:Message></m:Items>',
);

/** A meeting request (another item type), messages namespace as default, types under `ty:`. */
export const getItemOtherPrefixes =
  `<S:Envelope xmlns:S="${SOAP}"><S:Body><GetItemResponse xmlns="${M}" xmlns:ty="${T}"><ResponseMessages>` +
  '<GetItemResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode><Items>' +
  `<ty:MeetingRequest><ty:ItemId Id="${ids.item}"/><ty:Subject>Sync</ty:Subject>` +
  '<ty:From><ty:Mailbox><ty:EmailAddress>ext@fabrikam.com</ty:EmailAddress></ty:Mailbox></ty:From>' +
  '<ty:IsRead>1</ty:IsRead></ty:MeetingRequest></Items></GetItemResponseMessage></ResponseMessages>' +
  '</GetItemResponse></S:Body></S:Envelope>';

export function getFolderSuccess(unread: number): string {
  return response(
    'GetFolder',
    `<m:Folders><t:Folder><t:FolderId Id="${ids.inbox}" ChangeKey="AQAAABYAAACLmYpvjQN9Tqt5o1HEnnlaAAAOd3bH"/>` +
      `<t:UnreadCount>${unread}</t:UnreadCount></t:Folder></m:Folders>`,
  );
}

/** Empty containers Exchange still sends in a failed message (they are required by the schema). */
const emptyContainer: Record<string, string> = { GetItem: '<m:Items/>', GetFolder: '<m:Folders/>' };

/** ErrorServerBusy as a ResponseMessage ("EWS throttling in Exchange"). */
export function serverBusy(operation: string, backOffMs: number): string {
  return response(
    operation,
    `<m:MessageXml><t:Value Name="BackOffMilliseconds">${backOffMs}</t:Value></m:MessageXml>` +
      (emptyContainer[operation] ?? ''),
    'Error',
    'ErrorServerBusy',
  ).replace(
    '<m:ResponseCode>',
    '<m:MessageText>The server cannot service this request right now. Try again later.</m:MessageText><m:ResponseCode>',
  );
}

export const itemNotFound = response('GetItem', '<m:Items/>', 'Error', 'ErrorItemNotFound').replace(
  '<m:ResponseCode>',
  '<m:MessageText>The specified object was not found in the store., AdeleV@contoso.com</m:MessageText><m:ResponseCode>',
);

/** EWS answers a schema violation with HTTP 500 and this fault. */
export const schemaValidationFault =
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${SOAP}"><s:Body><s:Fault>` +
  '<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSchemaValidation</faultcode>' +
  '<faultstring xml:lang="en-US">The request failed schema validation.</faultstring><detail>' +
  '<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorSchemaValidation</e:ResponseCode>' +
  '<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The request failed schema validation.</e:Message>' +
  '</detail></s:Fault></s:Body></s:Envelope>';

/** Throttling reported as a fault (HTTP 500), with the back-off in the detail's MessageXml. */
export function serverBusyFault(backOffMs: number): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="${SOAP}"><soapenv:Body><soapenv:Fault>` +
    `<faultcode xmlns:a="${T}">a:ErrorServerBusy</faultcode>` +
    '<faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>' +
    '<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>' +
    `<x:MessageXml xmlns:x="${T}"><x:Value Name="BackOffMilliseconds">${backOffMs}</x:Value></x:MessageXml>` +
    '</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>'
  );
}

/** A SendNotification with one event of every kind (types.xsd NotificationType). */
export const sendNotificationAllEvents =
  `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP}" ` +
  'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">' +
  '<soap:Header><t:RequestServerVersion xmlns:t="' +
  T +
  '" Version="Exchange2013"/></soap:Header><soap:Body>' +
  `<m:SendNotification xmlns:m="${M}" xmlns:t="${T}"><m:ResponseMessages>` +
  '<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>' +
  `<m:Notification><t:SubscriptionId>${ids.subscription}</t:SubscriptionId>` +
  `<t:PreviousWatermark>${ids.watermark}</t:PreviousWatermark><t:MoreEvents>true</t:MoreEvents>` +
  `<t:NewMailEvent><t:Watermark>W1</t:Watermark><t:TimeStamp>2024-05-02T09:15:00Z</t:TimeStamp>` +
  `<t:ItemId Id="${ids.item}" ChangeKey="${ids.changeKey}"/><t:ParentFolderId Id="${ids.inbox}"/></t:NewMailEvent>` +
  `<t:CreatedEvent><t:Watermark>W2</t:Watermark><t:TimeStamp>2024-05-02T09:15:01Z</t:TimeStamp>` +
  `<t:ItemId Id="${ids.item}"/><t:ParentFolderId Id="${ids.inbox}"/></t:CreatedEvent>` +
  `<t:ModifiedEvent><t:Watermark>W3</t:Watermark><t:TimeStamp>2024-05-02T09:15:02Z</t:TimeStamp>` +
  `<t:FolderId Id="${ids.inbox}"/><t:ParentFolderId Id="root"/><t:UnreadCount>7</t:UnreadCount></t:ModifiedEvent>` +
  `<t:DeletedEvent><t:Watermark>W4</t:Watermark><t:TimeStamp>2024-05-02T09:15:03Z</t:TimeStamp>` +
  `<t:ItemId Id="gone"/><t:ParentFolderId Id="${ids.inbox}"/></t:DeletedEvent>` +
  `<t:MovedEvent><t:Watermark>W5</t:Watermark><t:TimeStamp>2024-05-02T09:15:04Z</t:TimeStamp>` +
  `<t:ItemId Id="moved-new"/><t:ParentFolderId Id="${ids.drafts}"/>` +
  `<t:OldItemId Id="moved-old"/><t:OldParentFolderId Id="${ids.inbox}"/></t:MovedEvent>` +
  `<t:CopiedEvent><t:Watermark>W6</t:Watermark><t:TimeStamp>2024-05-02T09:15:05Z</t:TimeStamp>` +
  `<t:FolderId Id="copy-new"/><t:ParentFolderId Id="root"/>` +
  `<t:OldFolderId Id="copy-old"/><t:OldParentFolderId Id="root"/></t:CopiedEvent>` +
  `<t:FreeBusyChangedEvent><t:Watermark>W7</t:Watermark><t:TimeStamp>2024-05-02T09:15:06Z</t:TimeStamp>` +
  `<t:ItemId Id="fb"/><t:ParentFolderId Id="cal"/></t:FreeBusyChangedEvent>` +
  '<t:StatusEvent><t:Watermark>W8</t:Watermark></t:StatusEvent>' +
  '</m:Notification></m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification>' +
  '</soap:Body></soap:Envelope>';

/** A status ping, written with default namespaces and other prefixes. */
export const sendNotificationStatusOtherPrefixes =
  `<e:Envelope xmlns:e="${SOAP}"><e:Body><SendNotification xmlns="${M}"><ResponseMessages>` +
  '<SendNotificationResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode>' +
  `<mm:Notification xmlns:mm="${M}" xmlns="${T}"><SubscriptionId>${ids.subscription}</SubscriptionId>` +
  `<PreviousWatermark>${ids.watermark}</PreviousWatermark><MoreEvents>false</MoreEvents>` +
  '<StatusEvent><Watermark>W9</Watermark></StatusEvent></mm:Notification>' +
  '</SendNotificationResponseMessage></ResponseMessages></SendNotification></e:Body></e:Envelope>';
