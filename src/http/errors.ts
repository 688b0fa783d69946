/**
 * Turning errors into responses, in one place (STYLE habit 3): the device API answers JSON
 * `{"error": {"code", "message"}}`; the internal cause is logged, never sent.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HeraldError } from '../errors/index.ts';
import { isPkiError } from '../pki/index.ts';

/** Map any error thrown while handling a request to a HeraldError. */
export function toHeraldError(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  // The CA's codes are in the catalogue with the same status; its messages are public by design.
  if (isPkiError(error)) return new HeraldError(error.code, { message: error.message, cause: error });
  if (hasZodFastifySchemaValidationErrors(error)) {
    const problems = error.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      return path ? `${path}: ${v.message}` : `${v.message}`;
    });
    return new HeraldError('invalid_request', {
      message: `Invalid ${error.validationContext ?? 'request'}: ${problems.join('; ')}`,
      details: { problems },
    });
  }
  const fastifyError = error as Partial<FastifyError>;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HeraldError('invalid_request', {
        message: 'The request body is empty but JSON was announced.',
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HeraldError('invalid_request', { message: 'The request body is not valid JSON.' });
    case 'FST_ERR_BAD_URL':
      return new HeraldError('invalid_request', { message: 'The request URL is not validly encoded.' });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // No identifier is that long: nothing by that name exists.
      return new HeraldError('not_found', { message: 'No such resource (a path segment is too long).' });
  }
  if (error instanceof SyntaxError && (fastifyError.statusCode ?? 0) === 400) {
    return new HeraldError('invalid_request', { message: 'The request body is not valid JSON.' });
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) return new HeraldError('invalid_request', { cause: error });
  return new HeraldError('internal_error', { cause: error });
}

export function sendJsonError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const herald = toHeraldError(error);
  if (herald.status >= 500) {
    request.log.error({ err: herald.cause ?? herald, code: herald.code }, 'request failed');
  } else {
    request.log.info({ code: herald.code }, 'request refused');
  }
  const retryAfter = herald.details?.retryAfterSeconds;
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(Math.ceil(retryAfter)));
  if (herald.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer realm="herald"');
  if (herald.code === 'admin_unauthorized')
    void reply.header('www-authenticate', 'Bearer realm="herald-admin"');
  return reply.status(herald.status).type('application/json; charset=utf-8').send(herald.toBody());
}
