/** The certificate authority's repositories, grouped so the Store exposes them as `store.pki`. */
import type { PkiRepositories } from '../types.ts';
import type { RepositoryContext } from './context.ts';
import { pkiAuthorityRepository } from './pki-authorities.ts';
import { pkiCertificateRepository } from './pki-certificates.ts';
import { pkiChallengeRepository } from './pki-challenges.ts';
import { pkiCrlRepository } from './pki-crls.ts';
import { pkiTemplateRepository } from './pki-templates.ts';

export function pkiRepositories(ctx: RepositoryContext): PkiRepositories {
  return {
    authorities: pkiAuthorityRepository(ctx),
    templates: pkiTemplateRepository(ctx),
    certificates: pkiCertificateRepository(ctx),
    crls: pkiCrlRepository(ctx),
    challenges: pkiChallengeRepository(ctx),
  };
}
