/**
 * HTTP authentication for the EWS endpoint: Basic (username = the mailbox's email or its
 * configured username) and OAuth bearer tokens. Failures are answered as IIS/Exchange does:
 * HTTP 401, an empty body and one WWW-Authenticate header per offered scheme; a rejected bearer
 * token adds `error="invalid_token"` and an x-ms-diagnostics header, as Exchange's OAuth module
 * does. NTLM/Negotiate are not simulated and therefore not offered.
 */
import type { Mailbox, MailboxStore } from './store.ts';

export type AuthResult =
  | { ok: true; mailbox: Mailbox; who: string }
  | { ok: false; reason: string; scheme?: 'basic' | 'bearer' };

export function authenticate(header: string | undefined, store: MailboxStore): AuthResult {
  if (!header) return { ok: false, reason: 'no credentials' };
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, reason: 'malformed basic credentials', scheme: 'basic' };
    const user = decoded.slice(0, colon);
    const mailbox = store.byBasic(user, decoded.slice(colon + 1));
    if (!mailbox) return { ok: false, reason: `basic credentials rejected for ${user}`, scheme: 'basic' };
    return { ok: true, mailbox, who: `basic:${mailbox.email}` };
  }
  if (scheme === 'bearer') {
    const mailbox = value ? store.byToken(value) : undefined;
    if (!mailbox) return { ok: false, reason: 'bearer token unknown or revoked', scheme: 'bearer' };
    return { ok: true, mailbox, who: `bearer:${mailbox.email}` };
  }
  return { ok: false, reason: `unsupported scheme ${scheme}` };
}

/** Header lines for a 401 answer. */
export function challenge(
  host: string,
  failure: { scheme?: 'basic' | 'bearer' },
): Record<string, string | string[]> {
  const bearer =
    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", ' +
    'trusted_issuers="00000001-0000-0000-c000-000000000000@*", ' +
    'token_types="app_asserted_user_v1 service_asserted_app_v1", ' +
    'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"' +
    (failure.scheme === 'bearer' ? ', error="invalid_token"' : '');
  const headers: Record<string, string | string[]> = {
    'WWW-Authenticate': [bearer, `Basic realm="${host.replace(/["\\]/g, '')}"`],
  };
  if (failure.scheme === 'bearer') {
    headers['x-ms-diagnostics'] =
      '2000001;reason="The token is invalid or has been revoked.";error_category="invalid_token"';
  }
  return headers;
}
