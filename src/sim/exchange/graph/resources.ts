/**
 * The mailboxes of the EWS simulator as Graph sees them: a user id (the mailbox GUID), message
 * and folder ids in Graph's REST form (the EWS id with `/` → `-` and `+` → `_`, as Graph's
 * translateExchangeIds restId), etags from the change keys, and the JSON of message and
 * mailFolder resources. Also the parsing of subscription `resource` paths.
 */
import type { Mailbox, MailboxStore, MailItem } from '../store.ts';
import { unreadCount } from '../store.ts';
import { GraphError } from './errors.ts';

export function userId(mailbox: Mailbox): string {
  const h = mailbox.guid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const restId = (ewsId: string) => ewsId.replace(/\//g, '-').replace(/\+/g, '_');
export const ewsId = (rest: string) => rest.replace(/-/g, '/').replace(/_/g, '+');
export const etag = (changeKey: string) => `W/"${changeKey}"`;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Find a mailbox by Graph user id or user principal name (email). */
export function findUser(store: MailboxStore, idOrEmail: string): Mailbox {
  const wanted = idOrEmail.toLowerCase();
  const mailbox = wanted.includes('@') ? store.get(wanted) : store.all().find((m) => userId(m) === wanted);
  if (!mailbox)
    throw new GraphError(404, 'ErrorInvalidUser', `The requested user '${idOrEmail}' is invalid.`);
  return mailbox;
}

export const MESSAGE_PROPERTIES = [
  'createdDateTime',
  'lastModifiedDateTime',
  'changeKey',
  'categories',
  'receivedDateTime',
  'sentDateTime',
  'hasAttachments',
  'internetMessageId',
  'subject',
  'bodyPreview',
  'importance',
  'parentFolderId',
  'conversationId',
  'isDeliveryReceiptRequested',
  'isReadReceiptRequested',
  'isRead',
  'isDraft',
  'inferenceClassification',
  'body',
  'sender',
  'from',
  'toRecipients',
  'ccRecipients',
  'bccRecipients',
  'replyTo',
  'flag',
] as const;

const recipient = (a: { name?: string; address: string }) => ({
  emailAddress: { name: a.name ?? a.address, address: a.address },
});

/** The message resource (all properties, or `select`; id and @odata.etag always). */
export function messageJson(mailbox: Mailbox, item: MailItem, select?: string[]): Record<string, unknown> {
  const all: Record<string, unknown> = {
    createdDateTime: iso(item.received),
    lastModifiedDateTime: iso(item.received),
    changeKey: item.changeKey,
    categories: [],
    receivedDateTime: iso(item.received),
    sentDateTime: iso(item.received),
    hasAttachments: false,
    internetMessageId: item.internetMessageId,
    subject: item.subject,
    bodyPreview:
      item.bodyType === 'HTML' ? item.body.replace(/<[^>]*>/g, '').slice(0, 255) : item.body.slice(0, 255),
    importance: 'normal',
    parentFolderId: restId(mailbox.inbox.id),
    conversationId: restId(Buffer.from(item.internetMessageId).toString('base64').slice(0, 40)),
    isDeliveryReceiptRequested: false,
    isReadReceiptRequested: false,
    isRead: item.isRead,
    isDraft: false,
    inferenceClassification: 'focused',
    body: { contentType: item.bodyType === 'HTML' ? 'html' : 'text', content: item.body },
    sender: recipient(item.from),
    from: recipient(item.from),
    toRecipients: item.to.map(recipient),
    ccRecipients: [],
    bccRecipients: [],
    replyTo: [],
    flag: { flagStatus: 'notFlagged' },
  };
  const out: Record<string, unknown> = { '@odata.etag': etag(item.changeKey), id: restId(item.id) };
  for (const key of MESSAGE_PROPERTIES) if (!select || select.includes(key)) out[key] = all[key];
  return out;
}

export function parseSelect(value: string | null, allowed: readonly string[]): string[] | undefined {
  if (value === null) return undefined;
  const fields = value
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const lower = new Map(allowed.map((a) => [a.toLowerCase(), a]));
  return fields.map((f) => {
    const known = lower.get(f.toLowerCase());
    if (!known && f.toLowerCase() !== 'id') {
      throw new GraphError(
        400,
        'RequestBroker--ParseUri',
        `Could not find a property named '${f}' on type 'Microsoft.OutlookServices.Message'.`,
      );
    }
    return known ?? 'id';
  });
}

export function inboxJson(mailbox: Mailbox): Record<string, unknown> {
  return {
    id: restId(mailbox.inbox.id),
    displayName: 'Inbox',
    parentFolderId: restId(mailbox.root.id),
    childFolderCount: 0,
    unreadItemCount: unreadCount(mailbox),
    totalItemCount: mailbox.items.size,
    sizeInBytes: [...mailbox.items.values()].reduce((n, i) => n + 1024 + Buffer.byteLength(i.body), 0),
    isHidden: false,
  };
}

/** Which mailbox and folder a path after /v1.0/ names: `users/{id|upn}/…` or `me/…`. */
export interface ParsedUserPath {
  /** undefined for `me`. */
  user?: string;
  /** Remaining segments after the user, lower-cased folder forms normalised to 'inbox'. */
  rest: string[];
}

/**
 * Normalise `mailFolders('Inbox')`, `mailFolders/inbox`, `mailfolders('inbox')` (Graph path
 * segments are case-insensitive) to the segments ['mailfolders', 'inbox'].
 */
export function parseUserPath(path: string): ParsedUserPath | undefined {
  const segments = path
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .split('/')
    .flatMap((s) => {
      const call = /^([A-Za-z]+)\('([^']*)'\)$/.exec(s);
      return call ? [call[1]!, call[2]!] : [s];
    })
    .map((s, i) => (i === 0 || /^(users|me|mailfolders|messages|inbox)$/i.test(s) ? s.toLowerCase() : s));
  if (segments[0] === 'me') return { rest: segments.slice(1) };
  if (segments[0] === 'users' && segments[1]) return { user: segments[1], rest: segments.slice(2) };
  return undefined;
}

/** A subscription resource on the Inbox's messages, or a 400 as Graph answers it. */
export function parseSubscriptionResource(resource: unknown): { user?: string; select?: string[] } {
  if (typeof resource !== 'string' || !resource) {
    throw new GraphError(400, 'InvalidRequest', "The 'resource' property is required.");
  }
  const [path, query] = resource.split('?', 2) as [string, string | undefined];
  const parsed = parseUserPath(path);
  const rest = parsed?.rest.join('/');
  if (!parsed || rest !== 'mailfolders/inbox/messages') {
    throw new GraphError(
      400,
      'ExtensionError',
      `Operation: Create; Exception: [Status Code: BadRequest; Reason: The resource '${resource}' is not supported; the simulator serves users/{id}/mailFolders('Inbox')/messages and me/mailFolders('Inbox')/messages.]`,
    );
  }
  const select =
    query === undefined
      ? undefined
      : parseSelect(new URLSearchParams(query).get('$select'), MESSAGE_PROPERTIES);
  return { user: parsed.user, select };
}
