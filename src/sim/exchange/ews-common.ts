/**
 * Types and the fault shared by the EWS operations.
 */
import type { SimClock } from '../clock.ts';
import type { Notifier } from './notifier.ts';
import type { Mailbox, MailboxStore } from './store.ts';
import type { XmlElement } from './xml.ts';

export interface EwsContext {
  mailbox: Mailbox;
  store: MailboxStore;
  notifier: Notifier;
  clock: SimClock;
  /** RequestServerVersion of this request (Exchange2013 when absent). */
  version: string;
}

export interface EwsResult {
  status: number;
  body: string;
  operation?: string;
  /** Work to start once the answer is on its way (e.g. replaying events to a new subscription). */
  after?: () => void;
}

/** A request Exchange would reject with a soap:Fault before running the operation. */
export class EwsFault extends Error {
  override name = 'EwsFault';
  readonly code: string;
  readonly soapCode?: 'Client' | 'Server' | 'VersionMismatch';
  constructor(code: string, message: string, soapCode?: 'Client' | 'Server' | 'VersionMismatch') {
    super(message);
    this.code = code;
    this.soapCode = soapCode;
  }
}

export function schemaFault(detail: string): EwsFault {
  return new EwsFault('ErrorSchemaValidation', `The request failed schema validation: ${detail}`);
}

export type Operation = (op: XmlElement, ctx: EwsContext) => EwsResult;
