/**
 * Which mailbox an EWS request acts on, and which operation it is, read from the first bytes of
 * its SOAP body: the gateway holds back at most EWS_INSPECT_BYTES of a request before it streams
 * the request on, so the document may be cut anywhere. What was complete before the cut counts;
 * the cut itself is not an error. A document that is malformed before the cut stops the reading
 * there, with what was found until then.
 *
 * The mailboxes (lower-cased, deduplicated, in document order):
 * - impersonation in the SOAP header: t:ExchangeImpersonation/t:ConnectingSID (and the same under
 *   t:OpenAsAdminOrSystemService) with t:PrimarySmtpAddress, t:SmtpAddress or t:PrincipalName
 *   (types.xsd ConnectingSIDType; a t:SID names no address and is ignored);
 * - a folder of another mailbox: t:DistinguishedFolderId/t:Mailbox/t:EmailAddress anywhere in the
 *   body (types.xsd DistinguishedFolderIdType: Subscribe, GetFolder, FindItem, CreateItem's
 *   SavedItemFolderId, ...);
 * - an operation's own target: the m:Mailbox child of the operation element (the delegate
 *   operations, CreateManagedFolder) and the t:Mailbox/t:Address of Get/SetUserOofSettingsRequest.
 * Other t:Mailbox elements are people the request mentions, not mailboxes it acts on: recipients
 * (ArrayOfRecipientsType), attendees, members, and the distribution list of ExpandDL. Blocking a
 * user must not stop others from writing to them.
 *
 * Elements are matched by namespace URI and local name, never by prefix. No DTD is read (a DTD
 * stops the reading), and the work is bounded by bytes, elements, depth and text length.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { type EwsOperationLabel, isEwsOperationName } from './operations.ts';

/** How much of a request body the gateway inspects. */
export const EWS_INSPECT_BYTES = 64 * 1024;

export interface EwsInspectLimits {
  /** Bytes of the prefix read (more is ignored). */
  maxBytes: number;
  /** Elements read before stopping. */
  maxElements: number;
  /** Nesting depth read before stopping. */
  maxDepth: number;
}

export const defaultEwsInspectLimits: Readonly<EwsInspectLimits> = Object.freeze({
  maxBytes: EWS_INSPECT_BYTES,
  maxElements: 10_000,
  maxDepth: 64,
});

export interface EwsRequestSummary {
  /** The first element in soap:Body when it is a known EWS operation; else `other`. */
  operation: EwsOperationLabel;
  /** The mailboxes the request acts on, lower-cased, deduplicated. */
  mailboxes: string[];
  /** False when the reading stopped early (a limit, a malformation or a DTD), not at the cut. */
  complete: boolean;
}

const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
const M_NS = 'http://schemas.microsoft.com/exchange/services/2006/messages';
const T_NS = 'http://schemas.microsoft.com/exchange/services/2006/types';
/** Longer text is no address (RFC 5321 caps a path at 256 octets); it is ignored. */
const MAX_ADDRESS_LENGTH = 320;

interface Open {
  ns: string;
  local: string;
}

/** Thrown inside the saxes handlers to stop the parse; never escapes this module. */
class Stop extends Error {}

function is(el: Open | undefined, ns: string, local: string): boolean {
  return el !== undefined && el.ns === ns && el.local === local;
}

function isSoap(el: Open | undefined, local: string): boolean {
  return is(el, SOAP11_NS, local) || is(el, SOAP12_NS, local);
}

/** Whether the element on top of `stack` holds a mailbox address (see the module comment). */
function holdsAddress(stack: readonly Open[]): boolean {
  const n = stack.length;
  if (n < 5 || !isSoap(stack[0], 'Envelope')) return false;
  const [self, parent, grand] = [stack[n - 1]!, stack[n - 2]!, stack[n - 3]!];
  if (isSoap(stack[1], 'Header')) {
    return (
      n === 5 &&
      (is(stack[2], T_NS, 'ExchangeImpersonation') || is(stack[2], T_NS, 'OpenAsAdminOrSystemService')) &&
      is(stack[3], T_NS, 'ConnectingSID') &&
      self.ns === T_NS &&
      (self.local === 'PrimarySmtpAddress' || self.local === 'SmtpAddress' || self.local === 'PrincipalName')
    );
  }
  if (!isSoap(stack[1], 'Body')) return false;
  if (
    is(self, T_NS, 'EmailAddress') &&
    is(parent, T_NS, 'Mailbox') &&
    is(grand, T_NS, 'DistinguishedFolderId')
  ) {
    return true;
  }
  if (n !== 5 || stack[2]!.ns !== M_NS) return false;
  const operation = stack[2]!.local;
  if (is(parent, M_NS, 'Mailbox') && is(self, T_NS, 'EmailAddress')) return operation !== 'ExpandDL';
  return (
    (operation === 'GetUserOofSettingsRequest' || operation === 'SetUserOofSettingsRequest') &&
    is(parent, T_NS, 'Mailbox') &&
    is(self, T_NS, 'Address')
  );
}

function prefixText(bodyPrefix: Buffer | string, maxBytes: number): string {
  const bytes = typeof bodyPrefix === 'string' ? Buffer.from(bodyPrefix, 'utf8') : bodyPrefix;
  // stream: true keeps a multi-byte character cut at the end out of the text instead of
  // turning it into U+FFFD; the BOM, if any, is dropped.
  return new TextDecoder('utf-8').decode(bytes.subarray(0, maxBytes), { stream: true });
}

/** Read the operation and the mailboxes in one pass. Never throws on any input. */
export function inspectEwsRequest(
  bodyPrefix: Buffer | string,
  limits: Partial<EwsInspectLimits> = {},
): EwsRequestSummary {
  const max = { ...defaultEwsInspectLimits, ...limits };
  const source = prefixText(bodyPrefix, max.maxBytes);
  const stack: Open[] = [];
  const mailboxes = new Set<string>();
  let operation: EwsOperationLabel | undefined;
  let elements = 0;
  /** Text of the address element being read, and its depth. */
  let capture: { depth: number; text: string } | undefined;

  const parser = new SaxesParser({ xmlns: true });
  parser.on('error', () => {
    throw new Stop();
  });
  parser.on('doctype', () => {
    throw new Stop();
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    elements += 1;
    if (elements > max.maxElements || stack.length >= max.maxDepth) throw new Stop();
    stack.push({ ns: tag.uri, local: tag.local });
    if (
      stack.length === 3 &&
      operation === undefined &&
      isSoap(stack[1], 'Body') &&
      isSoap(stack[0], 'Envelope')
    ) {
      operation = tag.uri === M_NS && isEwsOperationName(tag.local) ? tag.local : 'other';
    }
    if (holdsAddress(stack)) capture = { depth: stack.length, text: '' };
  });
  const onText = (text: string) => {
    if (capture?.depth === stack.length && capture.text.length <= MAX_ADDRESS_LENGTH) capture.text += text;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    if (capture?.depth === stack.length) {
      const address = capture.text.trim().toLowerCase();
      if (address !== '' && address.length <= MAX_ADDRESS_LENGTH) mailboxes.add(address);
      capture = undefined;
    }
    stack.pop();
  });

  let complete = true;
  try {
    // No close(): the end of the prefix is a cut, not the end of the document.
    parser.write(source);
  } catch {
    complete = false; // a Stop, or anything saxes throws on hostile input: keep what was read
  }
  return { operation: operation ?? 'other', mailboxes: [...mailboxes], complete };
}

/** The mailboxes an EWS request acts on (see the module comment), lower-cased, deduplicated. */
export function mailboxesFromEwsRequest(bodyPrefix: Buffer | string): string[] {
  return inspectEwsRequest(bodyPrefix).mailboxes;
}

/** The EWS operation of a request for the metrics label: a known operation, or `other`. */
export function ewsOperation(bodyPrefix: Buffer | string): EwsOperationLabel {
  return inspectEwsRequest(bodyPrefix).operation;
}
