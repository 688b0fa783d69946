/**
 * The FCM HTTP v1 `message` for a notification (Firebase, "REST Resource:
 * projects.messages"): a data-only message whose values are strings, as the device contract
 * says (/work/shared/api/device-api.md): the app builds its own notification from `sender`,
 * `subject` and `unread`, which also lets it honour its own settings.
 */
import { shortenToFit, utf8Bytes } from '../text.ts';
import type { PushNotification } from '../types.ts';

/** Firebase: a message's payload may be at most 4000 bytes. Measured here on the JSON of `data`. */
export const FCM_MAX_DATA_BYTES = 4000;

export interface FcmMessage {
  token: string;
  data: Record<string, string>;
  android: { priority: 'high' | 'normal'; ttl?: string; collapse_key?: string };
}

function dataFor(n: PushNotification, sender?: string, subject?: string): Record<string, string> {
  const data: Record<string, string> = { type: n.type, registrationId: n.registrationId };
  if (n.itemId !== undefined) data.itemId = n.itemId;
  if (sender !== undefined) data.sender = sender;
  if (subject !== undefined) data.subject = subject;
  if (n.badge !== undefined) data.unread = String(n.badge);
  return data;
}

const fits = (data: Record<string, string>) => utf8Bytes(JSON.stringify(data)) <= FCM_MAX_DATA_BYTES;

/** `data`, its subject (then its sender) cut on a grapheme boundary if the whole is too large. */
function fittedData(n: PushNotification): Record<string, string> {
  if (!n.alert) return dataFor(n);
  const { title, body } = n.alert;
  const full = dataFor(n, title, body);
  if (fits(full)) return full;
  const subject = shortenToFit(body, (c) => fits(dataFor(n, title, c)), FCM_MAX_DATA_BYTES);
  if (subject !== '' || fits(dataFor(n, title, ''))) return dataFor(n, title, subject);
  return dataFor(
    n,
    shortenToFit(title, (c) => fits(dataFor(n, c, '')), FCM_MAX_DATA_BYTES),
    '',
  );
}

export function fcmMessage(token: string, n: PushNotification, opts: { now?: number } = {}): FcmMessage {
  // High priority wakes the device from Doze: for what the user sees and for a check-in request
  // (its subscription needs repair); badge updates and silent pushes can wait.
  const android: FcmMessage['android'] = {
    priority: n.alert !== undefined || n.type === 'checkin' ? 'high' : 'normal',
  };
  if (n.expiresAt !== undefined) {
    const now = opts.now ?? Date.now();
    // google.protobuf.Duration in JSON: seconds with an "s" suffix; 0 = deliver now or never.
    android.ttl = `${Math.max(0, Math.ceil((n.expiresAt - now) / 1000))}s`;
  }
  if (n.collapseId !== undefined) android.collapse_key = n.collapseId;
  return { token, data: fittedData(n), android };
}
