/** The simulator's public types; index.ts re-exports them. */

export interface FcmSimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Serve HTTPS with this identity (default plain HTTP). */
  tls?: { cert: string; key: string };
  /** Epoch ms (default Date.now): JWT and access-token expiry, record timestamps. */
  now?: () => number;
  /** Lifetime of issued access tokens (default 3599, as Google). */
  accessTokenTtlSeconds?: number;
  /** Real milliseconds to wait before answering a send (default 0). */
  responseDelayMs?: number;
  /** Send records and token-request records kept (default 10 000 each). */
  recordLimit?: number;
  log?: (line: string) => void;
}

/** The service-account key file Google issues, field names as Google's. */
export interface ServiceAccount {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

export interface FcmSendRecord {
  seq: number;
  /** Epoch ms (the `now` option) when the request arrived. */
  at: number;
  projectId: string;
  /** The service account whose access token was presented, when the token was known. */
  clientEmail: string | undefined;
  /** The request's `message` object as received (undefined when the body was not JSON). */
  message: unknown;
  token: string | undefined;
  status: number;
  /** The FcmError errorCode when the answer carried one, else the google.rpc status (e.g. UNAUTHENTICATED). */
  errorCode: string | undefined;
  /** projects/{p}/messages/{id} when accepted (validate_only: projects/{p}/messages/fake_message_id). */
  name: string | undefined;
  /** The request asked for validate_only: checked, answered 200, never delivered. */
  validateOnly: boolean;
  /** The answer's error message, for failed requests. */
  error: string | undefined;
}

export interface FcmTokenRequestRecord {
  at: number;
  /** The assertion's `iss`, when it could be read. */
  clientEmail: string | undefined;
  status: number;
  /** The OAuth error code (invalid_grant, invalid_request, invalid_scope, unsupported_grant_type). */
  error: string | undefined;
  /** Google's error_description as answered. */
  errorDescription: string | undefined;
  /** The exact reason, for humans (Google's descriptions are deliberately vague). */
  reason: string | undefined;
}

export const FAULT_ERROR_CODES = [
  'UNREGISTERED',
  'QUOTA_EXCEEDED',
  'UNAVAILABLE',
  'INTERNAL',
  'INVALID_ARGUMENT',
  'SENDER_ID_MISMATCH',
  'THIRD_PARTY_AUTH_ERROR',
] as const;

export type FcmFaultErrorCode = (typeof FAULT_ERROR_CODES)[number];

export type FcmFault = {
  errorCode: FcmFaultErrorCode;
  /** Fail this many sends, then clear (default: until cleared). */
  times?: number;
  /** Sets Retry-After (seconds) on QUOTA_EXCEEDED (429), UNAVAILABLE (503) and INTERNAL (500). */
  retryAfterSeconds?: number;
};

export interface FcmFaultInfo extends FcmFault {
  token: string;
  /** Sends still to fail; undefined = until cleared. */
  remaining: number | undefined;
}

export interface FcmStats {
  /** Send requests (every answer, including auth and validation failures). */
  requests: number;
  /** Sends accepted for delivery (200, not validate_only). */
  accepted: number;
  /** Requests to the token endpoint. */
  tokenRequests: number;
}
