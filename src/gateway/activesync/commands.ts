/**
 * ActiveSync command names and their numeric codes, for the base64 query (which carries a code)
 * and for metrics (whose `command` label must come from a bounded set).
 *
 * MS-ASHTTP 2.2.1.1.1.1.2 "Command Codes". Codes 0 to 20 were read in Microsoft's table; 21
 * (ResolveRecipients) and 22 (ValidateCert) in copies of the same table (Aspose's CommandCodes,
 * Z-Push's constants), 23 (Find, protocol 16.1, MS-ASCMD 2.2.1.2) in a Java port of Z-Push.
 * Codes 5 to 8 are unassigned. The plain query names a command by the same strings
 * (MS-ASHTTP 2.2.1.1.1.2.1: "valid values ... are specified in the Command column").
 */

export const activeSyncCommandCodes = {
  Sync: 0,
  SendMail: 1,
  SmartForward: 2,
  SmartReply: 3,
  GetAttachment: 4,
  FolderSync: 9,
  FolderCreate: 10,
  FolderDelete: 11,
  FolderUpdate: 12,
  MoveItems: 13,
  GetItemEstimate: 14,
  MeetingResponse: 15,
  Search: 16,
  Settings: 17,
  Ping: 18,
  ItemOperations: 19,
  Provision: 20,
  ResolveRecipients: 21,
  ValidateCert: 22,
  Find: 23,
} as const satisfies Record<string, number>;

export type ActiveSyncCommandName = keyof typeof activeSyncCommandCodes;

/** Every known command name, in code order: the label values besides `other`. */
export const activeSyncCommandNames = Object.freeze(
  Object.keys(activeSyncCommandCodes) as ActiveSyncCommandName[],
);

/** The value of a metrics `command` label: a known command, or `other`. */
export type ActiveSyncCommandLabel = ActiveSyncCommandName | 'other';

const byCode = new Map<number, ActiveSyncCommandName>(
  activeSyncCommandNames.map((name) => [activeSyncCommandCodes[name], name]),
);
const byLowerName = new Map<string, ActiveSyncCommandName>(
  activeSyncCommandNames.map((name) => [name.toLowerCase(), name]),
);

/** The command a code stands for; `Unknown(N)` for a code outside the table. */
export function commandNameOfCode(code: number): string {
  return byCode.get(code) ?? `Unknown(${code})`;
}

/** The canonical spelling of a command name given in any case, or undefined when unknown. */
export function canonicalCommandName(name: string): ActiveSyncCommandName | undefined {
  return byLowerName.get(name.toLowerCase());
}

/**
 * The metrics label for a parsed command (`ActiveSyncQuery.command`): unknown names, `Unknown(N)`
 * and a missing command (an OPTIONS request has no query) all count as `other`, so a client cannot
 * create label values at will.
 */
export function activeSyncCommandLabel(command: string | undefined): ActiveSyncCommandLabel {
  return command === undefined ? 'other' : (canonicalCommandName(command) ?? 'other');
}
