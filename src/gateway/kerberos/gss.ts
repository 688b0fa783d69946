/**
 * The GSS-API calls constrained delegation needs, as the native addon (native/) offers them:
 * each runs off the main thread and resolves with an opaque credential or a token.
 */

/** A GSS-API credential held by the addon; released when dropped from the cache. */
export interface GssCredential {
  release?(): void;
}

export interface GssApi {
  /** The gateway's own credential from its keytab (initiator, for S4U). */
  acquireServiceCredential(options: { keytab: string; principal: string }): Promise<GssCredential>;
  /** S4U2Self: a credential for `userPrincipal` obtained with the service credential. */
  impersonate(
    service: GssCredential,
    userPrincipal: string,
  ): Promise<{ credential: GssCredential; lifetimeSeconds: number }>;
  /** S4U2Proxy (on first use per SPN) and the first SPNEGO token, base64, towards `targetSpn`. */
  initSecContext(user: GssCredential, targetSpn: string): Promise<string>;
}
