/**
 * The APNs wire form of a notification: request headers and JSON payload, as Apple's "Sending
 * notification requests to APNs" and "Generating a remote notification" describe them, shaped
 * by the device contract (/work/shared/api/device-api.md, "What the device receives").
 */
import { createHash } from 'node:crypto';
import { shortenToFit, utf8Bytes } from '../text.ts';
import type { PushNotification } from '../types.ts';

/** Apple: "For regular remote notifications, the maximum size is 4KB (4096 bytes)". */
export const APNS_MAX_PAYLOAD_BYTES = 4096;
/** Apple: apns-collapse-id "must not exceed 64 bytes". */
export const APNS_MAX_COLLAPSE_ID_BYTES = 64;

export interface ApnsRequestOptions {
  /** apns-topic: the app's bundle id. */
  topic: string;
  /** Epoch ms; a push whose expiresAt has passed gets apns-expiration 0 (try once, never store). */
  now?: number;
  /** apns-id (a canonical UUID); APNs generates one when absent. */
  id?: string;
}

export interface ApnsRequest {
  headers: Record<string, string>;
  payload: string;
}

/** Visible ASCII only: a header value can never carry CR/LF or bytes HTTP/2 would refuse. */
const PLAIN_HEADER_VALUE = /^[\x21-\x7E][\x20-\x7E]*$/;

/**
 * A collapse id APNs accepts. One that is too long or not plain ASCII is replaced by a digest of
 * itself: still the same for the same input, so pushes keep collapsing, and 45 bytes long.
 */
export function apnsCollapseId(collapseId: string): string {
  if (utf8Bytes(collapseId) <= APNS_MAX_COLLAPSE_ID_BYTES && PLAIN_HEADER_VALUE.test(collapseId)) {
    return collapseId;
  }
  return `h:${createHash('sha256').update(collapseId, 'utf8').digest('base64url')}`;
}

function heraldData(n: PushNotification): Record<string, string> {
  const data: Record<string, string> = { type: n.type, registrationId: n.registrationId };
  if (n.itemId !== undefined) data.itemId = n.itemId;
  return data;
}

function alertPayload(n: PushNotification, title: string, body: string): string {
  const aps: Record<string, unknown> = { alert: { title, body } };
  if (n.badge !== undefined) aps.badge = n.badge;
  aps.sound = 'default';
  // Lets a notification service extension rewrite the alert (e.g. fetch the real sender).
  aps['mutable-content'] = 1;
  return JSON.stringify({ aps, herald: heraldData(n) });
}

function fits(payload: string): boolean {
  return utf8Bytes(payload) <= APNS_MAX_PAYLOAD_BYTES;
}

/**
 * The alert payload, its body (then, if still needed, its title) cut on a grapheme boundary with
 * an ellipsis so the whole payload stays within 4096 bytes. If even an empty title and body
 * do not fit (absurd identifiers), the oversized payload is returned and the sender refuses it.
 */
function fittedAlertPayload(n: PushNotification, alert: { title: string; body: string }): string {
  const full = alertPayload(n, alert.title, alert.body);
  if (fits(full)) return full;
  const body = shortenToFit(
    alert.body,
    (candidate) => fits(alertPayload(n, alert.title, candidate)),
    APNS_MAX_PAYLOAD_BYTES,
  );
  if (body !== '' || fits(alertPayload(n, alert.title, ''))) return alertPayload(n, alert.title, body);
  const title = shortenToFit(
    alert.title,
    (candidate) => fits(alertPayload(n, candidate, '')),
    APNS_MAX_PAYLOAD_BYTES,
  );
  return alertPayload(n, title, '');
}

export function apnsRequest(n: PushNotification, opts: ApnsRequestOptions): ApnsRequest {
  let payload: string;
  let pushType: 'alert' | 'background';
  let priority: '10' | '5';
  if (n.alert !== undefined) {
    payload = fittedAlertPayload(n, n.alert);
    pushType = 'alert';
    priority = '10';
  } else if (n.badge !== undefined) {
    // Badge only: exactly {"aps": {"badge": n}}. Apple requires the alert push type for a badge
    // update; priority 5 is allowed because nothing is shown.
    payload = JSON.stringify({ aps: { badge: n.badge } });
    pushType = 'alert';
    priority = '5';
  } else {
    // Apple: background pushes must use apns-push-type background and priority 5.
    payload = JSON.stringify({ aps: { 'content-available': 1 }, herald: heraldData(n) });
    pushType = 'background';
    priority = '5';
  }
  const headers: Record<string, string> = {
    'apns-topic': opts.topic,
    'apns-push-type': pushType,
    'apns-priority': priority,
  };
  if (n.expiresAt !== undefined) {
    const expired = opts.now !== undefined && n.expiresAt <= opts.now;
    headers['apns-expiration'] = expired ? '0' : String(Math.max(0, Math.floor(n.expiresAt / 1000)));
  }
  if (n.collapseId !== undefined) headers['apns-collapse-id'] = apnsCollapseId(n.collapseId);
  if (opts.id !== undefined) headers['apns-id'] = opts.id;
  return { headers, payload };
}
