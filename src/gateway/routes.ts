/**
 * Which upstream a request goes to: `/Microsoft-Server-ActiveSync` to ActiveSync, `/EWS` and
 * `/ews` to EWS (may be another host, like SEG's separate EWS host), `/autodiscover` only when
 * configured. Matching is on whole path segments, case-insensitive (IIS is).
 */
import type { GatewayConfig } from './tls.ts';

export type RouteName = 'activesync' | 'ews' | 'autodiscover';

export interface Route {
  name: RouteName;
  /** Upstream origin + base path, no trailing slash; undefined when not configured. */
  upstream: string | undefined;
}

const PREFIXES: readonly [string, RouteName][] = [
  ['/microsoft-server-activesync', 'activesync'],
  ['/ews', 'ews'],
  ['/autodiscover', 'autodiscover'],
];

export function matchRoute(pathname: string, upstreams: GatewayConfig['upstreams']): Route | undefined {
  const lower = pathname.toLowerCase();
  for (const [prefix, name] of PREFIXES) {
    if (lower === prefix || lower.startsWith(`${prefix}/`)) {
      return { name, upstream: upstreams[name] };
    }
  }
  return undefined;
}
