/**
 * The narrow interface between the gateway and a credential delegation module (Kerberos
 * constrained delegation: S4U2Self then S4U2Proxy to Exchange's SPN). The gateway hands it the
 * identity from the client certificate and gets the Authorization header to send upstream.
 */
import type { Registry } from 'prom-client';
import type { ClientIdentity } from './certificates/index.ts';

export interface CredentialDelegate {
  /**
   * `Negotiate <token>` for this user towards `upstream`; rejects when it cannot. An error with
   * `status`, `code` and `publicMessage` says what the device is told (else 502
   * `delegation_failed`).
   */
  authorization(identity: ClientIdentity, upstream: URL): Promise<string>;
  /** Forget cached credentials of this user (Exchange answered 401 to them). */
  invalidate?(identity: ClientIdentity): void;
  /** Adds the module's own series to the gateway's registry. */
  registerMetrics?(registry: Registry): void;
  close?(): Promise<void>;
}
