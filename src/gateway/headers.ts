/**
 * Header rules of a reverse proxy (RFC 9110 §7.6.1): hop-by-hop headers stay on their hop, the
 * client's address and scheme travel in X-Forwarded-*, and two Exchange specifics: the 451
 * redirect's X-MS-Location points devices at the gateway, not at an inner Exchange host, and for
 * EWS the authentication schemes the gateway cannot carry are removed from WWW-Authenticate.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Answered by the gateway itself (Node sends 100 Continue); undici refuses to forward it.
  'expect',
]);

/** Hop-by-hop names, including those the Connection header lists. */
function hopByHop(connection: string | string[] | undefined): Set<string> {
  const names = new Set(HOP_BY_HOP);
  for (const value of [connection ?? []].flat()) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) names.add(name);
    }
  }
  return names;
}

export interface ForwardedFrom {
  remoteAddress: string | undefined;
  /** The Host the device asked for. */
  host: string | undefined;
}

/** Request headers for the upstream: end-to-end ones only, plus X-Forwarded-*. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  from: ForwardedFrom,
): Record<string, string | string[]> {
  const drop = hopByHop(incoming.connection);
  drop.add('host'); // the upstream's own host name is what Exchange's virtual directory expects
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || drop.has(name)) continue;
    out[name] = value;
  }
  const prior = incoming['x-forwarded-for'];
  const chain = [prior ?? []].flat().join(', ');
  if (from.remoteAddress) {
    out['x-forwarded-for'] = chain ? `${chain}, ${from.remoteAddress}` : from.remoteAddress;
  }
  out['x-forwarded-proto'] = 'https';
  if (from.host) out['x-forwarded-host'] = from.host;
  return out;
}

/** Splits one WWW-Authenticate value into its challenges ("Negotiate, NTLM" → two). */
function challenges(value: string): string[] {
  return value
    .split(/,\s*(?=(?:Negotiate|NTLM|Basic|Bearer|Digest|Kerberos)\b)/i)
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

export interface ResponseRewrite {
  /** `https://<host the device used>`: replaces the origin of a 451 X-MS-Location. */
  publicOrigin: string | undefined;
  /** For EWS with removeUnsupportedAuthForEws. */
  stripAuth?: { ntlm: boolean; negotiate: boolean };
}

/** Response headers for the device. */
export function downstreamResponseHeaders(
  statusCode: number,
  upstream: Record<string, string | string[] | undefined>,
  rewrite: ResponseRewrite,
): OutgoingHttpHeaders {
  const drop = hopByHop(upstream.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || drop.has(name)) continue;
    out[name] = value;
  }
  const location = out['x-ms-location'];
  if (statusCode === 451 && typeof location === 'string' && rewrite.publicOrigin) {
    out['x-ms-location'] = rebase(location, rewrite.publicOrigin);
  }
  const strip = rewrite.stripAuth;
  if (strip && out['www-authenticate'] !== undefined) {
    const kept = [out['www-authenticate']]
      .flat()
      .flatMap((v) => challenges(String(v)))
      .filter((c) => {
        const scheme = c.split(/\s/, 1)[0]!.toLowerCase();
        if (scheme === 'ntlm') return !strip.ntlm;
        if (scheme === 'negotiate') return !strip.negotiate;
        return true;
      });
    if (kept.length === 0) delete out['www-authenticate'];
    else out['www-authenticate'] = kept;
  }
  return out;
}

/** The same path and query on the gateway's origin; an unparsable value is left as it was. */
function rebase(location: string, publicOrigin: string): string {
  if (!URL.canParse(location)) return location;
  const url = new URL(location);
  return `${publicOrigin}${url.pathname}${url.search}`;
}
