/**
 * The narrow interface between the gateway and a credential delegation module (Kerberos
 * constrained delegation: S4U2Self then S4U2Proxy to Exchange's SPN). The gateway hands it the
 * identity from the client certificate and gets the Authorization header to send upstream.
 */
import type { ClientIdentity } from './certificates/index.ts';

export interface CredentialDelegate {
  /** `Negotiate <token>` for this user towards `upstream`; rejects with a reason when it cannot. */
  authorization(identity: ClientIdentity, upstream: URL): Promise<string>;
  /** Forget cached credentials of this user (Exchange answered 401 to them). */
  invalidate?(identity: ClientIdentity): void;
  close?(): Promise<void>;
}
