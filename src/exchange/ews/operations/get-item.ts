/**
 * GetItem for the few properties a notification shows (messages.xsd GetItemType). IdOnly plus
 * named properties keeps the answer small and never fetches the body (privacy by default).
 */

import { buildEnvelope, escapeXml, expectResponseMessage, M_NS, readSoapBody, T_NS } from '../soap.ts';
import type { MailItem } from '../types.ts';
import { attr, child, childText, type XmlLimits, XmlParseError } from '../xml.ts';

export const itemProperties = [
  'item:Subject',
  'message:From',
  'message:IsRead',
  'item:DateTimeReceived',
] as const;

export function buildGetItemRequest(itemId: string, requestServerVersion?: string): string {
  if (!itemId) throw new RangeError('itemId must not be empty');
  const paths = itemProperties.map((uri) => `<t:FieldURI FieldURI="${uri}"/>`).join('');
  return buildEnvelope(
    '<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>' +
      `<t:AdditionalProperties>${paths}</t:AdditionalProperties></m:ItemShape>` +
      `<m:ItemIds><t:ItemId Id="${escapeXml(itemId)}"/></m:ItemIds></m:GetItem>`,
    requestServerVersion,
  );
}

export function parseGetItemResponse(body: string | Uint8Array, limits?: Partial<XmlLimits>): MailItem {
  const message = expectResponseMessage(readSoapBody(body, limits), 'GetItem');
  // m:Items holds one item of any item type (t:Message, t:MeetingRequest, t:Item, ...).
  const item = child(message, M_NS, 'Items')?.children.find((c) => c.ns === T_NS);
  const idEl = child(item, T_NS, 'ItemId');
  const itemId = attr(idEl, 'Id');
  if (!item || !itemId) throw new XmlParseError('unexpected_structure', 'GetItemResponseMessage has no item');
  const result: MailItem = { itemId, subject: childText(item, T_NS, 'Subject') ?? '', from: {} };
  const changeKey = attr(idEl, 'ChangeKey');
  if (changeKey) result.changeKey = changeKey;
  // types.xsd SingleRecipientType: From/Mailbox with Name and EmailAddress (both optional).
  const mailbox = child(child(item, T_NS, 'From'), T_NS, 'Mailbox');
  const name = childText(mailbox, T_NS, 'Name');
  const address = childText(mailbox, T_NS, 'EmailAddress');
  if (name) result.from.name = name;
  if (address) result.from.address = address;
  const isRead = childText(item, T_NS, 'IsRead');
  if (isRead !== undefined) result.isRead = parseXsBoolean(isRead);
  const received = childText(item, T_NS, 'DateTimeReceived');
  if (received) result.dateTimeReceived = received;
  return result;
}

/** xs:boolean's lexical space is true/false/1/0 (XML Schema Part 2, 3.2.2). */
export function parseXsBoolean(text: string): boolean {
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new XmlParseError('unexpected_structure', 'not an xs:boolean');
}
