/**
 * The native Kerberos addon (s4u.cc over MIT libgssapi_krb5), built by `npm run build:kerberos`
 * into build/Release/herald_kerberos.node. It is optional: without it `loadKerberosAddon`
 * says what to install and build, and the gateway runs without constrained delegation.
 *
 * Every function runs its GSS-API calls on the libuv thread pool and returns a Promise; a
 * failure rejects with a `GssError`. The KDC comes from the krb5.conf named by `KRB5_CONFIG`
 * in the process environment, read by MIT Kerberos on each call: set it before the first call
 * (createKerberosDelegate does).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { KerberosFailure } from '../errors.ts';
import type { GssApi, GssCredential } from '../gss.ts';

/** A GSS-API credential held by the addon; its memory ccache goes with it. */
export interface NativeCredential extends GssCredential {
  /** Drops the credential now rather than at garbage collection (calls in flight finish). */
  release(): void;
  readonly released: boolean;
}

/** How the addon rejects: GSS-API major and minor status and their classification. */
export interface GssError extends Error {
  major: number;
  /** The mechanism's (Kerberos) error code, e.g. -1765328378 for a client principal unknown. */
  minor: number;
  code: Exclude<KerberosFailure, 'no_user_principal' | 'addon_unavailable'>;
}

export interface KerberosAddon extends GssApi {
  /**
   * The gateway's initiator credential from its keytab. The TGT is fetched when first needed and
   * kept in `ccache`, by default a MEMORY ccache of this credential's own.
   */
  acquireServiceCredential(options: {
    keytab: string;
    principal: string;
    ccache?: string;
  }): Promise<NativeCredential>;
  /** S4U2Self for `userPrincipal` (`alice@REALM`); the lifetime is the ticket's, in seconds. */
  impersonate(
    service: GssCredential,
    userPrincipal: string,
  ): Promise<{ credential: NativeCredential; lifetimeSeconds: number }>;
  /**
   * S4U2Proxy to `targetSpn` and the first SPNEGO token (base64) for `Authorization: Negotiate`.
   * `HTTP/host` and `HTTP/host@REALM` are Kerberos principal names (no realm: the default one),
   * `HTTP@host` a host-based service name.
   */
  initSecContext(user: GssCredential, targetSpn: string): Promise<string>;
  /** Accepts a Negotiate token with a service's keytab, as Exchange's IIS does (test upstreams). */
  acceptSecContext(
    options: { keytab: string; principal?: string },
    tokenBase64: string,
  ): Promise<{ principal: string; delegated: boolean }>;
}

export const ADDON_PATH = fileURLToPath(new URL('./build/Release/herald_kerberos.node', import.meta.url));

export const ADDON_MISSING =
  'Kerberos delegation needs the native addon: apt-get install libkrb5-dev, then npm run build:kerberos';

let loaded: KerberosAddon | { unavailable: string } | undefined;

/** The addon, or why it cannot be used. Loaded once per process. */
export function loadKerberosAddon(): KerberosAddon | { unavailable: string } {
  if (loaded) return loaded;
  if (!existsSync(ADDON_PATH)) {
    loaded = { unavailable: `${ADDON_MISSING} (no ${ADDON_PATH})` };
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as KerberosAddon;
  } catch (error) {
    // Built for another Node.js, or libgssapi_krb5 is not installed at run time.
    const reason = error instanceof Error ? error.message : String(error);
    loaded = { unavailable: `${ADDON_MISSING} (${ADDON_PATH} does not load: ${reason})` };
  }
  return loaded;
}
