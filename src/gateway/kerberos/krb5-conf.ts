/**
 * The krb5.conf the gateway writes for its domain controllers when no `krb5Config` is given:
 * the KDCs in the order configured (MIT tries the next one when one does not answer), no DNS
 * lookups (a DMZ host rarely resolves the domain's SRV records), forwardable tickets (S4U2Proxy
 * needs a forwardable evidence ticket), and TCP so that large PACs need no UDP round trip first.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Krb5ConfOptions {
  realm: string;
  kdcs: readonly string[];
  kdcTimeoutSeconds: number;
}

export function krb5Conf({ realm, kdcs, kdcTimeoutSeconds }: Krb5ConfOptions): string {
  for (const value of [realm, ...kdcs]) {
    // The schema already restricts these; this keeps a stray value from adding config lines.
    if (/[\s{}=\n]/.test(value)) throw new Error(`not usable in krb5.conf: ${JSON.stringify(value)}`);
  }
  return [
    '# Written by herald gateway from gateway.kerberos (realm, kdcs); changes here are overwritten.',
    '[libdefaults]',
    `  default_realm = ${realm}`,
    '  dns_lookup_kdc = false',
    '  dns_lookup_realm = false',
    '  dns_canonicalize_hostname = false',
    '  rdns = false',
    '  forwardable = true',
    '  udp_preference_limit = 1',
    // MIT krb5 1.21+ (ignored by 1.20): the most a KDC request may take, all KDCs included. The
    // gateway bounds its calls itself either way (KerberosDelegate, kdcTimeoutMs).
    `  request_timeout = ${kdcTimeoutSeconds}`,
    '',
    '[realms]',
    `  ${realm} = {`,
    ...kdcs.map((kdc) => `    kdc = ${kdc}`),
    '  }',
    '',
  ].join('\n');
}

export function writeKrb5Conf(file: string, options: Krb5ConfOptions): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, krb5Conf(options), { mode: 0o644 });
}
