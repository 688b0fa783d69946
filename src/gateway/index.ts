/**
 * The secure email gateway (docs/gateway.md): an HTTPS reverse proxy in front of Exchange
 * ActiveSync and EWS with client-certificate authentication, CRL checking, a compliance policy
 * and a narrow interface for credential delegation (Kerberos).
 */
export type { ClientIdentity } from './certificates/index.ts';
export type { CredentialDelegate } from './delegation.ts';
export { createGateway, type Gateway, type GatewayDeps } from './gateway.ts';
export {
  createKerberosDelegate,
  KerberosDelegate,
  KerberosDelegationError,
  krb5ConfPath,
} from './kerberos/index.ts';
export { GatewayMetrics } from './metrics.ts';
export { DEFAULT_CIPHERS, GatewayConfigError } from './tls.ts';
