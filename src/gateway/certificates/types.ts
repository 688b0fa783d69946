/**
 * What the gateway's TLS server learns about a client certificate: who it is (from the SAN) or
 * why it is refused. Each refusal has its own reason, logged and answered as a 403.
 */

export type CertificateFailure =
  | 'no_certificate'
  | 'untrusted_issuer'
  | 'expired'
  | 'not_yet_valid'
  | 'no_client_auth_eku'
  | 'revoked'
  | 'revocation_unknown'
  | 'invalid_certificate';

export interface ClientIdentity {
  /** userPrincipalName from the SAN otherName 1.3.6.1.4.1.311.20.2.3 (the first one). */
  upn?: string;
  /** The first rfc822Name of the SAN. */
  email?: string;
  /** Subject DN, e.g. `CN=alice, O=Contoso`. */
  subject: string;
  issuer: string;
  /** Upper-case hex without leading zero bytes, as OpenSSL prints it. */
  serialNumber: string;
  /** `AB:CD:…`, as `X509Certificate.fingerprint256`. */
  fingerprint256: string;
  notAfter: Date;
}

export type CertificateCheck =
  | { ok: true; identity: ClientIdentity }
  | {
      ok: false;
      reason: CertificateFailure;
      /** Short and free of personal data (never the UPN, email or subject). */
      detail: string;
    };

/** A certificate's revocation status from the CRLs at hand. */
export type RevocationStatus = 'good' | 'revoked' | 'unknown';

/** `gateway.crl.onUnavailable`: what to do when no valid CRL covers a certificate. */
export type OnUnavailable = 'fail-closed' | 'fail-open';
