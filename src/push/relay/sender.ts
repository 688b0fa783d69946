/**
 * The relay sender: for deployments whose network cannot reach Apple or Google, each push is
 * POSTed, signed, to a relay that can (the role of ENS2's Cloud Notification Service). The body
 * carries the exact provider wire form, so the relay only forwards it and adds credentials.
 */
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { Logger } from '../../log/index.ts';
import { apnsRequest } from '../apns/payload.ts';
import { loggedSend, parseRetryAfter, retry, since } from '../common.ts';
import { fcmMessage } from '../fcm/message.ts';
import { createDispatcher, type PostedResponse, parseJson, post, transportReason } from '../http.ts';
import type { PushNotification, PushResult, PushSender, PushTarget } from '../types.ts';
import { RELAY_SIGNATURE_HEADER, RELAY_TIMESTAMP_HEADER, signRelayBody } from './signature.ts';

export const RELAY_PROTOCOL_VERSION = 1;

export interface RelaySenderOptions {
  /** The relay's URL (https in production). */
  url: string;
  /** Shared HMAC secret (at least 32 characters). */
  secret: string;
  ca?: readonly string[];
  proxyUrl?: string;
  /** A shared undici dispatcher (not closed by the sender). */
  dispatcher?: Dispatcher;
  /** One HTTP exchange; default 10 s. */
  timeoutMs?: number;
  logger?: Logger;
  /** Epoch ms (signature timestamp, expiry); tests inject a clock. */
  now?: () => number;
}

/** What Herald POSTs to a relay (docs/push.md documents it for relay implementers). */
export interface RelayRequestBody {
  version: 1;
  /** A fresh UUID per push (also the apns-id): log it, and ignore a repeat if you see one. */
  id: string;
  platform: 'ios' | 'android';
  appId: string;
  environment: 'production' | 'sandbox';
  token: string;
  apns?: { headers: Record<string, string>; payload: string };
  fcm?: { message: object };
}

export function relayRequestBody(
  target: PushTarget,
  n: PushNotification,
  opts: { id: string; now: number },
): RelayRequestBody {
  const body: RelayRequestBody = {
    version: RELAY_PROTOCOL_VERSION,
    id: opts.id,
    platform: target.platform,
    appId: target.appId,
    environment: target.environment,
    token: target.token,
  };
  if (target.platform === 'ios')
    body.apns = apnsRequest(n, { topic: target.appId, now: opts.now, id: opts.id });
  else body.fcm = { message: fcmMessage(target.token, n, { now: opts.now }) };
  return body;
}

function reasonOf(json: unknown, status: number): string {
  const record = json as { reason?: unknown; error?: unknown } | undefined;
  if (typeof record?.reason === 'string' && record.reason !== '') return record.reason;
  if (typeof record?.error === 'string' && record.error !== '') return record.error;
  return `HTTP ${status}`;
}

export function createRelaySender(options: RelaySenderOptions): PushSender {
  const { logger, secret } = options;
  const url = new URL(options.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('relay url must be http(s)');
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ownDispatcher = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    createDispatcher({
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.proxyUrl ? { proxyUrl: options.proxyUrl } : {}),
    });
  let closed = false;

  async function deliver(target: PushTarget, n: PushNotification, start: number): Promise<PushResult> {
    const elapsed = () => since(start);
    if (closed) return retry('relay', 'sender_closed', elapsed());
    const at = now();
    if (n.expiresAt !== undefined && n.expiresAt <= at) {
      return { status: 'failed', provider: 'relay', reason: 'expired', latencyMs: elapsed() };
    }
    const body = JSON.stringify(relayRequestBody(target, n, { id: randomUUID(), now: at }));
    const timestamp = Math.floor(at / 1000);
    let response: PostedResponse;
    try {
      response = await post(url, {
        headers: {
          'content-type': 'application/json; charset=utf-8',
          accept: 'application/json',
          [RELAY_TIMESTAMP_HEADER]: String(timestamp),
          [RELAY_SIGNATURE_HEADER]: signRelayBody(secret, timestamp, body),
        },
        body,
        dispatcher,
        timeoutMs,
      });
    } catch (err) {
      return retry('relay', transportReason(err), elapsed());
    }
    const { status, text, retryAfter } = response;
    const json = parseJson(text);
    if (status >= 200 && status < 300) {
      const id = (json as { id?: unknown } | undefined)?.id;
      return typeof id === 'string'
        ? { status: 'sent', provider: 'relay', providerId: id, latencyMs: elapsed() }
        : { status: 'sent', provider: 'relay', latencyMs: elapsed() };
    }
    const reason = reasonOf(json, status);
    if (status === 410) return { status: 'unregistered', provider: 'relay', reason, latencyMs: elapsed() };
    if (status === 429 || status >= 500)
      return retry('relay', reason, elapsed(), parseRetryAfter(retryAfter, at));
    if (status === 401 || status === 403) {
      logger?.error({ provider: 'relay', reason, httpStatus: status }, 'relay refused the request signature');
    }
    return { status: 'failed', provider: 'relay', reason, latencyMs: elapsed() };
  }

  return {
    send: loggedSend(logger, deliver),
    async close() {
      closed = true;
      if (ownDispatcher) await dispatcher.close();
    },
  };
}
