/**
 * The bodies Graph POSTs to Herald (changeNotificationCollection: `value[]` of changeNotification
 * and, for rich notifications, `validationTokens[]`), and the clientState check.
 *
 * Change items carry subscriptionId, clientState, changeType, resource, resourceData.id,
 * tenantId, subscriptionExpirationDateTime and, for rich notifications, encryptedContent.
 * Lifecycle items (learn.microsoft.com/graph/change-notifications-lifecycle-events) carry
 * lifecycleEvent: reauthorizationRequired | subscriptionRemoved | missed instead of changeType.
 * Both kinds may come in one collection. Hostile input gets a GraphNotificationError and
 * nothing else: sizes are bounded before parsing, every field's shape is checked.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { GraphNotificationError } from './errors.ts';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const MAX_ITEMS = 1000;
const MAX_TOKENS = 100;

const id = z.string().min(1).max(256);
const time = z
  .string()
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a date-time');
const b64 = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

export const encryptedContentSchema = z.object({
  data: b64(4 * 1024 * 1024),
  dataSignature: b64(128),
  dataKey: b64(2048),
  encryptionCertificateId: z.string().min(1).max(128),
  encryptionCertificateThumbprint: z
    .string()
    .regex(/^[0-9A-Fa-f]{40}$/)
    .optional(),
});
export type EncryptedContent = z.infer<typeof encryptedContentSchema>;

const changeSchema = z.object({
  subscriptionId: id,
  clientState: z.string().max(128).nullish(),
  changeType: z.enum(['created', 'updated', 'deleted']),
  resource: z.string().min(1).max(2048),
  resourceData: z.object({
    id: z.string().min(1).max(1024),
    '@odata.type': z.string().max(256).optional(),
    '@odata.id': z.string().max(2048).optional(),
    '@odata.etag': z.string().max(512).optional(),
  }),
  tenantId: id,
  subscriptionExpirationDateTime: time,
  encryptedContent: encryptedContentSchema.optional(),
});

const lifecycleSchema = z.object({
  subscriptionId: id,
  clientState: z.string().max(128).nullish(),
  lifecycleEvent: z.enum(['reauthorizationRequired', 'subscriptionRemoved', 'missed']),
  tenantId: id.optional(),
  organizationId: id.optional(),
  subscriptionExpirationDateTime: time.optional(),
});

const collectionSchema = z.object({
  value: z.array(z.record(z.string(), z.unknown())).min(1).max(MAX_ITEMS),
  validationTokens: z
    .array(
      z
        .string()
        .min(1)
        .max(16 * 1024),
    )
    .max(MAX_TOKENS)
    .optional(),
});

export interface ChangeNotification {
  subscriptionId: string;
  clientState: string | undefined;
  changeType: 'created' | 'updated' | 'deleted';
  resource: string;
  /** The message id (Graph REST id). */
  messageId: string;
  tenantId: string;
  subscriptionExpirationDateTime: Date;
  encryptedContent: EncryptedContent | undefined;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface LifecycleNotification {
  subscriptionId: string;
  clientState: string | undefined;
  lifecycleEvent: LifecycleEvent;
  /** tenantId, or organizationId where only that is sent. */
  tenantId: string | undefined;
  subscriptionExpirationDateTime: Date | undefined;
}

export interface NotificationCollection {
  changes: ChangeNotification[];
  lifecycle: LifecycleNotification[];
  /** JWTs to verify (present for rich notifications); see validation-tokens.ts. */
  validationTokens: string[];
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid';
}

function decode(body: unknown, maxBytes: number): unknown {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return body;
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  if (size > maxBytes) throw new GraphNotificationError('too_large', `the body is over ${maxBytes} bytes`);
  try {
    return JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch (cause) {
    throw new GraphNotificationError('invalid_json', 'the body is not JSON', cause);
  }
}

/**
 * Parse a notification POST body: the raw text/bytes (size-checked before parsing) or the value
 * a JSON body parser produced. Throws GraphNotificationError only.
 */
export function parseNotifications(
  body: unknown,
  options: { maxBytes?: number } = {},
): NotificationCollection {
  const json = decode(body, options.maxBytes ?? DEFAULT_MAX_BODY_BYTES);
  const collection = collectionSchema.safeParse(json);
  if (!collection.success) throw new GraphNotificationError('invalid_shape', describe(collection.error));
  const out: NotificationCollection = {
    changes: [],
    lifecycle: [],
    validationTokens: collection.data.validationTokens ?? [],
  };
  collection.data.value.forEach((item, i) => {
    if ('lifecycleEvent' in item) {
      const l = lifecycleSchema.safeParse(item);
      if (!l.success) throw new GraphNotificationError('invalid_shape', `value.${i}.${describe(l.error)}`);
      out.lifecycle.push({
        subscriptionId: l.data.subscriptionId,
        clientState: l.data.clientState ?? undefined,
        lifecycleEvent: l.data.lifecycleEvent,
        tenantId: l.data.tenantId ?? l.data.organizationId,
        subscriptionExpirationDateTime:
          l.data.subscriptionExpirationDateTime === undefined
            ? undefined
            : new Date(l.data.subscriptionExpirationDateTime),
      });
      return;
    }
    const c = changeSchema.safeParse(item);
    if (!c.success) throw new GraphNotificationError('invalid_shape', `value.${i}.${describe(c.error)}`);
    out.changes.push({
      subscriptionId: c.data.subscriptionId,
      clientState: c.data.clientState ?? undefined,
      changeType: c.data.changeType,
      resource: c.data.resource,
      messageId: c.data.resourceData.id,
      tenantId: c.data.tenantId,
      subscriptionExpirationDateTime: new Date(c.data.subscriptionExpirationDateTime),
      encryptedContent: c.data.encryptedContent,
    });
  });
  return out;
}

/** A fresh clientState: 32 random bytes, base64url (43 characters, within Graph's 128). */
export function newClientState(): string {
  return randomBytes(32).toString('base64url');
}

const HASH_PREFIX = { sha256: 'sha256:', hmac: 'hmac-sha256:' } as const;

function digest(clientState: string, key: Uint8Array | undefined): Buffer {
  return key
    ? createHmac('sha256', key).update(clientState, 'utf8').digest()
    : createHash('sha256').update(clientState, 'utf8').digest();
}

/**
 * What to store for a clientState: `hmac-sha256:<base64url>` with a server key (a pepper: the
 * database alone then cannot even confirm a guess), else `sha256:<base64url>`; a 256-bit random
 * clientState needs no slow hash.
 */
export function hashClientState(clientState: string, key?: Uint8Array): string {
  if (typeof clientState !== 'string' || !clientState)
    throw new TypeError('clientState must be a non-empty string');
  return (key ? HASH_PREFIX.hmac : HASH_PREFIX.sha256) + digest(clientState, key).toString('base64url');
}

/** Whether a notification's clientState matches the stored hash; constant time, never throws. */
export function checkClientState(storedHash: string, given: unknown, key?: Uint8Array): boolean {
  if (typeof storedHash !== 'string' || typeof given !== 'string' || !given || given.length > 128)
    return false;
  const prefix = key ? HASH_PREFIX.hmac : HASH_PREFIX.sha256;
  if (!storedHash.startsWith(prefix)) return false;
  const expected = Buffer.from(storedHash.slice(prefix.length), 'base64url');
  const actual = digest(given, key);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
