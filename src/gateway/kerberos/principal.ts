/**
 * Which Kerberos principal a certificate stands for, and which SPN a route's Exchange has.
 *
 * The user principal comes from the certificate's UPN (SAN otherName 1.3.6.1.4.1.311.20.2.3):
 * `alice@corp.example` → `alice@CORP.EXAMPLE`. Where the UPN suffix is not the realm (an
 * alternative UPN suffix, or users of another domain of the forest), `realmMap` says which realm
 * holds the account; otherwise the configured realm (one domain, whatever its UPN suffixes), or,
 * with no realm configured, the suffix in upper case.
 */
import { KerberosDelegationError } from './errors.ts';

export interface PrincipalRules {
  realm?: string | undefined;
  /** UPN suffix (any case) → realm. */
  realmMap: Readonly<Record<string, string>>;
}

export function userPrincipal(upn: string | undefined, rules: PrincipalRules): string {
  if (upn === undefined) {
    throw new KerberosDelegationError('no_user_principal', 'the certificate has no UPN');
  }
  const at = upn.lastIndexOf('@');
  if (at <= 0 || at === upn.length - 1 || /[\s/\\]/.test(upn)) {
    throw new KerberosDelegationError('no_user_principal', 'the UPN is not of the form user@suffix');
  }
  const user = upn.slice(0, at);
  const suffix = upn.slice(at + 1).toLowerCase();
  const mapped = Object.entries(rules.realmMap).find(([key]) => key.toLowerCase() === suffix)?.[1];
  return `${user}@${mapped ?? rules.realm ?? suffix.toUpperCase()}`;
}

/** `HTTP/<host>` of the upstream unless an SPN is configured. */
export function targetSpn(configured: string | undefined, upstream: URL): string {
  return configured ?? `HTTP/${upstream.hostname.replace(/^\[|\]$/g, '')}`;
}
