/**
 * What the CA publishes to everyone, without a token (operator.md, "Certificate authority"):
 *
 * - `GET /pki/crl/<id>.crl` and `/pki/crl/<id>-delta.crl`: the full and delta CRLs named by the
 *   CDP and Freshest CRL of every certificate, DER as `application/pkix-crl` (RFC 2585 §4.2)
 *   with Cache-Control, Last-Modified, Expires (the CRL's nextUpdate) and an ETag;
 * - `GET /pki/ca/<id>.crt`: a CA certificate (AIA caIssuers), DER as `application/pkix-cert`;
 * - `/pki/scep`: the SCEP server (src/pki/scep/), registered as its own encapsulated plugin.
 *
 * These routes only open a CA that exists: an anonymous request never makes Herald create one.
 */
import type { FastifyPluginAsync } from 'fastify';
import { HeraldError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import type { CertificateAuthority } from '../../pki/index.ts';
import { type ScepAuthority, scepRoutes } from '../../pki/scep/index.ts';

/** The served CA: `existing()` never creates one, `get()` does (admin routes only). */
export interface PkiProvider {
  existing(): Promise<CertificateAuthority | undefined>;
  get(): Promise<CertificateAuthority>;
}

// Authority ids are hex (Herald's) or the like; anything else names nothing.
const CRL_FILE = /^([A-Za-z0-9_-]{1,64}?)(-delta)?\.crl$/;
const CA_FILE = /^([A-Za-z0-9_-]{1,64})\.crt$/;
/** CA certificates change only by an import, which gives a new id: cache them a day. */
const CA_MAX_AGE_SECONDS = 86_400;

function notFound(what: string): HeraldError {
  return new HeraldError('not_found', { message: `No ${what} here.` });
}

/** A ScepAuthority that answers with the CA opened by the hook in front of it. */
function deferredScep(current: () => ScepAuthority): ScepAuthority {
  return {
    caChain: () => current().caChain(),
    recipient: () => current().recipient(),
    enroll: (request) => current().enroll(request),
    poll: (request) => current().poll(request),
  };
}

export function pkiPublication(deps: { pki: PkiProvider; logger: Logger }): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { file: string } }>(
      '/pki/crl/:file',
      { schema: { hide: true } },
      async (request, reply) => {
        const match = CRL_FILE.exec(request.params.file);
        if (!match) throw notFound('CRL by this name');
        const ca = await deps.pki.existing();
        const published = await ca?.crlPublication(match[1]!, match[2] ? 'delta' : 'full');
        if (!published) throw notFound('CRL of this CA');
        void reply.headers(published.headers);
        if (request.headers['if-none-match'] === published.headers.etag) return reply.status(304).send();
        return reply.send(published.der);
      },
    );

    app.get<{ Params: { file: string } }>(
      '/pki/ca/:file',
      { schema: { hide: true } },
      async (request, reply) => {
        const match = CA_FILE.exec(request.params.file);
        if (!match) throw notFound('CA certificate by this name');
        const ca = await deps.pki.existing();
        const certificate = await ca?.authorityCertificate(match[1]!);
        if (!certificate) throw notFound('CA certificate with this id');
        return reply
          .type(certificate.contentType)
          .header('cache-control', `public, max-age=${CA_MAX_AGE_SECONDS}`)
          .send(certificate.der);
      },
    );

    // SCEP keeps its own parsers and plain-text errors inside its plugin; this scope only makes
    // sure a CA is open before it runs (no CA yet: nothing to enrol with, 503 as SCEP's own).
    await app.register(async (scope) => {
      let authority: ScepAuthority | undefined;
      // Not part of the device API's OpenAPI document.
      scope.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, hide: true };
      });
      // preHandler, after the body is read: a request that is not SCEP is answered as such first.
      scope.addHook('preHandler', async (_request, reply) => {
        const ca = await deps.pki.existing();
        if (!ca) {
          return reply
            .status(503)
            .type('text/plain; charset=utf-8')
            .send('SCEP is unavailable: the certificate authority has not been set up yet.\n');
        }
        authority ??= ca.scep();
      });
      await scope.register(
        scepRoutes(
          deferredScep(() => authority!),
          { logger: deps.logger },
        ),
      );
    });
  };
}
