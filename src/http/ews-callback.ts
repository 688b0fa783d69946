/**
 * Exchange's push callback: `POST /api/ens/v1/ews/notify/{registrationId}.{key}` with a SOAP
 * SendNotification. Answers SendNotificationResult OK (events durable) or Unsubscribe; a body that
 * is not a SendNotification gets a 400 SOAP fault; a failure on Herald's side a 500 fault, so that
 * Exchange retries (MS-OXWSNTIF).
 */
import type { FastifyPluginAsync } from 'fastify';
import { HeraldError } from '../errors/index.ts';
import {
  buildSendNotificationResult,
  buildSoapFault,
  parseSendNotification,
  type SubscriptionStatus,
  XmlError,
} from '../exchange/ews/index.ts';
import type { EventIntake } from '../notify/index.ts';

export interface EwsCallbackDeps {
  intake: EventIntake;
  bodyLimit: number;
}

const XML = 'text/xml; charset=utf-8';

export function ewsCallback(deps: EwsCallbackDeps): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser(
      ['text/xml', 'application/xml', 'application/soap+xml'],
      { parseAs: 'string', bodyLimit: deps.bodyLimit },
      (_request, body, done) => done(null, body),
    );

    app.setErrorHandler((error, request, reply) => {
      const code = (error as { code?: string }).code;
      const clientFault =
        code === 'FST_ERR_CTP_BODY_TOO_LARGE' ||
        code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
        isClientError(error);
      const status =
        code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 415 : 400;
      if (clientFault) {
        request.log.info({ code: code ?? (error as Error).name }, 'malformed EWS notification');
        return reply
          .status(status)
          .type(XML)
          .send(buildSoapFault('soap:Client', faultText(error, code)));
      }
      request.log.error({ err: error }, 'EWS notification could not be stored');
      return reply
        .status(500)
        .type(XML)
        .send(buildSoapFault('soap:Server', 'The notification could not be stored.'));
    });

    app.post<{ Params: { segment: string }; Body: string }>(
      '/v1/ews/notify/:segment',
      { bodyLimit: deps.bodyLimit, schema: { hide: true } },
      async (request, reply) => {
        const answer = (status: SubscriptionStatus) =>
          reply.status(200).type(XML).send(buildSendNotificationResult(status));
        const callback = await deps.intake.authenticate(request.params.segment);
        if (!callback) {
          request.log.info('callback for an unknown registration or with a wrong key: Unsubscribe');
          return answer('Unsubscribe');
        }
        if (typeof request.body !== 'string') {
          throw new HeraldError('unsupported_media_type', { message: 'SendNotification must be text/xml.' });
        }
        const notification = parseSendNotification(request.body);
        return answer(await deps.intake.accept(callback, notification));
      },
    );
  };
}

/** Parser and limit errors of the EWS codec are the sender's fault. */
function isClientError(error: unknown): boolean {
  if (error instanceof XmlError) return true;
  if (error instanceof HeraldError) return error.status < 500;
  return (error as { statusCode?: number }).statusCode === 400;
}

function faultText(error: unknown, code: string | undefined): string {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'The notification body is too large.';
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'SendNotification must be sent as text/xml.';
  const message = error instanceof Error ? error.message : 'malformed request';
  return `Not a valid SendNotification: ${message}`.slice(0, 500);
}
