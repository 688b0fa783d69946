/**
 * The FCM HTTP v1 sender (Firebase, "Send a message using FCM HTTP v1 API"): one POST per push to
 * `{endpoint}/v1/projects/{project_id}/messages:send`, errors read from the google.rpc.Status
 * body and its FcmError detail (Firebase, "FCM error codes").
 */

import type { Dispatcher } from 'undici';
import type { Logger } from '../../log/index.ts';
import { loggedSend, parseRetryAfter, retry, since } from '../common.ts';
import { createDispatcher, type PostedResponse, parseJson, post, transportReason } from '../http.ts';
import type { PushNotification, PushResult, PushSender, PushTarget } from '../types.ts';
import { fcmMessage } from './message.ts';
import {
  AccessTokenError,
  createGoogleAccessTokens,
  type GoogleAccessTokens,
  type ServiceAccount,
} from './oauth.ts';

export const FCM_ENDPOINT = 'https://fcm.googleapis.com';

export interface FcmSenderOptions {
  serviceAccount: ServiceAccount;
  /** Default https://fcm.googleapis.com. */
  endpoint?: string;
  /** Extra trusted CAs (PEM) and proxy, for a dispatcher of the sender's own. */
  ca?: readonly string[];
  proxyUrl?: string;
  /** A shared undici dispatcher (not closed by the sender). */
  dispatcher?: Dispatcher;
  /** Share one token cache per service account across senders. */
  accessTokens?: GoogleAccessTokens;
  /** One HTTP exchange; default 10 s. */
  timeoutMs?: number;
  logger?: Logger;
  /** Epoch ms (token expiry, message ttl); tests inject a clock. */
  now?: () => number;
}

const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
/** Firebase: retry these with exponential backoff, honouring Retry-After. */
const RETRYABLE = new Set(['QUOTA_EXCEEDED', 'UNAVAILABLE', 'INTERNAL']);

interface RpcStatus {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<{ '@type'?: string; errorCode?: string }>;
}

/** The FcmError errorCode if present, else the google.rpc status name, else the HTTP status. */
export function fcmErrorCode(body: unknown, httpStatus: number): string {
  const error = (body as { error?: RpcStatus } | undefined)?.error;
  const detail = error?.details?.find(
    (d) => d?.['@type'] === FCM_ERROR_TYPE && typeof d.errorCode === 'string',
  );
  if (detail?.errorCode) return detail.errorCode;
  if (typeof error?.status === 'string' && error.status !== '') return error.status;
  return `HTTP ${httpStatus}`;
}

export function createFcmSender(options: FcmSenderOptions): PushSender {
  const { serviceAccount: account, logger } = options;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const endpoint = new URL(options.endpoint ?? FCM_ENDPOINT).origin;
  const ownDispatcher = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    createDispatcher({
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.proxyUrl ? { proxyUrl: options.proxyUrl } : {}),
    });
  const tokens = options.accessTokens ?? createGoogleAccessTokens({ account, dispatcher, now, timeoutMs });
  const url = `${endpoint}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`;
  let closed = false;

  async function deliver(target: PushTarget, n: PushNotification, start: number): Promise<PushResult> {
    const elapsed = () => since(start);
    const failed = (reason: string): PushResult => ({
      status: 'failed',
      provider: 'fcm',
      reason,
      latencyMs: elapsed(),
    });
    if (closed) return retry('fcm', 'sender_closed', elapsed());
    if (target.platform !== 'android') return failed('platform_not_android');
    if (n.expiresAt !== undefined && n.expiresAt <= now()) return failed('expired');
    const body = JSON.stringify({ message: fcmMessage(target.token, n, { now: now() }) });
    let reauthenticated = false;
    for (;;) {
      let accessToken: string;
      try {
        accessToken = await tokens.get();
      } catch (err) {
        if (err instanceof AccessTokenError) {
          if (!err.retryable) logger?.error({ provider: 'fcm', reason: err.reason }, 'fcm: no access token');
          return err.retryable ? retry('fcm', err.reason, elapsed(), err.retryAfterMs) : failed(err.reason);
        }
        return failed('oauth_assertion_failed');
      }
      let response: PostedResponse;
      try {
        response = await post(url, {
          headers: {
            authorization: `Bearer ${accessToken}`,
            'content-type': 'application/json; charset=utf-8',
            accept: 'application/json',
          },
          body,
          dispatcher,
          timeoutMs,
        });
      } catch (err) {
        return retry('fcm', transportReason(err), elapsed());
      }
      const { status, text, retryAfter } = response;
      const json = parseJson(text);
      if (status === 200) {
        const name = (json as { name?: unknown } | undefined)?.name;
        return typeof name === 'string'
          ? { status: 'sent', provider: 'fcm', providerId: name, latencyMs: elapsed() }
          : { status: 'sent', provider: 'fcm', latencyMs: elapsed() };
      }
      const code = fcmErrorCode(json, status);
      // UNREGISTERED (404): the app was uninstalled or the token expired. firebase-admin treats a
      // bare NOT_FOUND the same way.
      if (code === 'UNREGISTERED' || (status === 404 && code === 'NOT_FOUND')) {
        return { status: 'unregistered', provider: 'fcm', reason: code, latencyMs: elapsed() };
      }
      // 401 UNAUTHENTICATED: our access token was refused (revoked, or expired early). Fetch a
      // new one and send once more. THIRD_PARTY_AUTH_ERROR (also 401) is the app's APNs/web-push
      // credential in the Firebase project: a new token would not help.
      if (status === 401 && code !== 'THIRD_PARTY_AUTH_ERROR' && !reauthenticated) {
        reauthenticated = true;
        tokens.invalidate(accessToken);
        continue;
      }
      if (RETRYABLE.has(code) || status === 429 || status >= 500) {
        return retry('fcm', code, elapsed(), parseRetryAfter(retryAfter, now()));
      }
      if (
        code === 'SENDER_ID_MISMATCH' ||
        code === 'THIRD_PARTY_AUTH_ERROR' ||
        code === 'PERMISSION_DENIED'
      ) {
        logger?.error(
          { provider: 'fcm', reason: code, appId: target.appId },
          'fcm refused the project credentials',
        );
      }
      return failed(code);
    }
  }

  return {
    send: loggedSend(logger, deliver),
    async close() {
      closed = true;
      if (ownDispatcher) await dispatcher.close();
    },
  };
}
