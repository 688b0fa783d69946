/**
 * Microsoft Graph's callbacks: `POST /api/ens/v1/graph/notify/{registrationId}` (change
 * notifications) and `…/graph/lifecycle/{registrationId}` (lifecycle notifications). A request
 * with `?validationToken=` is the validation handshake: the token goes back as text/plain, 200,
 * at once. Otherwise the body is handed to the Graph intake, and the answer is 202 once what it
 * carries is durable; a body Herald refuses gets a JSON error (400, 403 for a wrong clientState,
 * 413, 415); a failure on Herald's side a 500, so that Graph tries again.
 */
import type { FastifyPluginAsync } from 'fastify';
import { handshakeResponse } from '../exchange/graph/index.ts';
import type { GraphIntake } from '../notify/index.ts';

export interface GraphCallbackDeps {
  intake: GraphIntake;
  bodyLimit: number;
}

export function graphCallback(deps: GraphCallbackDeps): FastifyPluginAsync {
  return async (app) => {
    // Graph sends JSON; the handshake comes as text/plain, maybe without a body. Bodies are read
    // as text so that the intake bounds their size before parsing.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ['application/json', 'text/plain'],
      { parseAs: 'string', bodyLimit: deps.bodyLimit },
      (_request, body, done) => done(null, body),
    );

    for (const kind of ['notify', 'lifecycle'] as const) {
      app.post<{ Params: { registrationId: string }; Querystring: Record<string, unknown>; Body: unknown }>(
        `/v1/graph/${kind}/:registrationId`,
        { bodyLimit: deps.bodyLimit, schema: { hide: true } },
        async (request, reply) => {
          const handshake = handshakeResponse(request.query.validationToken);
          if (handshake)
            return reply.status(handshake.status).type(handshake.contentType).send(handshake.body);
          if (typeof request.body !== 'string') {
            return reply.status(415).send({
              error: { code: 'unsupported_media_type', message: 'Graph notifications are application/json.' },
            });
          }
          const answer = await deps.intake.accept(request.params.registrationId, request.body);
          if (answer.status === 202) return reply.status(202).send();
          return reply.status(answer.status).send({ error: { code: answer.code, message: answer.message } });
        },
      );
    }
  };
}
