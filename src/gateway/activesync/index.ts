/**
 * ActiveSync request identification for the gateway: the query (plain or base64) and the bounded
 * command label set for metrics.
 */
export {
  type ActiveSyncCommandLabel,
  type ActiveSyncCommandName,
  activeSyncCommandCodes,
  activeSyncCommandLabel,
  activeSyncCommandNames,
} from './commands.ts';
export {
  type ActiveSyncQuery,
  ActiveSyncQueryError,
  MAX_ACTIVESYNC_QUERY_LENGTH,
  parseActiveSyncQuery,
} from './query.ts';
