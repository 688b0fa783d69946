/**
 * The two plain GET operations: GetCACaps (RFC 8894 §3.5.2, one keyword per line) and
 * GetCACert (§4.2.1: one certificate as application/x-x509-ca-cert DER; a chain as
 * application/x-x509-ca-ra-cert, a degenerate PKCS #7 SignedData).
 */
import { certificatesOnly } from './signed-data.ts';

/**
 * What Herald's SCEP server does (IANA "SCEP CA Capabilities" spellings). "SCEPStandard" alone
 * implies AES, POSTPKIOperation and SHA-256; the others are listed for pre-RFC 8894 clients.
 * DES3 requests are still accepted, but not advertised, so clients pick AES.
 */
export const CA_CAPABILITIES = [
  'AES',
  'POSTPKIOperation',
  'Renewal',
  'SCEPStandard',
  'SHA-256',
  'SHA-512',
] as const;

export function caCapabilitiesText(): string {
  return `${CA_CAPABILITIES.join('\n')}\n`;
}

export interface CaCertReply {
  contentType: 'application/x-x509-ca-cert' | 'application/x-x509-ca-ra-cert';
  body: Buffer;
}

export function caCertReply(chain: Buffer[]): CaCertReply {
  if (chain.length === 0) throw new Error('the SCEP authority has no CA certificate');
  if (chain.length === 1) return { contentType: 'application/x-x509-ca-cert', body: chain[0]! };
  return { contentType: 'application/x-x509-ca-ra-cert', body: certificatesOnly(chain) };
}
