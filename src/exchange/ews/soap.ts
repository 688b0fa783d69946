/**
 * SOAP 1.1 framing for EWS: namespaces, the one escape function every builder uses, the request
 * envelope (with t:RequestServerVersion in the header, MS-OXWSCDATA 2.2.3.9), and the reading of
 * responses (envelope, soap:Fault, ResponseMessages with their ResponseClass).
 */
import { HeraldError } from '../../errors/index.ts';
import {
  attr,
  child,
  childrenOf,
  childText,
  parseXml,
  resolveQName,
  type XmlElement,
  type XmlLimits,
  XmlParseError,
} from './xml.ts';

export const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const M_NS = 'http://schemas.microsoft.com/exchange/services/2006/messages';
export const T_NS = 'http://schemas.microsoft.com/exchange/services/2006/types';
/** Namespace of the ResponseCode/Message children of a soap:Fault's detail. */
export const E_NS = 'http://schemas.microsoft.com/exchange/services/2006/errors';

/** types.xsd ExchangeVersionType: the values RequestServerVersion may carry. */
export const exchangeVersions = [
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
] as const;
export const defaultRequestServerVersion = 'Exchange2013';

/**
 * True when the string holds a character XML 1.0 cannot carry at all, not even as a character
 * reference (XML 1.0 section 2.2 Char): C0 controls other than tab/LF/CR, U+FFFE/U+FFFF, and lone
 * surrogates (which UTF-8 cannot encode).
 */
function hasNonXmlChar(value: string): boolean {
  if (!value.isWellFormed()) return true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff) return true;
  }
  return false;
}
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // Escaped so attribute-value normalisation (XML 1.0 section 3.3.3) cannot turn them into spaces.
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};

/** The one escape function for every text node and attribute value Herald writes. */
export function escapeXml(value: string): string {
  if (hasNonXmlChar(value)) throw new RangeError('value contains a character XML 1.0 cannot carry');
  return value.replace(/[&<>"'\t\n\r]/g, (c) => ESCAPES[c]!);
}

/** A request envelope: `body` is already-built XML using the `m:` and `t:` prefixes declared here. */
export function buildEnvelope(
  body: string,
  requestServerVersion: string = defaultRequestServerVersion,
): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<soap:Envelope xmlns:soap="${SOAP_NS}" xmlns:m="${M_NS}" xmlns:t="${T_NS}">` +
    `<soap:Header><t:RequestServerVersion Version="${escapeXml(requestServerVersion)}"/></soap:Header>` +
    `<soap:Body>${body}</soap:Body>` +
    '</soap:Envelope>'
  );
}

/** Parse a SOAP envelope and return the first element child of soap:Body. */
export function readSoapBody(input: string | Uint8Array, limits?: Partial<XmlLimits>): XmlElement {
  const root = parseXml(input, limits);
  if (root.ns !== SOAP_NS || root.local !== 'Envelope') {
    throw new XmlParseError('unexpected_structure', 'not a SOAP 1.1 envelope');
  }
  const body = child(root, SOAP_NS, 'Body');
  const first = body?.children[0];
  if (!first) throw new XmlParseError('unexpected_structure', 'SOAP envelope has no body content');
  return first;
}

export interface SoapFault {
  /** faultcode resolved against its element's namespaces. */
  faultcode: { ns: string; local: string };
  faultstring: string;
  /** EWS puts the ResponseCode in the detail (errors namespace), e.g. ErrorSchemaValidation. */
  responseCode?: string;
  backOffMs?: number;
}

export function readSoapFault(el: XmlElement): SoapFault | undefined {
  if (el.ns !== SOAP_NS || el.local !== 'Fault') return undefined;
  // SOAP 1.1 section 4.4: faultcode, faultstring and detail are unqualified.
  const codeEl = child(el, '', 'faultcode');
  const faultcode = codeEl ? resolveQName(codeEl, codeEl.text.trim()) : { ns: '', local: '' };
  const detail = child(el, '', 'detail');
  let responseCode = childText(detail, E_NS, 'ResponseCode');
  // Throttling faults name the code only in faultcode (a types-namespace QName) on some builds.
  if (!responseCode && faultcode.ns === T_NS) responseCode = faultcode.local;
  const fault: SoapFault = { faultcode, faultstring: childText(el, '', 'faultstring') ?? '' };
  if (responseCode) fault.responseCode = responseCode;
  const backOffMs = readBackOff(child(detail, T_NS, 'MessageXml'));
  if (backOffMs !== undefined) fault.backOffMs = backOffMs;
  return fault;
}

/**
 * The BackOffMilliseconds hint Exchange sends with ErrorServerBusy ("EWS throttling in Exchange":
 * `<m:MessageXml><t:Value Name="BackOffMilliseconds">n</t:Value></m:MessageXml>`).
 */
export function readBackOff(messageXml: XmlElement | undefined): number | undefined {
  for (const value of childrenOf(messageXml, T_NS, 'Value')) {
    if (attr(value, 'Name') !== 'BackOffMilliseconds') continue;
    const ms = Number(value.text.trim());
    if (Number.isSafeInteger(ms) && ms >= 0) return ms;
  }
  return undefined;
}

/** Map an EWS ResponseCode (a failed ResponseMessage or a fault) to Herald's catalogue. */
export function errorFromResponseCode(
  responseCode: string | undefined,
  extra: { backOffMs?: number; messageText?: string; responseClass?: string } = {},
): HeraldError {
  const details: Record<string, unknown> = { responseCode: responseCode ?? 'unknown' };
  if (extra.responseClass) details.responseClass = extra.responseClass;
  // MessageText may name the mailbox ("...has no mailbox associated with it: user@..."), so it
  // only goes into the internal cause, never into the public message or details.
  const cause = extra.messageText ? new Error(`EWS MessageText: ${extra.messageText}`) : undefined;
  if (responseCode === 'ErrorServerBusy') {
    if (extra.backOffMs !== undefined) details.backOffMs = extra.backOffMs;
    return new HeraldError('exchange_busy', { details, cause });
  }
  return new HeraldError('exchange_error', { details, cause });
}

/**
 * Check the body of an EWS response: a soap:Fault or a `<m:{name}Response>` with one
 * `<m:{name}ResponseMessage>` whose ResponseClass is Success. Returns that response message.
 */
export function expectResponseMessage(bodyChild: XmlElement, operation: string): XmlElement {
  const fault = readSoapFault(bodyChild);
  if (fault) throw errorFromFault(fault);
  if (bodyChild.ns !== M_NS || bodyChild.local !== `${operation}Response`) {
    throw new XmlParseError('unexpected_structure', `expected m:${operation}Response`);
  }
  const message = child(child(bodyChild, M_NS, 'ResponseMessages'), M_NS, `${operation}ResponseMessage`);
  if (!message) throw new XmlParseError('unexpected_structure', `no m:${operation}ResponseMessage`);
  const responseClass = attr(message, 'ResponseClass');
  const responseCode = childText(message, M_NS, 'ResponseCode');
  // Warning means the operation did not fully succeed either (MS-OXWSCDATA 2.2.4.60): for the
  // single-item operations Herald performs, treat it like Error.
  if (responseClass !== 'Success' || (responseCode !== undefined && responseCode !== 'NoError')) {
    throw errorFromResponseCode(responseCode, {
      responseClass,
      backOffMs: readBackOff(child(message, M_NS, 'MessageXml')),
      messageText: childText(message, M_NS, 'MessageText'),
    });
  }
  return message;
}

export function errorFromFault(fault: SoapFault): HeraldError {
  const error = errorFromResponseCode(fault.responseCode, {
    backOffMs: fault.backOffMs,
    messageText: fault.faultstring,
  });
  error.details!.soapFault = fault.faultcode.local || 'unknown';
  return error;
}
