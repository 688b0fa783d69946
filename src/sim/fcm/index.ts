/**
 * `herald sim fcm`: a simulator of Firebase Cloud Messaging's HTTP v1 API together with Google's
 * OAuth 2.0 token endpoint for service accounts, built from Google's public documentation (the
 * projects.messages REST resource, the FCM ErrorCode reference, "Using OAuth 2.0 for Server to
 * Server Applications" and the google.rpc.Status error model), for app developers and for
 * Herald's tests. It imports nothing from Herald outside src/sim/.
 *
 * A client points its service account's `token_uri` here (createServiceAccount does that) and
 * sends to `{url}/v1/projects/{projectId}/messages:send` instead of https://fcm.googleapis.com.
 */
import type { AddressInfo } from 'node:net';
import { createFcmServer, TOKEN_PATH } from './server.ts';
import { FcmSim } from './simulator.ts';
import type {
  FcmFault,
  FcmFaultInfo,
  FcmSendRecord,
  FcmSimulatorOptions,
  FcmStats,
  FcmTokenRequestRecord,
  ServiceAccount,
} from './types.ts';

export { ANY_TARGET } from './simulator.ts';
export type {
  FcmFault,
  FcmFaultErrorCode,
  FcmFaultInfo,
  FcmSendRecord,
  FcmSimulatorOptions,
  FcmStats,
  FcmTokenRequestRecord,
  ServiceAccount,
} from './types.ts';
export { FAULT_ERROR_CODES } from './types.ts';

export interface FcmSimulator {
  /** Base URL, e.g. http://127.0.0.1:PORT; the send endpoint is {url}/v1/projects/{p}/messages:send. */
  url: string;
  /** {url}/token */
  tokenUri: string;
  close(): Promise<void>;
  /** Make a service account (RSA-2048 key) whose token_uri points here, and accept its assertions. */
  createServiceAccount(input?: { projectId?: string; clientEmail?: string }): ServiceAccount;
  /**
   * Accept assertions signed by an existing key: `publicKey` is a PEM public key (SPKI), X.509
   * certificate or private key. Adding another key to the same clientEmail keeps the old ones
   * (key rotation).
   */
  addServiceAccount(input: {
    projectId: string;
    clientEmail: string;
    privateKeyId: string;
    publicKey: string;
  }): void;
  /** Sends accepted for delivery (200, not validate_only), oldest first. */
  received(filter?: { token?: string }): FcmSendRecord[];
  /** Every send request, whatever the answer, oldest first. */
  requests(filter?: { token?: string }): FcmSendRecord[];
  tokenRequests(): FcmTokenRequestRecord[];
  /** Forget sends and token requests and zero stats (faults, unregistered tokens, accounts stay). */
  clear(): void;
  /** Fail sends to `token` ("*" = every send) with this FcmError until cleared or `times` is used up. */
  fault(token: string, fault: FcmFault): void;
  /** The faults in force. */
  faults(): FcmFaultInfo[];
  clearFaults(token?: string): void;
  /** From now on sends to `token` answer 404 UNREGISTERED. */
  unregister(token: string): void;
  /** Issued access tokens stop working (401), to test re-authentication. */
  revokeAccessTokens(): void;
  stats(): FcmStats;
}

export async function startFcmSimulator(options: FcmSimulatorOptions = {}): Promise<FcmSimulator> {
  const delay = options.responseDelayMs ?? 0;
  if (!Number.isFinite(delay) || delay < 0)
    throw new RangeError('responseDelayMs must be a non-negative number');
  const sim = new FcmSim(options);
  const aborter = new AbortController();
  const server = createFcmServer(sim, {
    tls: options.tls,
    responseDelayMs: delay,
    log: options.log,
    signal: aborter.signal,
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `${options.tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  const tokenUri = `${url}${TOKEN_PATH}`;
  sim.oauth.tokenUri = tokenUri;

  let closed: Promise<void> | undefined;
  return {
    url,
    tokenUri,
    close() {
      closed ??= new Promise<void>((resolve) => {
        aborter.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
    createServiceAccount: (input) => sim.oauth.createServiceAccount(input),
    addServiceAccount: (input) => sim.oauth.addServiceAccount(input),
    received: (filter) => sim.received(filter),
    requests: (filter) => sim.requests(filter),
    tokenRequests: () => sim.tokenRequests(),
    clear: () => sim.clear(),
    fault: (token, fault) => {
      sim.fault(token, fault);
    },
    faults: () => sim.faults(),
    clearFaults: (token) => {
      sim.clearFaults(token);
    },
    unregister: (token) => sim.unregister(token),
    revokeAccessTokens: () => {
      sim.oauth.revokeAll();
    },
    stats: () => sim.stats(),
  };
}

export const simFcmUsage = `herald sim fcm: Firebase Cloud Messaging HTTP v1 simulator with Google's OAuth 2.0 token endpoint

Options (wired by the CLI): --host H --port N --project ID --service-account-out FILE
(a service account for ID, key file mode 0600) --cert FILE --key FILE (serve HTTPS)

Use the service-account JSON as you would Google's: its token_uri points here. Send to
{url}/v1/projects/{projectId}/messages:send instead of https://fcm.googleapis.com.

OAuth 2.0 token endpoint
  POST /token       grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
                    (form-encoded or JSON). The JWT: RS256, kid = private_key_id, iss =
                    client_email, aud = token_uri, scope with .../auth/firebase.messaging or
                    .../auth/cloud-platform, exp - iat <= 3600 s.
                    -> {"access_token", "expires_in": 3599, "token_type": "Bearer"}
                    or 400 {"error": "invalid_grant"|"invalid_scope"|"invalid_request"|
                    "unsupported_grant_type", "error_description"} with Google's descriptions

FCM HTTP v1
  POST /v1/projects/{projectId}/messages:send     Authorization: Bearer ACCESS_TOKEN
                    {"validate_only"?: bool, "message": {token|topic|condition, data?,
                    notification?, android?, apns?, webpush?, fcm_options?}}
                    -> 200 {"name": "projects/{p}/messages/{id}"}; errors are google.rpc.Status
                    bodies with FcmError details: 400 INVALID_ARGUMENT (unknown fields, non-string
                    data values, reserved data keys, bad android.priority/ttl, bad token, over
                    4096 bytes), 401 UNAUTHENTICATED (no, unknown, expired or revoked token),
                    403 PERMISSION_DENIED (token of another project), 404 UNREGISTERED, and
                    injected faults (429 QUOTA_EXCEEDED, 503 UNAVAILABLE, 500 INTERNAL, ...)

Control API (JSON, no auth; errors are {"error": "..."} with a 4xx status)
  GET    /sim/messages[?token=T]        accepted sends (validate_only excluded)
  DELETE /sim/messages                  forget sends and token requests, zero stats
  GET    /sim/requests[?token=T]        every send request with its status and errorCode
  GET    /sim/token-requests            token endpoint requests, with the exact reason of refusals
  GET    /sim/faults                    faults in force
  POST   /sim/faults                    {token ("*" = every send), errorCode: UNREGISTERED |
                                        QUOTA_EXCEEDED | UNAVAILABLE | INTERNAL | INVALID_ARGUMENT |
                                        SENDER_ID_MISMATCH | THIRD_PARTY_AUTH_ERROR, times?,
                                        retryAfterSeconds? (429/503/500 only)}
  DELETE /sim/faults[?token=T]          clear one token's fault, or all
  POST   /sim/unregister                {token}: later sends to it answer 404 UNREGISTERED
  POST   /sim/service-accounts          {projectId?, clientEmail?} -> a service-account JSON
  POST   /sim/revoke-tokens             issued access tokens stop working (401)
  GET    /sim/stats                     {requests, accepted, tokenRequests}
`;
