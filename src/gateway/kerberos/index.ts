/**
 * Kerberos constrained delegation for the gateway (docs/gateway.md, "Kerberos constrained
 * delegation"): the configuration checked, the krb5.conf written for the configured domain
 * controllers, the native addon loaded, and a `KerberosDelegate` built on it.
 *
 * The addon is optional: Herald installs and runs without it while `gateway.kerberos.enabled` is
 * false. Enabled without it, the gateway refuses to start and says what to install.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../tls.ts';
import { GatewayConfigError } from '../tls.ts';
import { KerberosDelegate } from './delegate.ts';
import type { GssApi } from './gss.ts';
import { writeKrb5Conf } from './krb5-conf.ts';
import { loadKerberosAddon } from './native/index.ts';

export { KerberosDelegate } from './delegate.ts';
export { KerberosDelegationError } from './errors.ts';
export type { GssApi, GssCredential } from './gss.ts';
export { krb5Conf } from './krb5-conf.ts';
export { userPrincipal } from './principal.ts';

export type KerberosConfig = GatewayConfig['kerberos'];

export interface KerberosDeps {
  logger: Logger;
  dataDir: string;
  /** The GSS-API implementation; default the native addon. */
  gss?: GssApi;
  now?: () => number;
}

/** Where the gateway writes its krb5.conf when it is given KDCs rather than a file. */
export function krb5ConfPath(dataDir: string): string {
  return join(dataDir, 'gateway', 'krb5.conf');
}

/**
 * The delegate for an enabled configuration. MIT Kerberos reads its configuration from
 * `KRB5_CONFIG` (one per process), so this sets it for the gateway process.
 */
export function createKerberosDelegate(config: KerberosConfig, deps: KerberosDeps): KerberosDelegate {
  const missing = (['servicePrincipal', 'keytabFile', 'realm'] as const).filter(
    (key) => config[key] === undefined,
  );
  if (missing.length > 0) {
    throw new GatewayConfigError(
      `gateway.kerberos: ${missing.join(', ')} must be set when kerberos.enabled is true (docs/gateway.md, "Kerberos constrained delegation")`,
    );
  }
  if (config.kdcs.length === 0 && config.krb5Config === undefined) {
    throw new GatewayConfigError(
      'gateway.kerberos.kdcs: name at least one domain controller (or give krb5Config) when kerberos.enabled is true',
    );
  }
  const realm = config.realm as string;
  const otherRealms = [...new Set(Object.values(config.realmMap))].filter((mapped) => mapped !== realm);
  if (otherRealms.length > 0 && config.krb5Config === undefined) {
    // S4U2Self for a user of another realm goes to that realm's KDC, which the krb5.conf Herald
    // writes (one realm, no DNS lookups) cannot name.
    throw new GatewayConfigError(
      `gateway.kerberos.realmMap maps to ${otherRealms.join(', ')}, other than ${realm}: give krb5Config, a krb5.conf that names the KDCs of every realm`,
    );
  }
  let gss = deps.gss;
  if (!gss) {
    const addon = loadKerberosAddon();
    if ('unavailable' in addon)
      throw new GatewayConfigError(`gateway.kerberos.enabled: ${addon.unavailable}`);
    gss = addon;
  }
  const file = config.krb5Config ?? krb5ConfPath(deps.dataDir);
  if (config.krb5Config === undefined) {
    writeKrb5Conf(file, { realm, kdcs: config.kdcs, kdcTimeoutSeconds: config.kdcTimeoutSeconds });
  }
  // One krb5.conf per process (MIT reads KRB5_CONFIG on every call): one gateway per process.
  const previous = process.env.KRB5_CONFIG;
  if (previous !== undefined && previous !== file) {
    deps.logger.warn(
      { previous, krb5Config: file },
      'KRB5_CONFIG was set to another file; the gateway uses its own',
    );
  }
  process.env.KRB5_CONFIG = file;
  deps.logger.info(
    {
      realm,
      kdcs: config.kdcs,
      krb5Config: file,
      servicePrincipal: config.servicePrincipal,
      routes: config.routes,
    },
    'Kerberos constrained delegation on',
  );
  return new KerberosDelegate({
    gss,
    servicePrincipal: config.servicePrincipal as string,
    keytabFile: config.keytabFile as string,
    targetSpn: config.targetSpn,
    realm,
    realmMap: config.realmMap,
    cacheSeconds: config.cacheSeconds,
    cacheUsers: config.cacheUsers,
    kdcTimeoutMs: config.kdcTimeoutSeconds * 1000,
    logger: deps.logger,
    ...(deps.now ? { now: deps.now } : {}),
  });
}
