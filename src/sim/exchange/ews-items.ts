/**
 * GetItem and GetFolder for the Inbox and its messages.
 *
 * Response shapes follow "Property sets and response shapes in EWS in Exchange" (Tables 2-4):
 * IdOnly returns the id; Default returns, for a message, Body, DateTimeCreated, DateTimeSent,
 * From, HasAttachments, IsAssociated, IsDeliveryReceiptRequested, ItemId, Sensitivity, Size and
 * Subject (NOT IsRead nor DateTimeReceived: ask for them with AdditionalProperties or
 * AllProperties), and for the Inbox DisplayName, FolderId, ChildFolderCount, TotalCount and
 * UnreadCount. Elements are written in the order types.xsd requires.
 */
import { type EwsContext, type EwsResult, schemaFault } from './ews-common.ts';
import { dateTime, errorMessage, idXml, responseBody, responseEnvelope, successMessage } from './soap.ts';
import { type Address, isWellFormedItemId, type Mailbox, type MailItem, unreadCount } from './store.ts';
import { child, children, esc, NS, textOf, type XmlElement } from './xml.ts';

type Shape = 'IdOnly' | 'Default' | 'AllProperties';

interface Prop<T> {
  uri: string;
  inDefault: boolean;
  render: (target: T, mailbox: Mailbox, bodyType: string) => string;
}

function mailboxXml(address: Address): string {
  // Exchange fills Name with the address when the sender has no display name.
  return `<t:Mailbox><t:Name>${esc(address.name || address.address)}</t:Name><t:EmailAddress>${esc(address.address)}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>OneOff</t:MailboxType></t:Mailbox>`;
}

function bodyXml(item: MailItem, requested: string): string {
  const wanted = requested === 'Best' ? item.bodyType : requested;
  let content = item.body;
  if (wanted === 'HTML' && item.bodyType === 'Text') {
    content = `<html><body>${esc(item.body).replace(/\n/g, '<br>')}</body></html>`;
  } else if (wanted === 'Text' && item.bodyType === 'HTML') {
    content = item.body.replace(/<[^>]*>/g, '');
  }
  return `<t:Body BodyType="${wanted}">${esc(content)}</t:Body>`;
}

function itemSize(item: MailItem): number {
  return Buffer.byteLength(item.subject + item.body + item.from.address, 'utf8') + 1024;
}

const flag = (name: string, value: boolean) => `<t:${name}>${value}</t:${name}>`;

/** Message properties in types.xsd order (ItemType, then MessageType). */
const MESSAGE_PROPS: Array<Prop<MailItem>> = [
  { uri: 'item:ItemId', inDefault: true, render: (i) => idXml('ItemId', i) },
  { uri: 'item:ParentFolderId', inDefault: false, render: (_, m) => idXml('ParentFolderId', m.inbox) },
  { uri: 'item:ItemClass', inDefault: false, render: () => '<t:ItemClass>IPM.Note</t:ItemClass>' },
  { uri: 'item:Subject', inDefault: true, render: (i) => `<t:Subject>${esc(i.subject)}</t:Subject>` },
  { uri: 'item:Sensitivity', inDefault: true, render: () => '<t:Sensitivity>Normal</t:Sensitivity>' },
  { uri: 'item:Body', inDefault: true, render: (i, _, bodyType) => bodyXml(i, bodyType) },
  {
    uri: 'item:DateTimeReceived',
    inDefault: false,
    render: (i) => `<t:DateTimeReceived>${dateTime(i.received)}</t:DateTimeReceived>`,
  },
  { uri: 'item:Size', inDefault: true, render: (i) => `<t:Size>${itemSize(i)}</t:Size>` },
  { uri: 'item:Importance', inDefault: false, render: () => '<t:Importance>Normal</t:Importance>' },
  { uri: 'item:IsDraft', inDefault: false, render: () => flag('IsDraft', false) },
  {
    uri: 'item:DateTimeSent',
    inDefault: true,
    render: (i) => `<t:DateTimeSent>${dateTime(i.received)}</t:DateTimeSent>`,
  },
  {
    uri: 'item:DateTimeCreated',
    inDefault: true,
    render: (i) => `<t:DateTimeCreated>${dateTime(i.received)}</t:DateTimeCreated>`,
  },
  {
    uri: 'item:DisplayTo',
    inDefault: false,
    render: (i) => `<t:DisplayTo>${esc(i.to.map((a) => a.name || a.address).join('; '))}</t:DisplayTo>`,
  },
  { uri: 'item:HasAttachments', inDefault: true, render: () => flag('HasAttachments', false) },
  { uri: 'item:IsAssociated', inDefault: true, render: () => flag('IsAssociated', false) },
  { uri: 'message:Sender', inDefault: false, render: (i) => `<t:Sender>${mailboxXml(i.from)}</t:Sender>` },
  {
    uri: 'message:ToRecipients',
    inDefault: false,
    render: (i) => `<t:ToRecipients>${i.to.map(mailboxXml).join('')}</t:ToRecipients>`,
  },
  {
    uri: 'message:IsDeliveryReceiptRequested',
    inDefault: true,
    render: () => flag('IsDeliveryReceiptRequested', false),
  },
  {
    uri: 'message:ConversationTopic',
    inDefault: false,
    render: (i) => `<t:ConversationTopic>${esc(i.subject)}</t:ConversationTopic>`,
  },
  { uri: 'message:From', inDefault: true, render: (i) => `<t:From>${mailboxXml(i.from)}</t:From>` },
  {
    uri: 'message:InternetMessageId',
    inDefault: false,
    render: (i) => `<t:InternetMessageId>${esc(i.internetMessageId)}</t:InternetMessageId>`,
  },
  { uri: 'message:IsRead', inDefault: false, render: (i) => flag('IsRead', i.isRead) },
];

/** Inbox properties in types.xsd order (BaseFolderType, then FolderType). */
const FOLDER_PROPS: Array<Prop<Mailbox>> = [
  { uri: 'folder:FolderId', inDefault: true, render: (m) => idXml('FolderId', m.inbox) },
  { uri: 'folder:ParentFolderId', inDefault: false, render: (m) => idXml('ParentFolderId', m.root) },
  { uri: 'folder:FolderClass', inDefault: false, render: () => '<t:FolderClass>IPF.Note</t:FolderClass>' },
  { uri: 'folder:DisplayName', inDefault: true, render: () => '<t:DisplayName>Inbox</t:DisplayName>' },
  {
    uri: 'folder:TotalCount',
    inDefault: true,
    render: (m) => `<t:TotalCount>${m.items.size}</t:TotalCount>`,
  },
  {
    uri: 'folder:ChildFolderCount',
    inDefault: true,
    render: () => '<t:ChildFolderCount>0</t:ChildFolderCount>',
  },
  {
    uri: 'folder:UnreadCount',
    inDefault: true,
    render: (m) => `<t:UnreadCount>${unreadCount(m)}</t:UnreadCount>`,
  },
];

function readShape(
  shape: XmlElement | undefined,
  name: string,
): { base: Shape; extra: Set<string>; bodyType: string } {
  if (!shape) throw schemaFault(`${name} is required`);
  const base = textOf(child(shape, NS.t, 'BaseShape'));
  if (base !== 'IdOnly' && base !== 'Default' && base !== 'AllProperties') {
    throw schemaFault(`BaseShape '${base ?? ''}' is not supported`);
  }
  const bodyType = textOf(child(shape, NS.t, 'BodyType')) ?? 'Best';
  if (!['Best', 'HTML', 'Text'].includes(bodyType)) throw schemaFault(`BodyType '${bodyType}' is invalid`);
  // Extended and indexed properties are not simulated; they are silently absent from answers.
  const extra = new Set(
    children(child(shape, NS.t, 'AdditionalProperties'), NS.t, 'FieldURI').map((f) => f.attrs.FieldURI ?? ''),
  );
  return { base, extra, bodyType };
}

function render<T>(
  props: Array<Prop<T>>,
  target: T,
  mailbox: Mailbox,
  shape: ReturnType<typeof readShape>,
): string {
  return props
    .filter(
      (p, i) =>
        i === 0 ||
        shape.base === 'AllProperties' ||
        (shape.base === 'Default' && p.inDefault) ||
        shape.extra.has(p.uri),
    )
    .map((p) => p.render(target, mailbox, shape.bodyType))
    .join('');
}

export function getItem(op: XmlElement, ctx: EwsContext): EwsResult {
  const shape = readShape(child(op, NS.m, 'ItemShape'), 'ItemShape');
  const ids = child(op, NS.m, 'ItemIds')?.children ?? [];
  if (ids.length === 0) throw schemaFault('ItemIds must contain at least one id');
  const messages = ids.map((idElement) => {
    const fail = (code: string, text: string) =>
      errorMessage('GetItemResponseMessage', code, text, '<m:Items/>');
    if (idElement.ns !== NS.t || idElement.local !== 'ItemId') {
      return fail('ErrorInvalidIdMalformed', 'Only ItemId is supported by the Exchange simulator.');
    }
    const id = idElement.attrs.Id ?? '';
    if (id === '') return fail('ErrorInvalidIdEmpty', 'Id is empty.');
    if (!isWellFormedItemId(id)) return fail('ErrorInvalidIdMalformed', 'Id is malformed.');
    const item = ctx.mailbox.items.get(id);
    if (!item) {
      return fail(
        'ErrorItemNotFound',
        'The specified object was not found in the store., The process failed to get the correct properties.',
      );
    }
    return successMessage(
      'GetItemResponseMessage',
      `<m:Items><t:Message>${render(MESSAGE_PROPS, item, ctx.mailbox, shape)}</t:Message></m:Items>`,
    );
  });
  return { status: 200, body: responseEnvelope(responseBody('GetItem', messages)) };
}

export function getFolder(op: XmlElement, ctx: EwsContext): EwsResult {
  const shape = readShape(child(op, NS.m, 'FolderShape'), 'FolderShape');
  const ids = child(op, NS.m, 'FolderIds')?.children ?? [];
  if (ids.length === 0) throw schemaFault('FolderIds must contain at least one id');
  const messages = ids.map((folder) => {
    const problem = resolveFolder(folder, ctx);
    if (problem) return errorMessage('GetFolderResponseMessage', problem.code, problem.text);
    return successMessage(
      'GetFolderResponseMessage',
      `<m:Folders><t:Folder>${render(FOLDER_PROPS, ctx.mailbox, ctx.mailbox, shape)}</t:Folder></m:Folders>`,
    );
  });
  return { status: 200, body: responseEnvelope(responseBody('GetFolder', messages)) };
}

/**
 * Check that a DistinguishedFolderId or FolderId names this mailbox's Inbox. Returns the
 * response code Exchange would give otherwise.
 */
export function resolveFolder(
  folder: XmlElement,
  ctx: EwsContext,
): { code: string; text: string } | undefined {
  if (folder.ns === NS.t && folder.local === 'DistinguishedFolderId') {
    const address = textOf(child(child(folder, NS.t, 'Mailbox'), NS.t, 'EmailAddress'));
    if (address && address.toLowerCase() !== ctx.mailbox.email.toLowerCase()) {
      if (!ctx.store.get(address)) {
        return {
          code: 'ErrorNonExistentMailbox',
          text: `No mailbox with such guid or SMTP address ${address}.`,
        };
      }
      return { code: 'ErrorAccessDenied', text: 'Access is denied. Check credentials and try again.' };
    }
    if (folder.attrs.Id !== 'inbox') {
      return {
        code: 'ErrorFolderNotFound',
        text: `The specified folder could not be found in the store (the simulator has only the inbox, not '${folder.attrs.Id ?? ''}').`,
      };
    }
    return undefined;
  }
  if (folder.ns === NS.t && folder.local === 'FolderId') {
    if (folder.attrs.Id === ctx.mailbox.inbox.id) return undefined;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(folder.attrs.Id ?? ''))
      return { code: 'ErrorInvalidIdMalformed', text: 'Id is malformed.' };
    return { code: 'ErrorFolderNotFound', text: 'The specified folder could not be found in the store.' };
  }
  return { code: 'ErrorInvalidIdMalformed', text: `Folder ids of type ${folder.local} are not supported.` };
}
