/**
 * The SCEP endpoint, `/pki/scep` (RFC 8894 §4): `GET ?operation=GetCACaps|GetCACert`,
 * `GET ?operation=PKIOperation&message=<base64>` and `POST ?operation=PKIOperation` with the DER
 * pkiMessage as body (application/x-pki-message, or application/octet-stream as some clients
 * send). Plain HTTP is fine: the messages are signed and encrypted themselves.
 *
 * Answers are SCEP's, not the JSON of Herald's APIs: a request that is not SCEP gets 400 with a
 * plain-text reason; refusals of readable requests are CertRep FAILUREs (HTTP 200). The plugin is
 * encapsulated (not fastify-plugin) so its body parsers and error handler stay on its routes.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log/index.ts';
import { caCapabilitiesText, caCertReply } from './ca-info.ts';
import { ScepMalformedError, ScepUnavailableError } from './errors.ts';
import { pkiOperation } from './pki-operation.ts';
import type { ScepAuthority } from './types.ts';

export interface ScepRoutesOptions {
  logger: Logger;
  /** Largest POSTed pkiMessage; default 64 KiB (a 4096-bit request is under 8 KiB). */
  bodyLimit?: number;
}

export const SCEP_PATH = '/pki/scep';
const DEFAULT_BODY_LIMIT = 64 * 1024;
const PKI_MESSAGE_TYPES = ['application/x-pki-message', 'application/octet-stream'];
const UNSUPPORTED_MEDIA_TYPE = 'PKIOperation by POST takes an application/x-pki-message body.';
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

function single(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** The GET message parameter: base64 that clients do not always percent-encode ('+' → ' '). */
function decodeMessage(message: string | undefined): Buffer {
  if (message === undefined || message.length === 0) {
    throw new ScepMalformedError('PKIOperation needs a message parameter (the base64 pkiMessage).');
  }
  const text = message.replaceAll(' ', '+').replace(/[\r\n\t]/g, '');
  if (!BASE64.test(text)) throw new ScepMalformedError('The message parameter is not base64.');
  return Buffer.from(text, 'base64');
}

function sendText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.status(status).type('text/plain; charset=utf-8').send(`${text}\n`);
}

export function scepRoutes(authority: ScepAuthority, options: ScepRoutesOptions): FastifyPluginAsync {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const logger = options.logger.child({ component: 'scep' });
  return async (app) => {
    app.addContentTypeParser(PKI_MESSAGE_TYPES, { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
      done(null, body);
    });

    app.setErrorHandler((error: FastifyError, request, reply) => {
      const log = logger.child({ reqId: request.id });
      if (error instanceof ScepMalformedError) {
        log.info({ reason: error.message }, 'SCEP request is not SCEP');
        return sendText(reply, 400, error.message);
      }
      if (error instanceof ScepUnavailableError) {
        log.error({ reason: error.message }, 'SCEP is unavailable');
        return sendText(reply, 503, `SCEP is unavailable: ${error.message}`);
      }
      switch (error.code) {
        case 'FST_ERR_CTP_BODY_TOO_LARGE':
          return sendText(reply, 413, `The pkiMessage is larger than ${bodyLimit} bytes.`);
        case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
          return sendText(reply, 415, UNSUPPORTED_MEDIA_TYPE);
      }
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return sendText(reply, status, 'The request is malformed.');
      log.error({ err: error }, 'SCEP request failed');
      return sendText(reply, 500, 'An internal error occurred.');
    });

    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Record<string, unknown>;
      const operation = single(query.operation);
      if (request.method === 'POST' && operation !== 'PKIOperation') {
        throw new ScepMalformedError('Only operation=PKIOperation is sent by POST.');
      }
      switch (operation) {
        case 'GetCACaps':
          return reply.type('text/plain').send(caCapabilitiesText());
        case 'GetCACert': {
          const { contentType, body } = caCertReply(authority.caChain().der);
          return reply.type(contentType).send(body);
        }
        case 'PKIOperation': {
          if (request.method === 'POST' && request.body !== undefined && !Buffer.isBuffer(request.body)) {
            // A body another parser read (JSON, a form): not a pkiMessage.
            return sendText(reply, 415, UNSUPPORTED_MEDIA_TYPE);
          }
          const der =
            request.method === 'POST'
              ? (request.body as Buffer | undefined)
              : decodeMessage(single(query.message));
          if (!der || der.length === 0) throw new ScepMalformedError('The pkiMessage is empty.');
          const outcome = await pkiOperation(authority, der);
          logger.info(
            {
              reqId: request.id,
              transactionId: outcome.transactionId,
              messageType: outcome.messageType,
              status: outcome.status,
              failInfo: outcome.failInfo,
              renewal: outcome.renewal,
            },
            'SCEP PKIOperation answered',
          );
          return reply.type('application/x-pki-message').send(outcome.reply);
        }
        case undefined:
          throw new ScepMalformedError('The operation parameter is missing.');
        default:
          throw new ScepMalformedError(
            'Unknown operation (GetCACaps, GetCACert and PKIOperation are served).',
          );
      }
    };
    app.get(SCEP_PATH, handle);
    app.post(SCEP_PATH, { bodyLimit }, handle);
  };
}
