/** EWS request identification for the gateway: the mailboxes a request acts on, its operation. */
export {
  defaultEwsInspectLimits,
  EWS_INSPECT_BYTES,
  type EwsInspectLimits,
  type EwsRequestSummary,
  ewsOperation,
  inspectEwsRequest,
  mailboxesFromEwsRequest,
} from './mailbox.ts';
export { type EwsOperationLabel, type EwsOperationName, ewsOperationNames } from './operations.ts';
