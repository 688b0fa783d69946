/**
 * The CA's HTTP surface on `herald serve`: publication under `/pki` (CRLs, CA certificates,
 * SCEP; no token) and the admin API under `/api/pki/v1` (admin token). docs/pki.md.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../../log/index.ts';
import { pkiAdminApi } from './admin.ts';
import { type PkiProvider, pkiPublication } from './publication.ts';

export { certificateJson, certificateWithPem, challengeValues, crlJson, templateJson } from './json.ts';
export type { PkiProvider } from './publication.ts';

export function pkiRoutes(deps: {
  pki: PkiProvider;
  token: string;
  logger: Logger;
  /** Base of the SCEP URL in device profiles. */
  publicUrl: string;
}): FastifyPluginAsync {
  return async (app) => {
    await app.register(pkiPublication(deps));
    await app.register(pkiAdminApi(deps), { prefix: '/api/pki/v1' });
  };
}
