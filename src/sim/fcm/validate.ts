/**
 * Checks a `messages:send` body the way FCM does, in two layers:
 *
 * - the JSON/proto layer of Google's API front end: unknown field names ("Invalid JSON payload
 *   received. Unknown name ..."), wrong JSON types ("Invalid value at 'message.data[0].value'
 *   (TYPE_STRING), 12"), bad enum or Duration values, two targets of the `target` oneof. These
 *   answers carry a google.rpc.BadRequest detail and no FcmError. Proto3 JSON accepts both the
 *   lowerCamelCase and the original snake_case field names, and null as "not set".
 * - FCM's own rules: a target is required, the registration token's format, reserved data keys,
 *   the TTL range, the payload size (4096 bytes of keys and values; 2048 for topic and condition
 *   messages). These carry FcmError INVALID_ARGUMENT.
 */
import { type ApiError, invalidArgument, parseError } from './errors.ts';

const MESSAGE_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.Message';
const TYPES: Record<string, string> = {
  notification: 'type.googleapis.com/google.firebase.fcm.v1.Notification',
  android: 'type.googleapis.com/google.firebase.fcm.v1.AndroidConfig',
  webpush: 'type.googleapis.com/google.firebase.fcm.v1.WebpushConfig',
  apns: 'type.googleapis.com/google.firebase.fcm.v1.ApnsConfig',
  fcm_options: 'type.googleapis.com/google.firebase.fcm.v1.FcmOptions',
  'android.notification': 'type.googleapis.com/google.firebase.fcm.v1.AndroidNotification',
  'android.fcm_options': 'type.googleapis.com/google.firebase.fcm.v1.AndroidFcmOptions',
};

/** Proto field name → the names proto3 JSON accepts for it. */
function names(...fields: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const field of fields) {
    map.set(field, field);
    map.set(
      field.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
      field,
    );
  }
  return map;
}

const REQUEST_FIELDS = names('validate_only', 'message');
const MESSAGE_FIELDS = names(
  'name',
  'data',
  'notification',
  'android',
  'webpush',
  'apns',
  'fcm_options',
  'token',
  'topic',
  'condition',
);
const NOTIFICATION_FIELDS = names('title', 'body', 'image');
const ANDROID_FIELDS = names(
  'collapse_key',
  'priority',
  'ttl',
  'restricted_package_name',
  'data',
  'notification',
  'fcm_options',
  'direct_boot_ok',
  'bandwidth_constrained_ok',
  'restricted_satellite_ok',
);

/** Registration tokens are opaque; this is the alphabet and length FCM's tokens use. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_:-]{16,4096}$/;
const TOPIC_PATTERN = /^[a-zA-Z0-9\-_.~%]{1,900}$/;
const DURATION_PATTERN = /^-?\d{1,12}(\.\d{1,9})?s$/;
const MAX_TTL_SECONDS = 2_419_200;
export const MAX_PAYLOAD_BYTES = 4096;
export const MAX_TOPIC_PAYLOAD_BYTES = 2048;
const MAX_DEPTH = 100;

export interface ValidMessage {
  validateOnly: boolean;
  token: string | undefined;
  topic: string | undefined;
  condition: string | undefined;
}

type Json = Record<string, unknown>;

class Reject extends Error {
  readonly error: ApiError;
  constructor(error: ApiError) {
    super(error.body.error.message);
    this.error = error;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function invalidValue(path: string, type: string, value: unknown): Reject {
  const description = `Invalid value at '${path}' (${type}), ${shown(value)}`;
  return new Reject(parseError(description, path));
}

/** Reject names the proto does not know; return a view keyed by proto field names. */
function fields(object: Json, known: Map<string, string>, path: string | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [key, value] of Object.entries(object)) {
    const field = known.get(key);
    if (field === undefined) {
      const description =
        path === undefined
          ? `Invalid JSON payload received. Unknown name ${JSON.stringify(key)}: Cannot find field.`
          : `Invalid JSON payload received. Unknown name ${JSON.stringify(key)} at '${path}': Cannot find field.`;
      throw new Reject(parseError(description, path));
    }
    if (value !== null && out.has(field)) {
      const description = `Invalid JSON payload received. Duplicate field ${JSON.stringify(key)}${path === undefined ? '' : ` at '${path}'`}.`;
      throw new Reject(parseError(description, path));
    }
    if (value !== null) out.set(field, value);
  }
  return out;
}

function string(value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidValue(path, 'TYPE_STRING', value);
  return value;
}

function bool(value: unknown, path: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalidValue(path, 'TYPE_BOOL', value);
  return value;
}

function object(value: unknown, path: string, type: string): Json | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw invalidValue(path, type, value);
  return value;
}

function isReservedDataKey(key: string): boolean {
  const lower = key.toLowerCase();
  return (
    lower === 'from' ||
    lower === 'message_type' ||
    lower === 'gcm' ||
    lower === 'google' ||
    lower.startsWith('google.') ||
    lower.startsWith('gcm.')
  );
}

/** map<string, string>: every value a string, no key FCM reserves. */
function dataMap(value: unknown, path: string): Json | undefined {
  const map = object(value, path, `type.googleapis.com/google.firebase.fcm.v1.Message.DataEntry`);
  if (!map) return undefined;
  Object.entries(map).forEach(([key, entry], index) => {
    if (typeof entry !== 'string') throw invalidValue(`${path}[${index}].value`, 'TYPE_STRING', entry);
    if (isReservedDataKey(key)) {
      throw new Reject(
        invalidArgument(
          `Invalid data payload key: ${shown(key)} is reserved by FCM (from, message_type, gcm, google and keys starting with "google." or "gcm.")`,
          path,
        ),
      );
    }
  });
  return map;
}

function priority(value: unknown, path: string): void {
  if (value === undefined) return;
  const ok =
    (typeof value === 'string' && ['NORMAL', 'HIGH'].includes(value.toUpperCase())) ||
    value === 0 ||
    value === 1;
  if (!ok)
    throw invalidValue(path, 'type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority', value);
}

function ttl(value: unknown, path: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !DURATION_PATTERN.test(value)) {
    throw invalidValue(path, 'type.googleapis.com/google.protobuf.Duration', value);
  }
  const seconds = Number(value.slice(0, -1));
  if (seconds < 0 || seconds > MAX_TTL_SECONDS) {
    throw new Reject(
      invalidArgument(`TTL must be between 0 and ${MAX_TTL_SECONDS} seconds (4 weeks), not ${value}`, path),
    );
  }
}

/** Bytes FCM counts against the payload limit: keys and values of data and notification fields. */
function payloadBytes(...parts: Array<Json | undefined>): number {
  let total = 0;
  const stack: unknown[] = parts.filter((p) => p !== undefined);
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) stack.push(...value);
    else if (isObject(value)) {
      for (const [key, child] of Object.entries(value)) {
        total += Buffer.byteLength(key);
        stack.push(child);
      }
    } else if (typeof value === 'string') total += Buffer.byteLength(value);
    else if (typeof value === 'number' || typeof value === 'boolean') total += String(value).length;
  }
  return total;
}

/** Nesting depth over `max`? (Iterative: hostile bodies must not blow the stack later.) */
export function tooDeep(value: unknown, max = MAX_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (depth > max) return true;
    if (typeof current === 'object' && current !== null) {
      for (const child of Object.values(current)) {
        if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
      }
    }
  }
  return false;
}

function check(body: unknown): ValidMessage {
  if (!isObject(body)) {
    throw new Reject(
      parseError('Invalid JSON payload received. Unknown name "": Root element must be a message.'),
    );
  }
  const request = fields(body, REQUEST_FIELDS, undefined);
  const validateOnly = bool(request.get('validate_only'), 'validate_only') ?? false;
  const message = object(request.get('message'), 'message', MESSAGE_TYPE);
  if (!message) throw new Reject(invalidArgument('Recipient of the message is not set.', 'message'));

  // Targets, in the order the JSON parser meets them: a second one breaks the oneof.
  let target: 'token' | 'topic' | 'condition' | undefined;
  for (const [key, value] of Object.entries(message)) {
    const field = MESSAGE_FIELDS.get(key);
    if (value === null || (field !== 'token' && field !== 'topic' && field !== 'condition')) continue;
    if (target !== undefined) {
      throw new Reject(
        parseError(
          `Invalid JSON payload received. Oneof field 'target' is already set. Cannot set '${key}'`,
          'message',
        ),
      );
    }
    target = field;
  }
  const m = fields(message, MESSAGE_FIELDS, 'message');
  string(m.get('name'), 'message.name');
  const token = string(m.get('token'), 'message.token');
  const topic = string(m.get('topic'), 'message.topic');
  const condition = string(m.get('condition'), 'message.condition');
  const data = dataMap(m.get('data'), 'message.data');

  const notification = object(m.get('notification'), 'message.notification', TYPES.notification!);
  if (notification) {
    const n = fields(notification, NOTIFICATION_FIELDS, 'message.notification');
    for (const [field, value] of n) string(value, `message.notification.${field}`);
  }

  const android = object(m.get('android'), 'message.android', TYPES.android!);
  let androidData: Json | undefined;
  let androidNotification: Json | undefined;
  if (android) {
    const a = fields(android, ANDROID_FIELDS, 'message.android');
    string(a.get('collapse_key'), 'message.android.collapse_key');
    string(a.get('restricted_package_name'), 'message.android.restricted_package_name');
    priority(a.get('priority'), 'message.android.priority');
    ttl(a.get('ttl'), 'message.android.ttl');
    androidData = dataMap(a.get('data'), 'message.android.data');
    androidNotification = object(
      a.get('notification'),
      'message.android.notification',
      TYPES['android.notification']!,
    );
    object(a.get('fcm_options'), 'message.android.fcm_options', TYPES['android.fcm_options']!);
    for (const field of ['direct_boot_ok', 'bandwidth_constrained_ok', 'restricted_satellite_ok']) {
      bool(a.get(field), `message.android.${field}`);
    }
  }
  object(m.get('webpush'), 'message.webpush', TYPES.webpush!);
  object(m.get('apns'), 'message.apns', TYPES.apns!);
  object(m.get('fcm_options'), 'message.fcm_options', TYPES.fcm_options!);

  if (target === undefined)
    throw new Reject(invalidArgument('Recipient of the message is not set.', 'message'));
  if (token !== undefined && !TOKEN_PATTERN.test(token)) {
    throw new Reject(invalidArgument('The registration token is not a valid FCM registration token'));
  }
  if (topic !== undefined && !TOPIC_PATTERN.test(topic.replace(/^\/topics\//, ''))) {
    throw new Reject(invalidArgument(`Invalid topic name ${shown(topic)}`, 'message.topic'));
  }
  if (condition !== undefined && condition.trim() === '') {
    throw new Reject(
      invalidArgument('Invalid condition expression: the condition is empty', 'message.condition'),
    );
  }

  const limit = token !== undefined ? MAX_PAYLOAD_BYTES : MAX_TOPIC_PAYLOAD_BYTES;
  const size = payloadBytes(androidData ?? data, notification, androidNotification);
  if (size > limit) {
    throw new Reject(
      invalidArgument(
        `Message is too big: the payload (data and notification keys and values) is ${size} bytes, over the limit of ${limit} bytes`,
        'message',
      ),
    );
  }
  return { validateOnly, token, topic, condition };
}

/** Validate a parsed send body: the fields to act on, or the error to answer with. */
export function validateSendBody(
  body: unknown,
): { ok: true; value: ValidMessage } | { ok: false; error: ApiError } {
  try {
    return { ok: true, value: check(body) };
  } catch (error) {
    if (error instanceof Reject) return { ok: false, error: error.error };
    throw error;
  }
}
