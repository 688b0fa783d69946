/**
 * Reads the query of an ActiveSync request (`/Microsoft-Server-ActiveSync?<query>`) into the
 * fields the gateway's policy and metrics need: command, device id and type, user, and the rest.
 *
 * Two encodings exist (MS-ASHTTP 2.2.1.1.1):
 * - plain text (2.2.1.1.1.2): `Cmd=Sync&User=alice&DeviceId=ABC&DeviceType=iPhone&...`;
 * - base64 (2.2.1.1.1.1): one base64 string (RFC 2045 alphabet) of a byte sequence: protocol
 *   version (1 byte), command code (1), locale (2), device id length (1) + device id, policy key
 *   length (1, 0 or 4) + policy key, device type length (1) + device type, then command
 *   parameters as tag (1) / length (1) / value (2.2.1.1.1.1.1).
 *
 * The query is hostile input: it is bounded (4 KiB) and every malformation is an
 * ActiveSyncQueryError (the caller answers 400), never a half-read result. Duplicate parameters
 * are refused too: Exchange would not necessarily read the same copy as the gateway did, and the
 * gateway must judge the request Exchange will execute.
 */
import { activeSyncCommandCodes, canonicalCommandName, commandNameOfCode } from './commands.ts';

/** Longest query accepted, in characters of the raw (still encoded) query. */
export const MAX_ACTIVESYNC_QUERY_LENGTH = 4096;

export interface ActiveSyncQuery {
  encoding: 'plain' | 'base64';
  /** Command name, e.g. `Sync`: canonical spelling when known; `Unknown(N)` for an unknown code. */
  command?: string;
  commandCode?: number;
  /** `14.1` etc.; base64 only (the plain form carries it in the MS-ASProtocolVersion header). */
  protocolVersion?: string;
  /** Windows LCID (MS-LCID), e.g. 1033 for en-US; base64 only. */
  locale?: number;
  deviceId?: string;
  deviceType?: string;
  /** base64 only (the plain form carries it in the X-MS-PolicyKey header). */
  policyKey?: number;
  /** The `User` parameter: what the client claims, not an authenticated identity. */
  user?: string;
  /** Every other parameter, by its MS-ASHTTP name when known, else as given (plain) or `Unknown(N)`. */
  parameters: Record<string, string>;
}

/** The query cannot be read; `reason` is short and safe to log (it never quotes the input). */
export class ActiveSyncQueryError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`Malformed ActiveSync query: ${reason}`);
    this.name = 'ActiveSyncQueryError';
    this.reason = reason;
  }
}

/**
 * Parse the raw query (what follows `?`, still percent-encoded). An empty query gives an empty
 * plain result: OPTIONS requests have none.
 * @throws ActiveSyncQueryError
 */
export function parseActiveSyncQuery(rawQuery: string): ActiveSyncQuery {
  if (rawQuery.length > MAX_ACTIVESYNC_QUERY_LENGTH) throw new ActiveSyncQueryError('query too long');
  if (rawQuery === '') return { encoding: 'plain', parameters: {} };
  // base64 uses `=` only as trailing padding and never `&`; a plain query has `name=value`.
  return /[&=]/.test(rawQuery.replace(/=+$/, '')) ? parsePlain(rawQuery) : parseBase64(rawQuery);
}

// ---- plain text: MS-ASHTTP 2.2.1.1.1.2 ----

/** Parameter names of MS-ASHTTP 2.2.1.1.1.2 (and .2.5, command-specific), by lower-case name. */
const PLAIN_NAMES = new Map(
  [
    'Cmd',
    'User',
    'DeviceId',
    'DeviceType',
    'AttachmentName',
    'CollectionId',
    'ItemId',
    'LongId',
    'Occurrence',
    'SaveInSent',
  ].map((name) => [name.toLowerCase(), name]),
);

function parsePlain(rawQuery: string): ActiveSyncQuery {
  const result: ActiveSyncQuery = { encoding: 'plain', parameters: {} };
  const parameters = new Map<string, string>();
  const seen = new Set<string>();
  // URLSearchParams decodes form-style, as ASP.NET does in front of Exchange: '+' is a space,
  // and an invalid %-escape is kept as it is instead of failing.
  for (const [rawName, value] of new URLSearchParams(rawQuery)) {
    const lower = rawName.toLowerCase();
    if (lower === '') throw new ActiveSyncQueryError('parameter without a name');
    if (seen.has(lower)) throw new ActiveSyncQueryError('duplicate parameter');
    seen.add(lower);
    const known = PLAIN_NAMES.get(lower);
    if (known !== undefined && value === '') continue; // an empty known parameter is as good as none
    const name = known ?? rawName;
    switch (name) {
      case 'Cmd': {
        const command = canonicalCommandName(value);
        result.command = command ?? value;
        if (command !== undefined) result.commandCode = activeSyncCommandCodes[command];
        break;
      }
      case 'User':
        result.user = value;
        break;
      case 'DeviceId':
        result.deviceId = value;
        break;
      case 'DeviceType':
        result.deviceType = value;
        break;
      default:
        parameters.set(name, value);
    }
  }
  result.parameters = Object.fromEntries(parameters);
  return result;
}

// ---- base64: MS-ASHTTP 2.2.1.1.1.1 ----

/** Command parameter tags, MS-ASHTTP 2.2.1.1.1.1.3 (tags 2 and 5 are not assigned). */
const PARAMETER_TAGS = new Map<number, string>([
  [0, 'AttachmentName'],
  [1, 'CollectionId'],
  [3, 'ItemId'],
  [4, 'LongId'],
  [6, 'Occurrence'],
  [7, 'Options'],
  [8, 'User'],
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

class ByteReader {
  #bytes: Uint8Array;
  #at = 0;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }
  get remaining(): number {
    return this.#bytes.length - this.#at;
  }
  byte(field: string): number {
    return this.bytes(1, field)[0]!;
  }
  bytes(length: number, field: string): Uint8Array {
    if (length > this.remaining) throw new ActiveSyncQueryError(`truncated in the ${field}`);
    const out = this.#bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    return out;
  }
}

function decodeBase64(rawQuery: string): Uint8Array {
  let text = rawQuery;
  if (text.includes('%')) {
    // Some clients percent-encode '+', '/' and '=' of the base64 string.
    try {
      text = decodeURIComponent(text);
    } catch {
      throw new ActiveSyncQueryError('bad percent-encoding');
    }
  }
  // Buffer's decoder skips characters outside the alphabet; check the whole string first.
  if (
    !/^[A-Za-z0-9+/]+={0,2}$/.test(text) ||
    text.length % 4 === 1 ||
    (text.endsWith('=') && text.length % 4)
  ) {
    throw new ActiveSyncQueryError('not base64');
  }
  return Buffer.from(text, 'base64');
}

function text(bytes: Uint8Array, field: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ActiveSyncQueryError(`${field} is not UTF-8`);
  }
}

/**
 * "A string or a GUID" (2.2.1.1.1.1): printable ASCII without spaces is read as the string it is (the spec's
 * example, `v140Device`); anything else is a binary id, shown as upper-case hex so that policy
 * rules and logs have a stable, printable form.
 */
function deviceIdText(bytes: Uint8Array): string {
  const printable = bytes.every((b) => b > 0x20 && b < 0x7f);
  return printable ? Buffer.from(bytes).toString('latin1') : Buffer.from(bytes).toString('hex').toUpperCase();
}

function parseBase64(rawQuery: string): ActiveSyncQuery {
  const reader = new ByteReader(decodeBase64(rawQuery));
  const version = reader.byte('protocol version');
  const commandCode = reader.byte('command code');
  const locale = reader.bytes(2, 'locale');
  const result: ActiveSyncQuery = {
    encoding: 'base64',
    // 121 → 12.1, 140 → 14.0, 141, 160, 161 (the values 2.2.1.1.1.1 allows).
    protocolVersion: `${Math.floor(version / 10)}.${version % 10}`,
    commandCode,
    command: commandNameOfCode(commandCode),
    locale: locale[0]! | (locale[1]! << 8), // little-endian: the example's 09 04 is 0x0409, en-US
    parameters: {},
  };

  const deviceIdLength = reader.byte('device id length');
  if (deviceIdLength === 0) throw new ActiveSyncQueryError('empty device id'); // "MUST be greater than 0"
  result.deviceId = deviceIdText(reader.bytes(deviceIdLength, 'device id'));

  const policyKeyLength = reader.byte('policy key length');
  if (policyKeyLength !== 0 && policyKeyLength !== 4) {
    throw new ActiveSyncQueryError('policy key length is neither 0 nor 4');
  }
  if (policyKeyLength === 4) {
    // An unsigned 32-bit integer (MS-ASPROV 2.2.2.42), little-endian like the locale (Z-Push
    // reads it the same way, PHP unpack 'V').
    result.policyKey = Buffer.from(reader.bytes(4, 'policy key')).readUInt32LE(0);
  }

  const deviceTypeLength = reader.byte('device type length');
  const deviceType = text(reader.bytes(deviceTypeLength, 'device type'), 'device type');
  if (deviceType !== '') result.deviceType = deviceType;

  const parameters = new Map<string, string>();
  while (reader.remaining > 0) {
    const tag = reader.byte('parameter tag');
    const length = reader.byte('parameter length');
    const value = reader.bytes(length, 'parameter value');
    const name = PARAMETER_TAGS.get(tag) ?? `Unknown(${tag})`;
    if (parameters.has(name)) throw new ActiveSyncQueryError('duplicate parameter');
    if (name === 'Options') {
      // "A single-byte bitmask" (2.2.1.1.1.1.3): SaveInSent 0x01, AcceptMultiPart 0x02.
      if (length !== 1) throw new ActiveSyncQueryError('Options is not one byte');
      parameters.set(name, String(value[0]));
    } else {
      parameters.set(name, text(value, name === 'User' ? 'User' : 'parameter value'));
    }
  }
  const user = parameters.get('User');
  parameters.delete('User');
  if (user) result.user = user;
  result.parameters = Object.fromEntries(parameters);
  return result;
}
