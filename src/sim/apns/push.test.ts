import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type ApnsSimulator, startApnsSimulator } from './index.ts';
import {
  closeSession,
  connect,
  deviceToken,
  type GeneratedKey,
  type PushOptions,
  providerToken,
  push,
} from './testkit.ts';

let sim: ApnsSimulator;
let key: GeneratedKey;
let jwt: string;
let session: http2.ClientHttp2Session;
let clock = Date.now();
const lines: string[] = [];

before(async () => {
  sim = await startApnsSimulator({ now: () => clock, log: (line) => lines.push(line) });
  key = sim.generateKey('TEAM000001', 'KEY0000001');
  jwt = await providerToken(key, { iat: Math.floor(clock / 1000) });
  session = connect(sim);
});
after(async () => {
  await closeSession(session);
  await sim.close();
});
beforeEach(() => {
  sim.clear();
  sim.clearFaults();
});

const send = (options: PushOptions = {}) => push(session, { jwt, ...options });

describe('accepted pushes', () => {
  test('a push is answered 200 with its apns-id and an empty body, and recorded with every header', async () => {
    const token = deviceToken();
    const apnsId = '123E4567-E89B-12D3-A456-4266554400A0';
    const payload = { aps: { alert: { title: 'New mail', body: 'from Alice' }, badge: 3 }, m: 'x1' };
    const result = await send({
      token,
      topic: 'com.example.mail',
      body: payload,
      headers: {
        'apns-id': apnsId,
        'apns-push-type': 'alert',
        'apns-priority': '5',
        'apns-expiration': '1893456000',
        'apns-collapse-id': 'inbox',
      },
    });
    assert.equal(result.status, 200);
    assert.equal(result.text, '');
    assert.equal(result.headers['apns-id'], apnsId);

    const [record, ...rest] = sim.received({ token });
    assert.equal(rest.length, 0);
    assert.ok(record);
    assert.deepEqual(
      { ...record, seq: 0, connectionId: 0 },
      {
        seq: 0,
        at: clock,
        apnsId,
        token,
        topic: 'com.example.mail',
        pushType: 'alert',
        priority: 5,
        expiration: 1893456000,
        collapseId: 'inbox',
        payload,
        payloadBytes: Buffer.byteLength(JSON.stringify(payload)),
        auth: {
          kind: 'token',
          keyId: 'KEY0000001',
          teamId: 'TEAM000001',
          issuedAt: Math.floor(clock / 1000),
        },
        status: 200,
        reason: undefined,
        connectionId: 0,
      },
    );
    assert.ok(record.seq > 0);
    assert.ok(record.connectionId > 0);
    assert.match(lines.join('\n'), /→ 200/);
  });

  test('without apns-id the answer carries a generated lowercase UUID', async () => {
    const result = await send();
    assert.equal(result.status, 200);
    assert.match(
      String(result.headers['apns-id']),
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    assert.equal(sim.received()[0]!.apnsId, result.headers['apns-id']);
  });

  test('optional headers absent are recorded as undefined; uppercase tokens are accepted lower-cased', async () => {
    const token = deviceToken().toUpperCase();
    const result = await send({ token });
    assert.equal(result.status, 200);
    const record = sim.received({ token })[0]!;
    assert.equal(record.token, token.toLowerCase());
    assert.equal(record.pushType, undefined);
    assert.equal(record.priority, undefined);
    assert.equal(record.expiration, undefined);
    assert.equal(record.collapseId, undefined);
  });

  test('boundaries that are still valid: 200-char token, 64-byte collapse id, expiration 0, 4096 bytes, voip 5120', async () => {
    const aps = (size: number) => {
      const base = JSON.stringify({ aps: { alert: '' } }).length;
      return JSON.stringify({ aps: { alert: 'x'.repeat(size - base) } });
    };
    const cases: PushOptions[] = [
      { token: deviceToken(100) },
      { headers: { 'apns-collapse-id': 'c'.repeat(64) } },
      { headers: { 'apns-expiration': '0' } },
      { body: aps(4096) },
      { body: aps(5120), topic: 'com.example.app.voip', headers: { 'apns-push-type': 'voip' } },
      { body: { aps: { 'content-available': 1 } }, headers: { 'apns-priority': '5' } },
      { body: { aps: { 'content-available': 1, alert: 'x' } }, headers: { 'apns-priority': '10' } },
      { body: { aps: { 'content-available': 1 } }, headers: { 'apns-push-type': 'background' } },
    ];
    for (const options of cases) {
      const result = await send(options);
      assert.equal(result.status, 200, `${JSON.stringify(options).slice(0, 200)}: ${result.text}`);
    }
    for (const type of ['alert', 'background', 'location', 'voip', 'complication', 'fileprovider', 'mdm']) {
      assert.equal((await send({ headers: { 'apns-push-type': type, 'apns-priority': '5' } })).status, 200);
    }
    for (const type of ['liveactivity', 'pushtotalk', 'widgets', 'controls']) {
      assert.equal((await send({ headers: { 'apns-push-type': type } })).status, 200);
    }
  });
});

describe("validation errors answer Apple's status and reason", () => {
  const big = (bytes: number) => `{"aps":{"alert":"${'x'.repeat(bytes - 20)}"}}`;
  const cases: Array<[string, PushOptions, number, string]> = [
    ['bad path', { path: '/3/devices/abc' }, 404, 'BadPath'],
    ['other API version', { path: `/2/device/${'a'.repeat(64)}` }, 404, 'BadPath'],
    ['GET', { method: 'GET' }, 405, 'MethodNotAllowed'],
    ['DELETE', { method: 'DELETE' }, 405, 'MethodNotAllowed'],
    ['no token', { path: '/3/device/' }, 400, 'MissingDeviceToken'],
    ['no token, no slash', { path: '/3/device' }, 400, 'MissingDeviceToken'],
    ['non-hex token', { token: 'z'.repeat(64) }, 400, 'BadDeviceToken'],
    ['odd-length token', { token: 'a'.repeat(65) }, 400, 'BadDeviceToken'],
    ['short token', { token: 'a'.repeat(62) }, 400, 'BadDeviceToken'],
    ['long token', { token: 'a'.repeat(202) }, 400, 'BadDeviceToken'],
    ['token with a slash', { path: `/3/device/${'a'.repeat(64)}/x` }, 400, 'BadDeviceToken'],
    ['duplicate apns-topic', { headers: { 'apns-topic': ['com.a', 'com.b'] } }, 400, 'DuplicateHeaders'],
    ['bad apns-id', { headers: { 'apns-id': 'not-a-uuid' } }, 400, 'BadMessageId'],
    ['bad push type', { headers: { 'apns-push-type': 'banner' } }, 400, 'InvalidPushType'],
    ['priority 7', { headers: { 'apns-priority': '7' } }, 400, 'BadPriority'],
    ['priority high', { headers: { 'apns-priority': 'high' } }, 400, 'BadPriority'],
    [
      'priority 10 for background',
      {
        body: { aps: { 'content-available': 1 } },
        headers: { 'apns-priority': '10', 'apns-push-type': 'background' },
      },
      400,
      'BadPriority',
    ],
    [
      'priority 10 for content-available only',
      { body: { aps: { 'content-available': 1 } }, headers: { 'apns-priority': '10' } },
      400,
      'BadPriority',
    ],
    ['negative expiration', { headers: { 'apns-expiration': '-1' } }, 400, 'BadExpirationDate'],
    ['fractional expiration', { headers: { 'apns-expiration': '1.5' } }, 400, 'BadExpirationDate'],
    ['date expiration', { headers: { 'apns-expiration': 'tomorrow' } }, 400, 'BadExpirationDate'],
    ['65-byte collapse id', { headers: { 'apns-collapse-id': 'c'.repeat(65) } }, 400, 'BadCollapseId'],
    ['66-byte (33 é) collapse id', { headers: { 'apns-collapse-id': 'é'.repeat(33) } }, 400, 'BadCollapseId'],
    ['no topic', { topic: null }, 400, 'MissingTopic'],
    ['malformed topic', { topic: 'com example' }, 400, 'BadTopic'],
    ['empty body', { body: '' }, 400, 'PayloadEmpty'],
    ['4097 bytes', { body: big(4097) }, 413, 'PayloadTooLarge'],
    [
      'voip 5121 bytes',
      { body: big(5121), topic: 'com.example.app.voip', headers: { 'apns-push-type': 'voip' } },
      413,
      'PayloadTooLarge',
    ],
    ['2 MB body', { body: 'x'.repeat(2 * 1024 * 1024) }, 413, 'PayloadTooLarge'],
    ['not JSON', { body: 'hello' }, 400, 'PayloadEmpty'],
    ['JSON array', { body: [{ aps: {} }] }, 400, 'PayloadEmpty'],
    ['no aps', { body: { alert: 'hi' } }, 400, 'PayloadEmpty'],
    ['aps not a dictionary', { body: { aps: 'hi' } }, 400, 'PayloadEmpty'],
  ];
  for (const [name, options, status, reason] of cases) {
    test(`${name} → ${status} ${reason}`, async () => {
      const result = await send(options);
      assert.equal(result.status, status, result.text);
      assert.deepEqual(result.json, { reason });
      assert.ok(result.headers['apns-id']);
      assert.equal(sim.received().length, 0);
      if (status !== 404) {
        const [record] = sim.requests();
        assert.equal(record?.status, status);
        assert.equal(record?.reason, reason);
      }
    });
  }

  test('requests() keeps the rejected ones, with what was parsed', async () => {
    const token = deviceToken();
    await send({ token, headers: { 'apns-priority': '7' }, body: { aps: { alert: 'x' } } });
    const [record] = sim.requests({ token });
    assert.equal(record?.priority, 7);
    assert.deepEqual(record?.payload, { aps: { alert: 'x' } });
    assert.equal(record?.reason, 'BadPriority');
  });

  test('an unparsable body is recorded as the raw string', async () => {
    await send({ body: 'hello' });
    assert.equal(sim.requests()[0]?.payload, 'hello');
  });
});

describe('device state', () => {
  test('unregister: 410 Unregistered with the timestamp of unregistration', async () => {
    const token = deviceToken();
    assert.equal((await send({ token })).status, 200);
    const at = clock;
    assert.equal(sim.unregister(token), at);
    clock += 5000;
    const result = await send({ token });
    assert.equal(result.status, 410);
    assert.deepEqual(result.json, { reason: 'Unregistered', timestamp: at });
    // registering again makes it reachable
    sim.registerDevice(token, 'com.example.app');
    assert.equal((await send({ token })).status, 200);
  });

  test('a token bound to a topic refuses other topics with DeviceTokenNotForTopic', async () => {
    const token = deviceToken();
    sim.registerDevice(token, 'com.example.mail');
    assert.equal((await send({ token, topic: 'com.example.mail' })).status, 200);
    const other = await send({ token, topic: 'com.example.other' });
    assert.equal(other.status, 400);
    assert.deepEqual(other.json, { reason: 'DeviceTokenNotForTopic' });
  });

  test('bad arguments throw', () => {
    assert.throws(() => sim.unregister('nope'), /device token/);
    assert.throws(() => sim.registerDevice(deviceToken(), 'not a topic'), /topic/);
    assert.throws(() => sim.fault(deviceToken(), { status: 404 } as never), /400, 410, 429, 500 or 503/);
    assert.throws(() => sim.fault(deviceToken(), { status: 400 } as never), /needs a reason/);
    assert.throws(() => sim.fault(deviceToken(), { status: 500, times: 0 }), /positive integer/);
    assert.throws(() => sim.goawayAfter(0), /positive integer/);
  });
});

describe('faults', () => {
  test('a fault with times answers that many requests, then the token works again', async () => {
    const token = deviceToken();
    sim.fault(token, { status: 500, times: 2 });
    assert.deepEqual(sim.faults(), [{ token, status: 500, reason: undefined, remaining: 2 }]);
    for (let i = 0; i < 2; i++) {
      const result = await send({ token });
      assert.equal(result.status, 500);
      assert.deepEqual(result.json, { reason: 'InternalServerError' });
    }
    assert.equal((await send({ token })).status, 200);
    assert.deepEqual(sim.faults(), []);
    assert.equal(sim.received({ token }).length, 1);
    assert.equal(sim.requests({ token }).length, 3);
  });

  test('default reasons: 429 TooManyRequests, 503 ServiceUnavailable, 410 Unregistered (with timestamp)', async () => {
    const token = deviceToken();
    sim.fault(token, { status: 429 });
    assert.deepEqual((await send({ token })).json, { reason: 'TooManyRequests' });
    assert.deepEqual((await send({ token })).json, { reason: 'TooManyRequests' }, 'no times: until cleared');
    sim.fault(token, { status: 503, times: 1 });
    assert.deepEqual((await send({ token })).json, { reason: 'ServiceUnavailable' });
    sim.fault(token, { status: 410, reason: 'ExpiredToken', times: 1 });
    const gone = await send({ token });
    assert.equal(gone.status, 410);
    assert.deepEqual(gone.json, { reason: 'ExpiredToken', timestamp: clock });
    sim.fault(token, { status: 410 });
    assert.deepEqual((await send({ token })).json, { reason: 'Unregistered', timestamp: clock });
    sim.clearFaults(token);
    assert.equal((await send({ token })).status, 200);
  });

  test('a 400 fault answers its reason; other tokens are unaffected', async () => {
    const token = deviceToken();
    sim.fault(token, { status: 400, reason: 'BadDeviceToken' });
    const result = await send({ token });
    assert.equal(result.status, 400);
    assert.deepEqual(result.json, { reason: 'BadDeviceToken' });
    assert.equal((await send()).status, 200);
  });

  test('a malformed request is reported as malformed and does not use up the fault', async () => {
    const token = deviceToken();
    sim.fault(token, { status: 503, times: 1 });
    assert.deepEqual((await send({ token, headers: { 'apns-priority': '3' } })).json, {
      reason: 'BadPriority',
    });
    assert.deepEqual((await send({ token, jwt: 'garbage' })).json, { reason: 'InvalidProviderToken' });
    assert.equal((await send({ token })).status, 503);
    assert.equal((await send({ token })).status, 200);
  });
});

describe('records', () => {
  test('clear() forgets records but stats keep counting; recordLimit drops the oldest', async () => {
    const before = sim.stats();
    await send();
    await send({ headers: { 'apns-priority': '2' } });
    const after = sim.stats();
    assert.equal(after.requests, before.requests + 2);
    assert.equal(after.accepted, before.accepted + 1);
    sim.clear();
    assert.deepEqual(sim.requests(), []);
    assert.equal(sim.stats().requests, after.requests);

    const small = await startApnsSimulator({ recordLimit: 3 });
    const smallKey = small.generateKey();
    const s = connect(small);
    try {
      const token = await providerToken(smallKey);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await push(s, { jwt: token });
        ids.push(String(r.headers['apns-id']));
      }
      assert.deepEqual(
        small.received().map((r) => r.apnsId),
        ids.slice(-3),
      );
      assert.deepEqual(
        small.received().map((r) => r.seq),
        [6, 7, 8],
      );
      assert.equal(small.stats().accepted, 8);
    } finally {
      await closeSession(s);
      await small.close();
    }
  });

  test('the topics option allows only those topics', async () => {
    const strict = await startApnsSimulator({ topics: ['com.example.mail'] });
    const strictKey = strict.generateKey();
    const s = connect(strict);
    try {
      const token = await providerToken(strictKey);
      assert.equal((await push(s, { jwt: token, topic: 'com.example.mail' })).status, 200);
      const other = await push(s, { jwt: token, topic: 'com.example.other' });
      assert.equal(other.status, 400);
      assert.deepEqual(other.json, { reason: 'TopicDisallowed' });
    } finally {
      await closeSession(s);
      await strict.close();
    }
  });
});
