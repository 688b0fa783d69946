/**
 * Error answers as Google's API front end writes them: a google.rpc.Status in JSON,
 * `{"error": {"code", "message", "status", "details"?}}`, the FCM-specific reason in a
 * `google.firebase.fcm.v1.FcmError` detail, field problems in a `google.rpc.BadRequest` detail and
 * authentication problems in a `google.rpc.ErrorInfo` detail.
 *
 * HTTP code per FcmError errorCode, from the FCM ErrorCode reference: INVALID_ARGUMENT 400,
 * UNREGISTERED 404, SENDER_ID_MISMATCH 403, QUOTA_EXCEEDED 429, UNAVAILABLE 503, INTERNAL 500,
 * THIRD_PARTY_AUTH_ERROR 401. Messages are the ones FCM answers with where known.
 */
import type { FcmFaultErrorCode } from './types.ts';

export const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
export const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';
export const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

export type Detail = Record<string, unknown>;

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: Detail[] };
}

export interface ApiError {
  httpStatus: number;
  body: GoogleErrorBody;
  /** The FcmError errorCode when present, else the google.rpc status. */
  errorCode: string;
  headers?: Record<string, string>;
}

export interface FieldViolation {
  field?: string;
  description: string;
}

export const FCM_ERRORS: Record<FcmFaultErrorCode, { code: number; status: string; message: string }> = {
  INVALID_ARGUMENT: {
    code: 400,
    status: 'INVALID_ARGUMENT',
    message: 'Request contains an invalid argument.',
  },
  UNREGISTERED: { code: 404, status: 'NOT_FOUND', message: 'Requested entity was not found.' },
  SENDER_ID_MISMATCH: { code: 403, status: 'PERMISSION_DENIED', message: 'SenderId mismatch' },
  QUOTA_EXCEEDED: {
    code: 429,
    status: 'RESOURCE_EXHAUSTED',
    message: 'Resource has been exhausted (e.g. check quota).',
  },
  UNAVAILABLE: { code: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.' },
  INTERNAL: { code: 500, status: 'INTERNAL', message: 'Internal error encountered.' },
  THIRD_PARTY_AUTH_ERROR: {
    code: 401,
    status: 'UNAUTHENTICATED',
    message: 'Auth error from APNS or Web Push Service',
  },
};

export function rpcError(
  httpStatus: number,
  status: string,
  message: string,
  details?: Detail[],
  errorCode: string = status,
): ApiError {
  const error: GoogleErrorBody['error'] = { code: httpStatus, message, status };
  if (details && details.length > 0) error.details = details;
  return { httpStatus, body: { error }, errorCode };
}

/** An FCM error with its FcmError detail, e.g. UNREGISTERED → 404 NOT_FOUND. */
export function fcmError(errorCode: FcmFaultErrorCode, message?: string, extra: Detail[] = []): ApiError {
  const known = FCM_ERRORS[errorCode];
  return rpcError(
    known.code,
    known.status,
    message ?? known.message,
    [{ '@type': FCM_ERROR_TYPE, errorCode }, ...extra],
    errorCode,
  );
}

/** A BadRequest detail listing the offending fields. */
export function badRequestDetail(violations: FieldViolation[]): Detail {
  return { '@type': BAD_REQUEST_TYPE, fieldViolations: violations };
}

/**
 * A request that the JSON/proto layer refused (unknown field, wrong type, bad enum): 400
 * INVALID_ARGUMENT with a BadRequest detail and no FcmError, as the API front end answers before
 * FCM sees the message.
 */
export function parseError(description: string, field?: string): ApiError {
  return rpcError(400, 'INVALID_ARGUMENT', description, [
    badRequestDetail([field === undefined ? { description } : { field, description }]),
  ]);
}

/** A message FCM itself refused: 400 INVALID_ARGUMENT with FcmError INVALID_ARGUMENT (+ BadRequest). */
export function invalidArgument(message: string, field?: string): ApiError {
  return fcmError(
    'INVALID_ARGUMENT',
    message,
    field === undefined ? [] : [badRequestDetail([{ field, description: message }])],
  );
}

const SEND_METHOD = 'google.firebase.fcm.v1.FcmService.SendMessage';
const SEE = 'See https://developers.google.com/identity/sign-in/web/devconsole-project.';

function authInfo(reason: string): Detail {
  return {
    '@type': ERROR_INFO_TYPE,
    reason,
    domain: 'googleapis.com',
    metadata: { method: SEND_METHOD, service: 'fcm.googleapis.com' },
  };
}

/** No (bearer) credential at all. */
export function credentialsMissing(): ApiError {
  const error = rpcError(
    401,
    'UNAUTHENTICATED',
    `Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${SEE}`,
    [authInfo('CREDENTIALS_MISSING')],
  );
  error.headers = { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/"' };
  return error;
}

/** A bearer token that is unknown, revoked (ACCESS_TOKEN_TYPE_UNSUPPORTED) or expired (ACCESS_TOKEN_EXPIRED). */
export function invalidCredentials(
  reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED' | 'ACCESS_TOKEN_EXPIRED',
): ApiError {
  const error = rpcError(
    401,
    'UNAUTHENTICATED',
    `Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. ${SEE}`,
    [authInfo(reason)],
  );
  error.headers = {
    'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
  };
  return error;
}

/** A valid token of a service account that has no right to send for this project. */
export function permissionDenied(projectId: string): ApiError {
  return rpcError(
    403,
    'PERMISSION_DENIED',
    `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${projectId}' (or it may not exist).`,
    [
      {
        '@type': ERROR_INFO_TYPE,
        reason: 'IAM_PERMISSION_DENIED',
        domain: 'cloudresourcemanager.googleapis.com',
        metadata: { permission: 'cloudmessaging.messages.create', resource: `projects/${projectId}` },
      },
    ],
  );
}
