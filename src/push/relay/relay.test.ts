/**
 * The relay: signing and verifying (the recipe a relay implementer follows), and the sender
 * against a small HTTPS relay in the test that checks every signature with verifyRelaySignature.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { selfSignedIdentity } from '../../sim/tls.ts';
import { apnsRequest } from '../apns/payload.ts';
import { fcmMessage } from '../fcm/message.ts';
import { captureLogger, deviceToken } from '../testkit.ts';
import type { PushNotification, PushTarget } from '../types.ts';
import { createRelaySender, type RelayRequestBody } from './sender.ts';
import { signRelayBody, verifyRelaySignature } from './signature.ts';

const SECRET = 'relay-secret-0123456789-abcdefghijklmnop';
const now = Date.UTC(2030, 0, 1, 12);
const ts = Math.floor(now / 1000);

test('signature/round trip: v1=hex HMAC-SHA256 over "timestamp.body"', () => {
  const body = '{"version":1}';
  const signature = signRelayBody(SECRET, ts, body);
  assert.match(signature, /^v1=[0-9a-f]{64}$/);
  assert.equal(verifyRelaySignature({ secret: SECRET, timestamp: String(ts), signature, body, now }), true);
  assert.equal(
    verifyRelaySignature({ secret: SECRET, timestamp: ts, signature, body: Buffer.from(body), now }),
    true,
    'raw bytes work as well as text',
  );
});

test('signature/refused: tampered body, other secret, other timestamp, malformed header', () => {
  const body = '{"version":1,"token":"a"}';
  const signature = signRelayBody(SECRET, ts, body);
  const ok = { secret: SECRET, timestamp: String(ts), signature, body, now };
  assert.equal(verifyRelaySignature({ ...ok, body: body.replace('"a"', '"b"') }), false);
  assert.equal(verifyRelaySignature({ ...ok, secret: `${SECRET}x` }), false);
  assert.equal(verifyRelaySignature({ ...ok, timestamp: String(ts + 1) }), false, 'the timestamp is signed');
  assert.equal(verifyRelaySignature({ ...ok, signature: signature.replace('v1=', 'v2=') }), false);
  assert.equal(verifyRelaySignature({ ...ok, signature: 'v1=abc' }), false);
  assert.equal(verifyRelaySignature({ ...ok, signature: undefined }), false);
  assert.equal(verifyRelaySignature({ ...ok, timestamp: undefined }), false);
  assert.equal(verifyRelaySignature({ ...ok, timestamp: '12ab' }), false);
});

test('signature/window: ±300 s by default, configurable', () => {
  const body = 'x';
  const signature = signRelayBody(SECRET, ts, body);
  const at = (seconds: number, toleranceSeconds?: number) =>
    verifyRelaySignature({
      secret: SECRET,
      timestamp: ts,
      signature,
      body,
      now: now + seconds * 1000,
      ...(toleranceSeconds === undefined ? {} : { toleranceSeconds }),
    });
  assert.equal(at(300), true);
  assert.equal(at(301), false, 'a replay after the window');
  assert.equal(at(-300), true);
  assert.equal(at(-301), false, 'too far in the future');
  assert.equal(at(30, 10), false);
});

test('signature/rotation: several v1 values, one of them right', () => {
  const body = 'x';
  const signature = `${signRelayBody('old-secret-old-secret-old-secret-00', ts, body)}, ${signRelayBody(SECRET, ts, body)}`;
  assert.equal(verifyRelaySignature({ secret: SECRET, timestamp: ts, signature, body, now }), true);
});

// --- the sender against a relay ---------------------------------------------------------------

interface Seen {
  body: RelayRequestBody;
  verified: boolean;
  headers: Record<string, string | string[] | undefined>;
}

let server: Server;
let url: string;
let ca: string;
const seen: Seen[] = [];

/** The relay's answer, chosen by the device token (the test's way to script the relay). */
const answers: Record<string, { status: number; headers?: Record<string, string>; body?: unknown } | 'hang'> =
  {};

before(async () => {
  const identity = await selfSignedIdentity();
  ca = identity.cert;
  server = createServer({ cert: identity.cert, key: identity.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      // What a relay does first: check the signature over the raw bytes.
      const verified = verifyRelaySignature({
        secret: SECRET,
        timestamp: req.headers['herald-timestamp'] as string | undefined,
        signature: req.headers['herald-signature'] as string | undefined,
        body: raw,
      });
      const body = JSON.parse(raw.toString('utf8')) as RelayRequestBody;
      seen.push({ body, verified, headers: req.headers });
      if (!verified) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad_signature"}');
        return;
      }
      const answer = answers[body.token] ?? { status: 200, body: { id: `relay-${body.id}` } };
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const ios = (token: string): PushTarget => ({
  platform: 'ios',
  token,
  appId: 'com.example.mail',
  environment: 'sandbox',
});
const android = (token: string): PushTarget => ({
  ...ios(token),
  platform: 'android',
  environment: 'production',
});
const n: PushNotification = {
  type: 'new_mail',
  registrationId: 'reg-1',
  itemId: 'item-1',
  alert: { title: 'Alice', body: 'Hello' },
  badge: 1,
  collapseId: 'c',
  expiresAt: Date.now() + 3_600_000,
};

test('relay/send: signed, verified by the relay; the exact APNs and FCM wire forms inside', async () => {
  const t0 = Date.now();
  const sender = createRelaySender({ url, secret: SECRET, ca: [ca], now: () => t0 });
  try {
    const iosToken = deviceToken();
    const a = await sender.send(ios(iosToken), n);
    const b = await sender.send(android('fcm-token-0123456789'), n);
    assert.equal(a.status, 'sent');
    assert.equal(b.status, 'sent');
    const [first, second] = seen.slice(-2);
    assert.ok(first!.verified && second!.verified);
    assert.equal(a.status === 'sent' && a.providerId, `relay-${first!.body.id}`);
    assert.match(first!.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(first!.headers['herald-timestamp'], String(Math.floor(t0 / 1000)));
    assert.deepEqual(Object.keys(first!.body), [
      'version',
      'id',
      'platform',
      'appId',
      'environment',
      'token',
      'apns',
    ]);
    assert.deepEqual(
      { ...first!.body, apns: undefined },
      {
        version: 1,
        id: first!.body.id,
        platform: 'ios',
        appId: 'com.example.mail',
        environment: 'sandbox',
        token: iosToken,
        apns: undefined,
      },
    );
    assert.deepEqual(
      first!.body.apns,
      apnsRequest(n, { topic: 'com.example.mail', now: t0, id: first!.body.id }),
    );
    assert.deepEqual(second!.body.fcm, { message: fcmMessage('fcm-token-0123456789', n, { now: t0 }) });
    assert.equal(second!.body.apns, undefined);
  } finally {
    await sender.close();
  }
});

test('relay/answers: 410 → unregistered; 429/503 → retry (Retry-After); other 4xx → failed; each sent once', async () => {
  answers.gone = { status: 410, body: { reason: 'Unregistered' } };
  answers.busy = { status: 429, headers: { 'retry-after': '60' }, body: { reason: 'TooManyRequests' } };
  answers.down = { status: 503 };
  answers.bad = { status: 400, body: { reason: 'BadDeviceToken-ish' } };
  const sender = createRelaySender({ url, secret: SECRET, ca: [ca] });
  try {
    const before = seen.length;
    const results = await Promise.all(['gone', 'busy', 'down', 'bad'].map((t) => sender.send(ios(t), n)));
    assert.deepEqual(
      results.map((r) => [
        r.status,
        r.status === 'sent' ? '' : r.reason,
        r.status === 'retry' ? r.retryAfterMs : null,
      ]),
      [
        ['unregistered', 'Unregistered', null],
        ['retry', 'TooManyRequests', 60_000],
        ['retry', 'HTTP 503', undefined],
        ['failed', 'BadDeviceToken-ish', null],
      ],
    );
    assert.equal(seen.length - before, 4, 'no request sent twice');
  } finally {
    await sender.close();
  }
});

test('relay/wrong secret: the relay refuses the signature → failed (logged as such)', async () => {
  const { logger, text } = captureLogger();
  const sender = createRelaySender({ url, secret: `${SECRET}-wrong`, ca: [ca], logger });
  try {
    const result = await sender.send(ios(deviceToken()), n);
    assert.equal(result.status === 'failed' && result.reason, 'bad_signature');
    assert.equal(seen.at(-1)!.verified, false);
    assert.match(text(), /relay refused the request signature/);
    assert.equal(text().includes(SECRET), false);
    assert.equal(text().includes('Hello'), false);
  } finally {
    await sender.close();
  }
});

test('relay/timeout and unreachable → retry', async () => {
  answers.hang = 'hang';
  const sender = createRelaySender({ url, secret: SECRET, ca: [ca], timeoutMs: 200 });
  const nowhere = createRelaySender({ url: 'https://127.0.0.1:9/push', secret: SECRET, ca: [ca] });
  try {
    const slow = await sender.send(ios('hang'), n);
    assert.deepEqual([slow.status, slow.status === 'retry' && slow.reason], ['retry', 'timeout']);
    const down = await nowhere.send(ios(deviceToken()), n);
    assert.deepEqual(
      [down.status, down.status === 'retry' && down.reason],
      ['retry', 'network:ECONNREFUSED'],
    );
  } finally {
    await sender.close();
    await nowhere.close();
  }
});
