/**
 * Signing of relay requests: `Herald-Timestamp: <unix seconds>` and
 * `Herald-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. The timestamp is signed
 * with the body, so a captured request cannot be replayed after the tolerance window (the scheme
 * Stripe and Slack use for webhooks). Several `v1=` values may be sent, comma-separated, while a
 * secret is rotated; one match is enough.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const RELAY_TIMESTAMP_HEADER = 'herald-timestamp';
export const RELAY_SIGNATURE_HEADER = 'herald-signature';
export const DEFAULT_RELAY_TOLERANCE_SECONDS = 300;

function mac(secret: string, timestamp: string, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body).digest();
}

/** The `Herald-Signature` value for `body` sent at `timestamp` (unix seconds). */
export function signRelayBody(secret: string, timestamp: number, body: string | Uint8Array): string {
  return `v1=${mac(secret, String(timestamp), body).toString('hex')}`;
}

export interface VerifyRelaySignatureInput {
  secret: string;
  /** The Herald-Timestamp header. */
  timestamp: string | number | undefined;
  /** The Herald-Signature header. */
  signature: string | undefined;
  /** The raw request body, exactly as received (not re-serialised JSON). */
  body: string | Uint8Array;
  /** Epoch ms; default Date.now(). */
  now?: number;
  /** Largest accepted clock difference, either way; default 300 s. */
  toleranceSeconds?: number;
}

/** True when the request was signed with `secret` within the tolerance window. */
export function verifyRelaySignature(input: VerifyRelaySignatureInput): boolean {
  const timestamp = String(input.timestamp ?? '').trim();
  if (!/^\d{1,12}$/.test(timestamp) || typeof input.signature !== 'string') return false;
  const tolerance = input.toleranceSeconds ?? DEFAULT_RELAY_TOLERANCE_SECONDS;
  const nowSeconds = (input.now ?? Date.now()) / 1000;
  if (Math.abs(nowSeconds - Number(timestamp)) > tolerance) return false;
  const expected = mac(input.secret, timestamp, input.body);
  let match = false;
  for (const part of input.signature.split(',')) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme !== 'v1' || value === undefined || !/^[0-9a-fA-F]{64}$/.test(value)) continue;
    // Constant time: no early exit on the first differing byte (and every candidate is checked).
    if (timingSafeEqual(Buffer.from(value, 'hex'), expected)) match = true;
  }
  return match;
}
