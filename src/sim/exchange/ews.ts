/**
 * The EWS endpoint: reads the SOAP 1.1 envelope (by namespace URI, never by prefix), checks the
 * headers Exchange checks, and dispatches the body's operation. Operations answer with
 * ResponseMessages; a request that cannot be processed at all gets a soap:Fault (HTTP 500), as
 * Exchange does for schema violations.
 */
import { type EwsContext, EwsFault, type EwsResult, type Operation, schemaFault } from './ews-common.ts';
import { getFolder, getItem } from './ews-items.ts';
import { subscribe, unsubscribe } from './ews-subscribe.ts';
import { EXCHANGE_VERSIONS, faultEnvelope } from './soap.ts';
import { child, NS, parseXml, type XmlElement, XmlError } from './xml.ts';

const OPERATIONS: Record<string, Operation> = {
  Subscribe: subscribe,
  Unsubscribe: unsubscribe,
  GetItem: getItem,
  GetFolder: getFolder,
};

/** The operation name of a request, if it can be read (for logs and request validation). */
export function operationOf(xml: string): string | undefined {
  try {
    const body = child(parseXml(xml), NS.soap, 'Body');
    return body?.children[0]?.local;
  } catch {
    return undefined;
  }
}

export function handleEws(xml: string, ctx: Omit<EwsContext, 'version'>): EwsResult {
  let operation: string | undefined;
  try {
    let envelope: XmlElement;
    try {
      envelope = parseXml(xml);
    } catch (error) {
      throw schemaFault(error instanceof XmlError ? error.message : 'unreadable XML');
    }
    if (envelope.local === 'Envelope' && envelope.ns === NS.soap12) {
      throw new EwsFault('ErrorInvalidRequest', 'Only SOAP 1.1 envelopes are accepted.', 'VersionMismatch');
    }
    if (envelope.ns !== NS.soap || envelope.local !== 'Envelope') {
      throw schemaFault('the root element is not a SOAP 1.1 Envelope');
    }
    const header = child(envelope, NS.soap, 'Header');
    const requested = child(header, NS.t, 'RequestServerVersion');
    const version = requested?.attrs.Version ?? 'Exchange2013';
    if (!EXCHANGE_VERSIONS.has(version)) {
      throw new EwsFault('ErrorInvalidServerVersion', 'The specified server version is invalid.');
    }
    if (child(header, NS.t, 'ExchangeImpersonation')) {
      // No account in the simulator holds the ApplicationImpersonation role.
      throw new EwsFault(
        'ErrorImpersonationDenied',
        'The account does not have permission to impersonate the requested user.',
      );
    }
    const op = child(envelope, NS.soap, 'Body')?.children[0];
    if (!op) throw schemaFault('the SOAP Body has no operation element');
    operation = op.local;
    const handler = op.ns === NS.m && Object.hasOwn(OPERATIONS, op.local) ? OPERATIONS[op.local] : undefined;
    if (!handler) {
      throw new EwsFault(
        'ErrorInvalidRequest',
        `The request is invalid: the Exchange simulator does not implement {${op.ns}}${op.local}.`,
      );
    }
    return { ...handler(op, { ...ctx, version }), operation };
  } catch (error) {
    if (error instanceof EwsFault) {
      return { status: 500, body: faultEnvelope(error.code, error.message, error.soapCode), operation };
    }
    throw error;
  }
}
