/** Request identities for the gateway's compliance policy (unverified names, see the module). */
export { type AuthScheme, identitiesFromAuthorization, type RequestIdentity } from './request-identity.ts';
