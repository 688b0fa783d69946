/**
 * Who a request says it is, from its Authorization header, for the compliance policy's `user`
 * matcher. Nothing here authenticates: Exchange checks the password or the token signature. The
 * gateway only needs the names a rule could be written against, so that a blocked user is
 * refused before Exchange sees the request; a forged name gains nothing, because Exchange
 * refuses the forged credentials anyway.
 *
 * - Basic (RFC 7617): the user-id as given (`alice@contoso.com`, `CONTOSO\alice`) and, for the
 *   down-level form, the part after the backslash. The password is never kept.
 * - Bearer: the payload of a JWT (RFC 7519), decoded without verifying; the claims naming the
 *   user in Entra ID and Exchange tokens: upn, unique_name, preferred_username, email, smtp.
 * - Negotiate, NTLM and others: the scheme only.
 *
 * Never throws: garbage gives no users.
 */

export type AuthScheme = 'basic' | 'bearer' | 'negotiate' | 'ntlm' | 'other';

export interface RequestIdentity {
  /** Undefined when there is no Authorization header. */
  scheme?: AuthScheme;
  /** The first candidate (the name as the client gave it), when there is one. */
  user?: string;
  /** Every candidate user string, lower-cased, deduplicated; what policy `user` rules match. */
  users: string[];
}

/** Longest credentials looked at; Entra ID access tokens are a few KiB. */
const MAX_CREDENTIALS_LENGTH = 16 * 1024;
/** Longest user string kept (RFC 5321 limits an address to 254 octets; UPNs are shorter still). */
const MAX_USER_LENGTH = 320;
const JWT_USER_CLAIMS = ['upn', 'unique_name', 'preferred_username', 'email', 'smtp'] as const;

export function identitiesFromAuthorization(header?: string): RequestIdentity {
  if (header === undefined) return { users: [] };
  const trimmed = header.trim();
  const space = trimmed.search(/\s/);
  const schemeToken = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  const credentials = space < 0 ? '' : trimmed.slice(space + 1).trim();
  const scheme = schemeOf(schemeToken);
  let candidates: string[] = [];
  if (credentials.length <= MAX_CREDENTIALS_LENGTH) {
    if (scheme === 'basic') candidates = basicUsers(credentials);
    else if (scheme === 'bearer') candidates = bearerUsers(credentials);
  }
  const users = [
    ...new Set(
      candidates.map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c.length <= MAX_USER_LENGTH),
    ),
  ];
  return users.length > 0 ? { scheme, user: users[0]!, users } : { scheme, users };
}

function schemeOf(token: string): AuthScheme {
  switch (token) {
    case 'basic':
    case 'bearer':
    case 'negotiate':
    case 'ntlm':
      return token;
    default:
      return 'other';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function basicUsers(credentials: string): string[] {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) return [];
  const bytes = Buffer.from(credentials, 'base64');
  // RFC 7617 section 2: user-id and password are split at the first colon (a user-id has none).
  const colon = bytes.indexOf(0x3a);
  if (colon < 0) return [];
  const userBytes = bytes.subarray(0, colon);
  let user: string;
  try {
    user = utf8.decode(userBytes); // RFC 7617 section 2.1: UTF-8 is the charset clients announce
  } catch {
    user = userBytes.toString('latin1'); // what older clients send instead
  }
  const backslash = user.lastIndexOf('\\');
  return backslash < 0 ? [user] : [user, user.slice(backslash + 1)];
}

function bearerUsers(credentials: string): string[] {
  // A JWS in compact serialization has three parts (RFC 7515 section 7.1); a JWE (five) is opaque.
  const parts = credentials.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1]!)) return [];
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return [];
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return [];
  const claims = payload as Record<string, unknown>;
  return JWT_USER_CLAIMS.flatMap((name) => {
    const value = Object.hasOwn(claims, name) ? claims[name] : undefined;
    return typeof value === 'string' ? [value] : [];
  });
}
