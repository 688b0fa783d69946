/**
 * The SCEP server (RFC 8894) of Herald's certificate authority: a fastify plugin serving
 * `/pki/scep`, and the interface the CA implements to decide on requests.
 */
export { CA_CAPABILITIES } from './ca-info.ts';
export { SCEP_PATH, type ScepRoutesOptions, scepRoutes } from './routes.ts';
export type {
  ScepAuthority,
  ScepEnrollRequest,
  ScepEnrollResult,
  ScepFailInfo,
  ScepIssued,
  ScepIssuerAndSubject,
  ScepPending,
  ScepPollRequest,
  ScepPollResult,
  ScepRefused,
} from './types.ts';
