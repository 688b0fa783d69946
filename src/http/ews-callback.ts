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
import type { Metrics } from '../metrics/index.ts';
import type { EventIntake } from '../notify/index.ts';

export interface EwsCallbackDeps {
  intake: EventIntake;
  bodyLimit: number;
  metrics?: Metrics;
}

const XML = 'text/xml; charset=utf-8';

export function ewsCallback(deps: EwsCallbackDeps): FastifyPluginAsync {
  return async (app) => {
    // XML only: JSON, text/plain or a body without a content type get a 415 fault, not a parse.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ['text/xml', 'application/xml', 'application/soap+xml'],
      { parseAs: 'string', bodyLimit: deps.bodyLimit },
      (_request, body, done) => done(null, body),
    );

    app.setErrorHandler((error, request, reply) => {
      const code = (error as { code?: string }).code;
      const status = clientStatus(error, code);
      deps.metrics?.callbacks.inc({ result: status === undefined ? 'server_fault' : 'client_fault' });
      if (status !== undefined) {
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
        const answer = (status: SubscriptionStatus) => {
          deps.metrics?.callbacks.inc({ result: status === 'OK' ? 'ok' : 'unsubscribe' });
          return reply.status(200).type(XML).send(buildSendNotificationResult(status));
        };
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

/**
 * The status of a fault that is the sender's (parser and limit errors of the EWS codec, bodies
 * too large or of the wrong type); undefined for Herald's own failures (500, Exchange retries).
 */
function clientStatus(error: unknown, code: string | undefined): number | undefined {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 413;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 415;
  if (error instanceof XmlError) return 400;
  if (error instanceof HeraldError) return error.status < 500 ? error.status : undefined;
  const status = (error as { statusCode?: number }).statusCode;
  return status !== undefined && status >= 400 && status < 500 ? status : undefined;
}

function faultText(error: unknown, code: string | undefined): string {
  if (
    code === 'FST_ERR_CTP_BODY_TOO_LARGE' ||
    (error instanceof HeraldError && error.code === 'payload_too_large')
  )
    return 'The notification body is too large.';
  if (
    code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
    (error instanceof HeraldError && error.code === 'unsupported_media_type')
  )
    return 'SendNotification must be sent as text/xml.';
  const message = error instanceof Error ? error.message : 'malformed request';
  return `Not a valid SendNotification: ${message}`.slice(0, 500);
}
