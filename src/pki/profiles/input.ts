/**
 * Checking and normalising what the profile builder is given, before any of it reaches a plist:
 * single-line text without control characters (XML 1.0 cannot carry most of them, and a profile
 * is no place for them), a gateway host that is a host and not a URL, a SCEP URL, a reverse-DNS
 * identifier prefix and a CA fingerprint of a length SCEP clients know.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { PkiError } from '../errors.ts';
import type { LookupValues } from '../names.ts';
import type { DeviceProfileInput } from './types.ts';

const MAX_TEXT = 256;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const IDENTIFIER = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
const HOST_LABELS =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** MD5, SHA-1 and SHA-256 digest lengths. */
const FINGERPRINT_LENGTHS = [16, 20, 32];

function invalid(message: string): PkiError {
  return new PkiError('pki_invalid_values', message);
}

/** A non-empty single line of at most 256 characters; the value trimmed. */
export function checkText(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(`${what} must be a non-empty string`);
  if (value.length > MAX_TEXT || CONTROL.test(value) || !value.isWellFormed()) {
    throw invalid(`${what} must be at most ${MAX_TEXT} characters without control characters`);
  }
  return value.trim();
}

/** A mailbox address (name@domain): ActiveSync's EmailAddress, whatever the template uses. */
export function checkAddress(value: unknown, what: string): string {
  const text = checkText(value, what);
  if (!/^[^\s@]+@[^\s@]+$/.test(text)) throw invalid(`${what} must look like name@domain`);
  return text;
}

export interface GatewayHost {
  /** Host name or address (IPv6 without brackets). */
  host: string;
  port: number;
  /** As ActiveSync's Host key wants it: `host`, or `host:port` when the port is not 443. */
  text: string;
}

/** `mail.contoso.com`, `mail.contoso.com:8443`, `10.0.0.5`, `[2001:db8::5]:8443`; not a URL. */
export function parseGatewayHost(value: unknown): GatewayHost {
  const text = checkText(value, 'the gateway host');
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(text);
  const rawHost = match?.[1] ?? '';
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const port = match?.[2] === undefined ? 443 : Number(match[2]);
  const hostOk = rawHost.startsWith('[') ? isIP(host) === 6 : isIP(host) === 4 || HOST_LABELS.test(host);
  if (match === null || !hostOk || port < 1 || port > 65535) {
    throw invalid('the gateway host must be a host name or address with an optional :port, not a URL');
  }
  const bracketed = isIP(host) === 6 ? `[${host}]` : host;
  return { host, port, text: port === 443 ? bracketed : `${bracketed}:${port}` };
}

/** An absolute http(s) URL without credentials. */
export function checkScepUrl(value: unknown): string {
  const text = checkText(value, 'the SCEP URL');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('the SCEP URL is not a URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    throw invalid('the SCEP URL must be http(s) without user or password');
  }
  return text;
}

export function checkIdentifierPrefix(value: unknown): string {
  const text = checkText(value, 'the identifier prefix');
  if (!IDENTIFIER.test(text)) {
    throw invalid('the identifier prefix must be reverse-DNS style, e.g. com.contoso.herald');
  }
  return text;
}

/**
 * The profile's PayloadIdentifier: the prefix, `device` and the device id. Apple replaces an
 * installed profile with a new one of the same PayloadIdentifier (TopLevel, apple/device-management
 * mdm/profiles/TopLevel.yaml), so a device that downloads its profile again updates it rather than
 * collecting copies. Characters outside [A-Za-z0-9-] become `-`, and then a hash of the id keeps
 * two different ids from meeting.
 */
export function deviceIdentifier(prefix: string, deviceUid: string): string {
  const safe = deviceUid.replace(/[^A-Za-z0-9-]/g, '-');
  if (safe === deviceUid) return `${prefix}.device.${safe}`;
  const hash = createHash('sha256').update(deviceUid, 'utf8').digest('hex').slice(0, 12);
  return `${prefix}.device.${safe}-${hash}`;
}

/** Hex (upper or lower case, `:` or space separators allowed) or bytes, of a digest length. */
export function parseFingerprint(value: string | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') {
    const hex = value.replace(/[:\s]/g, '');
    if (!/^([0-9A-Fa-f]{2})+$/.test(hex)) throw invalid('the CA fingerprint must be hexadecimal');
    bytes = Buffer.from(hex, 'hex');
  } else {
    bytes = Buffer.from(value);
  }
  if (!FINGERPRINT_LENGTHS.includes(bytes.length)) {
    throw invalid('the CA fingerprint must be an MD5, SHA-1 or SHA-256 digest (16, 20 or 32 bytes)');
  }
  return bytes;
}

/**
 * The lookup values the template is filled with. The caller creates the device's one-time
 * challenge with these same values, so the subject and SANs the profile asks for are those the CA
 * will put in the certificate.
 */
export function profileLookupValues(
  input: Pick<DeviceProfileInput, 'deviceUid' | 'user' | 'email' | 'enrollmentUser'>,
): LookupValues {
  return {
    EnrollmentUser: input.enrollmentUser ?? input.user,
    DeviceUid: input.deviceUid,
    EmailAddress: input.email,
    UserPrincipalName: input.user,
  };
}

/**
 * A reverse-DNS identifier prefix from Herald's public URL: `https://herald.contoso.com` gives
 * `com.contoso.herald`. An address or single-label host gives `local.herald`.
 */
export function identifierPrefixFromUrl(publicUrl: string): string {
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 || !host.includes('.')) return 'local.herald';
  return host
    .toLowerCase()
    .split('.')
    .filter((label) => label !== '')
    .reverse()
    .join('.');
}
