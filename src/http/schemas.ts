/**
 * The device API's bodies (../../shared/api/device-api.md) as zod schemas: the same objects
 * validate requests and produce the OpenAPI document.
 */
import { z } from 'zod';

const contentPolicy = z.enum(['full', 'badge', 'silent']);

export const errorBody = z
  .object({
    error: z.looseObject({
      code: z.string().describe('Stable snake_case error code (docs/errors.md)'),
      message: z.string(),
    }),
  })
  .describe('Error');

export const aliveResponse = z.object({ status: z.literal('ok'), version: z.string() });

export const publicKeyResponse = z.object({
  keyId: z.string(),
  alg: z.literal('RSA-OAEP-256'),
  enc: z.literal('A256GCM'),
  jwk: z.looseObject({ kty: z.literal('RSA'), n: z.string(), e: z.string() }),
});

// At most 2048: APNs tokens are 64 hex digits, FCM tokens about 160 characters, and the token is
// part of a unique index, whose entries PostgreSQL limits to 2704 bytes (a longer one was a 500).
const pushToken = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^[A-Za-z0-9_:.-]+$/, 'pushToken must be an APNs hex token or an FCM registration token');

export const createRegistrationBody = z
  .strictObject({
    device: z.strictObject({
      platform: z.enum(['ios', 'android']),
      pushToken,
      appId: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'appId must be a bundle id or package name'),
      environment: z.enum(['production', 'sandbox']).optional(),
    }),
    account: z.strictObject({
      email: z.email().max(320),
      provider: z.enum(['ews', 'graph']).optional(),
      ewsUrl: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional(),
      credentials: z
        .string()
        .min(1)
        .max(65536)
        .describe(
          'Compact JWE (RSA-OAEP-256 + A256GCM) to the tenant key; not needed for Graph with app-only access',
        )
        .optional(),
    }),
    notification: z.strictObject({ content: contentPolicy }).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.device.platform === 'ios' && !/^[0-9a-fA-F]{32,200}$/.test(body.device.pushToken)) {
      ctx.addIssue({
        code: 'custom',
        path: ['device', 'pushToken'],
        message: 'an APNs device token is hexadecimal',
      });
    }
  });

export const createRegistrationResponse = z.object({
  registrationId: z.string(),
  state: z.literal('active'),
  statusFrequencyMinutes: z.number().int(),
});

// Registration ids are base64url; anything else (a NUL byte, which PostgreSQL refuses in text,
// was a 500) cannot name one.
export const registrationParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, 'a registration id is base64url'),
});

export const checkinBody = z
  .strictObject({ account: z.strictObject({ credentials: z.string().min(1).max(65536) }).optional() })
  .nullish()
  .describe('Optional: fresh credentials');

export const checkinResponse = z.object({ state: z.enum(['active', 'resubscribed', 'needs_credentials']) });
