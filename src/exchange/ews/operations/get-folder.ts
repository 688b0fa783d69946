/** GetFolder on the distinguished Inbox for its UnreadCount (messages.xsd GetFolderType). */
import { buildEnvelope, expectResponseMessage, M_NS, readSoapBody, T_NS } from '../soap.ts';
import { child, childText, type XmlLimits, XmlParseError } from '../xml.ts';

export function buildGetInboxRequest(requestServerVersion?: string): string {
  return buildEnvelope(
    '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>' +
      '<t:AdditionalProperties><t:FieldURI FieldURI="folder:UnreadCount"/></t:AdditionalProperties>' +
      '</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>',
    requestServerVersion,
  );
}

export function parseGetInboxUnreadCount(body: string | Uint8Array, limits?: Partial<XmlLimits>): number {
  const message = expectResponseMessage(readSoapBody(body, limits), 'GetFolder');
  // m:Folders holds one folder of any folder type (t:Folder, t:CalendarFolder, ...).
  const folder = child(message, M_NS, 'Folders')?.children.find((c) => c.ns === T_NS);
  const text = childText(folder, T_NS, 'UnreadCount');
  const count = Number(text);
  if (!text || !/^\d+$/.test(text) || !Number.isSafeInteger(count)) {
    throw new XmlParseError('unexpected_structure', 'GetFolderResponseMessage has no UnreadCount');
  }
  return count;
}
