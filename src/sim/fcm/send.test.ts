import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type FcmSimulator, type ServiceAccount, startFcmSimulator } from './index.ts';
import { type AnyJson, accessToken, send, TOKEN_A, TOKEN_B, testClock } from './testkit.ts';

const clock = testClock();
const PROJECT = 'demo-project';
let sim: FcmSimulator;
let sa: ServiceAccount;
let bearer: string;

before(async () => {
  sim = await startFcmSimulator({ now: clock.now });
  sa = sim.createServiceAccount({ projectId: PROJECT });
  bearer = await accessToken(sim, sa, clock.t);
});
after(() => sim.close());
beforeEach(() => {
  sim.clear();
  sim.clearFaults();
});

const FCM_ERROR = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const BAD_REQUEST = 'type.googleapis.com/google.rpc.BadRequest';

function post(body: unknown) {
  return send(sim, PROJECT, bearer, body);
}

/** A FCM-level INVALID_ARGUMENT: FcmError detail (+ BadRequest naming the field). */
function assertInvalid(answer: { status: number; json: AnyJson }, message: string | RegExp, field?: string) {
  assert.equal(answer.status, 400, JSON.stringify(answer.json));
  const { error } = answer.json;
  assert.equal(error.code, 400);
  assert.equal(error.status, 'INVALID_ARGUMENT');
  if (typeof message === 'string') assert.equal(error.message, message);
  else assert.match(error.message, message);
  assert.deepEqual(error.details[0], { '@type': FCM_ERROR, errorCode: 'INVALID_ARGUMENT' });
  if (field === undefined) assert.equal(error.details.length, 1);
  else {
    assert.deepEqual(error.details[1], {
      '@type': BAD_REQUEST,
      fieldViolations: [{ field, description: error.message }],
    });
  }
}

/** A refusal by the JSON/proto layer: BadRequest detail only. */
function assertParseError(answer: { status: number; json: AnyJson }, message: string, field?: string) {
  assert.equal(answer.status, 400, JSON.stringify(answer.json));
  assert.deepEqual(answer.json, {
    error: {
      code: 400,
      message,
      status: 'INVALID_ARGUMENT',
      details: [
        {
          '@type': BAD_REQUEST,
          fieldViolations: [field === undefined ? { description: message } : { field, description: message }],
        },
      ],
    },
  });
}

describe('messages:send accepted', () => {
  test('a data message is answered with its name and recorded', async () => {
    const message = {
      token: TOKEN_A,
      data: { mailbox: 'alice@contoso.com', count: '3' },
      android: { priority: 'high', ttl: '3600s', collapse_key: 'mail' },
    };
    const answer = await post({ message });
    assert.equal(answer.status, 200);
    assert.match(answer.json.name, /^projects\/demo-project\/messages\/0:\d+%[0-9a-f]{16}$/);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    const [record, ...rest] = sim.received();
    assert.equal(rest.length, 0);
    assert.deepEqual(record, {
      seq: record!.seq,
      at: clock.t,
      projectId: PROJECT,
      clientEmail: sa.client_email,
      message,
      token: TOKEN_A,
      status: 200,
      errorCode: undefined,
      name: answer.json.name,
      validateOnly: false,
      error: undefined,
    });
    assert.deepEqual(sim.received({ token: TOKEN_B }), []);
    assert.equal(sim.received({ token: TOKEN_A }).length, 1);
    assert.deepEqual(sim.stats(), { requests: 1, accepted: 1, tokenRequests: 0 });
  });

  test('records are copies', async () => {
    await post({ message: { token: TOKEN_A, data: { a: 'b' } } });
    (sim.received()[0]!.message as AnyJson).data.a = 'changed';
    assert.deepEqual((sim.received()[0]!.message as AnyJson).data, { a: 'b' });
  });

  test('camelCase field names, enum numbers and case, topics and conditions', async () => {
    for (const message of [
      { token: TOKEN_A, android: { collapseKey: 'k', priority: 'NORMAL', directBootOk: true } },
      { token: TOKEN_A, android: { priority: 1, ttl: '0.5s', restrictedPackageName: 'com.example' } },
      {
        token: TOKEN_A,
        notification: { title: 'New mail', body: 'From Eve' },
        fcmOptions: { analyticsLabel: 'x' },
      },
      { topic: '/topics/news', data: { a: 'b' } },
      { topic: 'news' },
      { condition: "'a' in topics && 'b' in topics" },
      {
        token: TOKEN_A,
        apns: { headers: { 'apns-priority': '10' }, payload: { aps: { 'content-available': 1 } } },
      },
      { token: TOKEN_A, webpush: { headers: { TTL: '60' } }, data: null },
    ]) {
      const answer = await post({ message });
      assert.equal(answer.status, 200, `${JSON.stringify(message)} → ${JSON.stringify(answer.json)}`);
    }
  });

  test('validate_only answers fake_message_id and delivers nothing', async () => {
    for (const body of [
      { validate_only: true, message: { token: TOKEN_A } },
      { validateOnly: true, message: { token: TOKEN_A } },
    ]) {
      const answer = await post(body);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { name: `projects/${PROJECT}/messages/fake_message_id` });
    }
    assert.deepEqual(sim.received(), []);
    const requests = sim.requests();
    assert.equal(requests.length, 2);
    assert.ok(requests.every((r) => r.validateOnly && r.status === 200));
    assert.deepEqual(sim.stats(), { requests: 2, accepted: 0, tokenRequests: 0 });
  });

  test('validate_only still checks the message', async () => {
    assertInvalid(
      await post({ validate_only: true, message: { token: 'short' } }),
      'The registration token is not a valid FCM registration token',
    );
    assert.equal(sim.requests()[0]!.validateOnly, true);
  });
});

describe('messages:send validation', () => {
  test('no target', async () => {
    assertInvalid(
      await post({ message: { data: { a: 'b' } } }),
      'Recipient of the message is not set.',
      'message',
    );
    assertInvalid(await post({}), 'Recipient of the message is not set.', 'message');
    assertInvalid(await post(''), 'Recipient of the message is not set.', 'message');
    assertInvalid(
      await post({ message: { token: null } }),
      'Recipient of the message is not set.',
      'message',
    );
  });

  test('two targets break the oneof', async () => {
    assertParseError(
      await post({ message: { token: TOKEN_A, topic: 'news' } }),
      "Invalid JSON payload received. Oneof field 'target' is already set. Cannot set 'topic'",
      'message',
    );
    assertParseError(
      await post({ message: { condition: "'a' in topics", token: TOKEN_A } }),
      "Invalid JSON payload received. Oneof field 'target' is already set. Cannot set 'token'",
      'message',
    );
  });

  test('a malformed registration token', async () => {
    for (const token of ['short', `${TOKEN_A} `, `${TOKEN_A}/x`, 'x'.repeat(4097), '']) {
      assertInvalid(
        await post({ message: { token } }),
        'The registration token is not a valid FCM registration token',
      );
    }
  });

  test('non-string data values', async () => {
    assertParseError(
      await post({ message: { token: TOKEN_A, data: { a: 'ok', b: 12 } } }),
      "Invalid value at 'message.data[1].value' (TYPE_STRING), 12",
      'message.data[1].value',
    );
    assertParseError(
      await post({ message: { token: TOKEN_A, android: { data: { flag: true } } } }),
      "Invalid value at 'message.android.data[0].value' (TYPE_STRING), true",
      'message.android.data[0].value',
    );
    assertParseError(
      await post({ message: { token: TOKEN_A, data: ['a'] } }),
      `Invalid value at 'message.data' (type.googleapis.com/google.firebase.fcm.v1.Message.DataEntry), ["a"]`,
      'message.data',
    );
  });

  test('reserved data keys', async () => {
    for (const key of [
      'from',
      'message_type',
      'google.sent_time',
      'gcm.notification.title',
      'gcm',
      'Google.x',
    ]) {
      assertInvalid(
        await post({ message: { token: TOKEN_A, data: { [key]: 'x' } } }),
        new RegExp(`^Invalid data payload key: "${key.replace('.', '\\.')}" is reserved by FCM`),
        'message.data',
      );
    }
    assert.equal(
      (await post({ message: { token: TOKEN_A, data: { collapse_key: 'x', googler: 'y' } } })).status,
      200,
    );
  });

  test('android priority, ttl and collapse_key', async () => {
    assertParseError(
      await post({ message: { token: TOKEN_A, android: { priority: 'urgent' } } }),
      `Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "urgent"`,
      'message.android.priority',
    );
    for (const ttl of ['3600', '1h', 3600, '1.0000000001s']) {
      assertParseError(
        await post({ message: { token: TOKEN_A, android: { ttl } } }),
        `Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(ttl)}`,
        'message.android.ttl',
      );
    }
    assertInvalid(
      await post({ message: { token: TOKEN_A, android: { ttl: '2419201s' } } }),
      'TTL must be between 0 and 2419200 seconds (4 weeks), not 2419201s',
      'message.android.ttl',
    );
    assertInvalid(
      await post({ message: { token: TOKEN_A, android: { ttl: '-1s' } } }),
      /^TTL must be between/,
      'message.android.ttl',
    );
    assertParseError(
      await post({ message: { token: TOKEN_A, android: { collapse_key: 5 } } }),
      "Invalid value at 'message.android.collapse_key' (TYPE_STRING), 5",
      'message.android.collapse_key',
    );
  });

  test('unknown fields and wrong types', async () => {
    assertParseError(
      await post({ message: { token: TOKEN_A, priority: 'high' } }),
      `Invalid JSON payload received. Unknown name "priority" at 'message': Cannot find field.`,
      'message',
    );
    assertParseError(
      await post({ message: { token: TOKEN_A, android: { time_to_live: 5 } } }),
      `Invalid JSON payload received. Unknown name "time_to_live" at 'message.android': Cannot find field.`,
      'message.android',
    );
    assertParseError(
      await post({ to: TOKEN_A, notification: {} }),
      'Invalid JSON payload received. Unknown name "to": Cannot find field.',
    );
    assertParseError(
      await post({ message: 'hello' }),
      `Invalid value at 'message' (type.googleapis.com/google.firebase.fcm.v1.Message), "hello"`,
      'message',
    );
    assertParseError(
      await post({ validate_only: 'yes', message: { token: TOKEN_A } }),
      `Invalid value at 'validate_only' (TYPE_BOOL), "yes"`,
      'validate_only',
    );
    assertParseError(
      await post({ message: { token: 42 } }),
      "Invalid value at 'message.token' (TYPE_STRING), 42",
      'message.token',
    );
    assertParseError(
      await post({ message: { token: TOKEN_A, notification: { title: 'x', sound: 'default' } } }),
      `Invalid JSON payload received. Unknown name "sound" at 'message.notification': Cannot find field.`,
      'message.notification',
    );
    assertParseError(
      await post({ message: { token: TOKEN_A, android: { collapse_key: 'a', collapseKey: 'b' } } }),
      `Invalid JSON payload received. Duplicate field "collapseKey" at 'message.android'.`,
      'message.android',
    );
    assertParseError(
      await post([1]),
      'Invalid JSON payload received. Unknown name "": Root element must be a message.',
    );
  });

  test('a payload over 4096 bytes (2048 for topics)', async () => {
    const fits = { k: 'v'.repeat(4095) };
    assert.equal((await post({ message: { token: TOKEN_A, data: fits } })).status, 200);
    assertInvalid(
      await post({ message: { token: TOKEN_A, data: { k: 'v'.repeat(4096) } } }),
      'Message is too big: the payload (data and notification keys and values) is 4097 bytes, over the limit of 4096 bytes',
      'message',
    );
    assertInvalid(
      await post({
        message: { token: TOKEN_A, data: { k: 'v'.repeat(3000) }, notification: { body: 'é'.repeat(600) } },
      }),
      /is 4205 bytes, over the limit of 4096/,
      'message',
    );
    assertInvalid(
      await post({ message: { topic: 'news', data: { k: 'v'.repeat(2048) } } }),
      /over the limit of 2048 bytes/,
      'message',
    );
  });

  test('invalid JSON and absurd nesting', async () => {
    assertParseError(await post('{"message": {'), 'Invalid JSON payload received. Unexpected token.');
    const deep = `{"message": {"token": "${TOKEN_A}", "apns": {"payload": ${'['.repeat(5000)}${']'.repeat(5000)}}}}`;
    assertParseError(await post(deep), 'Invalid JSON payload received. Message is nested too deeply.');
    const rejected = sim.requests();
    assert.ok(rejected.every((r) => r.status === 400 && r.errorCode === 'INVALID_ARGUMENT'));
    assert.deepEqual(sim.received(), []);
  });
});

describe('messages:send authentication', () => {
  const UNAUTHENTICATED_MISSING =
    'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
  const UNAUTHENTICATED_INVALID =
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

  function assertUnauthenticated(
    answer: { status: number; json: AnyJson; headers: Headers },
    message: string,
    reason: string,
  ) {
    assert.equal(answer.status, 401);
    assert.deepEqual(answer.json, {
      error: {
        code: 401,
        message,
        status: 'UNAUTHENTICATED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason,
            domain: 'googleapis.com',
            metadata: {
              method: 'google.firebase.fcm.v1.FcmService.SendMessage',
              service: 'fcm.googleapis.com',
            },
          },
        ],
      },
    });
    assert.match(
      answer.headers.get('www-authenticate') ?? '',
      /^Bearer realm="https:\/\/accounts\.google\.com\/"/,
    );
  }

  test('no Authorization header, or not a bearer token', async () => {
    assertUnauthenticated(
      await send(sim, PROJECT, undefined, { message: { token: TOKEN_A } }),
      UNAUTHENTICATED_MISSING,
      'CREDENTIALS_MISSING',
    );
    const legacy = await fetch(`${sim.url}/v1/projects/${PROJECT}/messages:send`, {
      method: 'POST',
      headers: { Authorization: 'key=AAAA-legacy-server-key', 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: { token: TOKEN_A } }),
    });
    assert.equal(legacy.status, 401);
    const [record] = sim.requests();
    assert.equal(record!.status, 401);
    assert.equal(record!.errorCode, 'UNAUTHENTICATED');
    assert.equal(record!.token, TOKEN_A, 'the attempted message is still recorded');
    assert.deepEqual(sim.received(), []);
  });

  test('an unknown access token', async () => {
    assertUnauthenticated(
      await send(sim, PROJECT, 'ya29.c.not-issued-here', { message: { token: TOKEN_A } }),
      UNAUTHENTICATED_INVALID,
      'ACCESS_TOKEN_TYPE_UNSUPPORTED',
    );
  });

  test('an expired access token', async () => {
    clock.advance(3_599_000);
    try {
      const answer = await post({ message: { token: TOKEN_A } });
      assertUnauthenticated(answer, UNAUTHENTICATED_INVALID, 'ACCESS_TOKEN_EXPIRED');
      assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      assert.equal(sim.requests()[0]!.clientEmail, sa.client_email);
    } finally {
      clock.advance(-3_599_000);
    }
    clock.advance(3_598_000);
    try {
      assert.equal(
        (await post({ message: { token: TOKEN_A } })).status,
        200,
        'still valid one second before',
      );
    } finally {
      clock.advance(-3_598_000);
    }
  });

  test('revoked access tokens', async () => {
    const own = await startFcmSimulator({ now: clock.now });
    try {
      const account = own.createServiceAccount({ projectId: PROJECT });
      const first = await accessToken(own, account, clock.t);
      assert.equal((await send(own, PROJECT, first, { message: { token: TOKEN_A } })).status, 200);
      own.revokeAccessTokens();
      assertUnauthenticated(
        await send(own, PROJECT, first, { message: { token: TOKEN_A } }),
        UNAUTHENTICATED_INVALID,
        'ACCESS_TOKEN_TYPE_UNSUPPORTED',
      );
      const second = await accessToken(own, account, clock.t);
      assert.equal((await send(own, PROJECT, second, { message: { token: TOKEN_A } })).status, 200);
    } finally {
      await own.close();
    }
  });

  test('a token of another project', async () => {
    const answer = await send(sim, 'someone-elses-project', bearer, { message: { token: TOKEN_A } });
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.json, {
      error: {
        code: 403,
        message:
          "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/someone-elses-project' (or it may not exist).",
        status: 'PERMISSION_DENIED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'IAM_PERMISSION_DENIED',
            domain: 'cloudresourcemanager.googleapis.com',
            metadata: {
              permission: 'cloudmessaging.messages.create',
              resource: 'projects/someone-elses-project',
            },
          },
        ],
      },
    });
    assert.equal(sim.requests()[0]!.errorCode, 'PERMISSION_DENIED');
  });

  test('authentication is checked before the body', async () => {
    const answer = await send(sim, PROJECT, undefined, '{not json');
    assert.equal(answer.status, 401);
  });
});

describe('messages:send faults and unregistered tokens', () => {
  const CASES = [
    ['UNREGISTERED', 404, 'NOT_FOUND', 'Requested entity was not found.'],
    ['INVALID_ARGUMENT', 400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'],
    ['SENDER_ID_MISMATCH', 403, 'PERMISSION_DENIED', 'SenderId mismatch'],
    ['QUOTA_EXCEEDED', 429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
    ['UNAVAILABLE', 503, 'UNAVAILABLE', 'The service is currently unavailable.'],
    ['INTERNAL', 500, 'INTERNAL', 'Internal error encountered.'],
    ['THIRD_PARTY_AUTH_ERROR', 401, 'UNAUTHENTICATED', 'Auth error from APNS or Web Push Service'],
  ] as const;

  test('each errorCode has Google’s status and body', async () => {
    for (const [errorCode, code, status, message] of CASES) {
      sim.fault(TOKEN_A, { errorCode, times: 1 });
      const answer = await post({ message: { token: TOKEN_A } });
      assert.equal(answer.status, code);
      assert.deepEqual(answer.json, {
        error: { code, message, status, details: [{ '@type': FCM_ERROR, errorCode }] },
      });
      assert.equal(answer.headers.get('retry-after'), null);
      assert.equal(sim.requests().at(-1)!.errorCode, errorCode);
    }
    assert.equal((await post({ message: { token: TOKEN_A } })).status, 200, 'every fault was used up');
  });

  test('times counts down, other tokens are untouched, Retry-After is sent', async () => {
    sim.fault(TOKEN_A, { errorCode: 'UNAVAILABLE', times: 2, retryAfterSeconds: 7 });
    assert.equal((await post({ message: { token: TOKEN_B } })).status, 200);
    for (let i = 0; i < 2; i++) {
      const answer = await post({ message: { token: TOKEN_A } });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '7');
    }
    assert.equal((await post({ message: { token: TOKEN_A } })).status, 200);
    assert.deepEqual(
      sim.requests({ token: TOKEN_A }).map((r) => r.status),
      [503, 503, 200],
    );
    sim.fault(TOKEN_A, { errorCode: 'QUOTA_EXCEEDED', retryAfterSeconds: 30 });
    for (let i = 0; i < 3; i++) {
      const answer = await post({ message: { token: TOKEN_A } });
      assert.equal(answer.status, 429);
      assert.equal(answer.headers.get('retry-after'), '30');
    }
    sim.clearFaults(TOKEN_A);
    assert.equal((await post({ message: { token: TOKEN_A } })).status, 200);
  });

  test('"*" fails every send, topic sends included; a token fault wins', async () => {
    sim.fault('*', { errorCode: 'INTERNAL', times: 3 });
    sim.fault(TOKEN_B, { errorCode: 'UNREGISTERED', times: 1 });
    assert.equal((await post({ message: { token: TOKEN_A } })).status, 500);
    assert.equal((await post({ message: { topic: 'news' } })).status, 500);
    assert.equal((await post({ message: { token: TOKEN_B } })).status, 404);
    assert.equal((await post({ message: { token: TOKEN_B } })).status, 500);
    assert.equal((await post({ message: { token: TOKEN_B } })).status, 200);
  });

  test('invalid messages are refused before faults apply', async () => {
    sim.fault(TOKEN_A, { errorCode: 'UNAVAILABLE', times: 1 });
    assert.equal((await post({ message: { token: TOKEN_A, data: { a: 1 } } })).status, 400);
    assert.equal((await post({ message: { token: TOKEN_A } })).status, 503);
  });

  test('bad faults are refused', () => {
    assert.throws(() => sim.fault(TOKEN_A, { errorCode: 'NOPE' as 'INTERNAL' }), /errorCode must be one of/);
    assert.throws(() => sim.fault(TOKEN_A, { errorCode: 'INTERNAL', times: 0 }), /times/);
    assert.throws(
      () => sim.fault(TOKEN_A, { errorCode: 'UNREGISTERED', retryAfterSeconds: 5 }),
      /retryAfterSeconds/,
    );
    assert.throws(() => sim.fault('', { errorCode: 'INTERNAL' }), /token/);
  });

  test('unregister: from now on 404 UNREGISTERED, validate_only included', async () => {
    const token = `${TOKEN_A}unreg`;
    assert.equal((await post({ message: { token } })).status, 200);
    sim.unregister(token);
    for (const body of [{ message: { token } }, { validate_only: true, message: { token } }]) {
      const answer = await post(body);
      assert.equal(answer.status, 404);
      assert.deepEqual(answer.json, {
        error: {
          code: 404,
          message: 'Requested entity was not found.',
          status: 'NOT_FOUND',
          details: [{ '@type': FCM_ERROR, errorCode: 'UNREGISTERED' }],
        },
      });
    }
    assert.equal(sim.received({ token }).length, 1);
    assert.equal((await post({ message: { token: TOKEN_B } })).status, 200);
  });
});

describe('HTTP edges', () => {
  test('other methods, paths and oversized bodies', async () => {
    const get = await fetch(`${sim.url}/v1/projects/${PROJECT}/messages:send`);
    assert.equal(get.status, 404);
    assert.equal(((await get.json()) as AnyJson).error.status, 'NOT_FOUND');
    const encoded = await fetch(`${sim.url}/v1/projects/${PROJECT}/messages%3Asend`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ message: { token: TOKEN_A } }),
    });
    assert.equal(encoded.status, 200);
    const nowhere = await fetch(`${sim.url}/v1/projects/${PROJECT}/messages`);
    assert.equal(nowhere.status, 404);
    const badEncoding = await fetch(`${sim.url}/v1/projects/%E0%A4%A/messages:send`, { method: 'POST' });
    assert.equal(badEncoding.status, 404);
    const big = await send(
      sim,
      PROJECT,
      bearer,
      JSON.stringify({ message: { token: TOKEN_A, data: { k: 'v'.repeat(1_100_000) } } }),
    );
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 413);
  });

  test('responseDelayMs holds the answer', async () => {
    const slow = await startFcmSimulator({ now: clock.now, responseDelayMs: 150 });
    try {
      const account = slow.createServiceAccount({ projectId: PROJECT });
      const token = await accessToken(slow, account, clock.t);
      const started = performance.now();
      assert.equal((await send(slow, PROJECT, token, { message: { token: TOKEN_A } })).status, 200);
      assert.ok(performance.now() - started >= 140);
    } finally {
      await slow.close();
    }
  });

  test('close() with an answer still delayed does not hang', async () => {
    const slow = await startFcmSimulator({ now: clock.now, responseDelayMs: 60_000 });
    const account = slow.createServiceAccount({ projectId: PROJECT });
    const token = await accessToken(slow, account, clock.t);
    const pending = send(slow, PROJECT, token, { message: { token: TOKEN_A } }).then(
      () => 'answered',
      () => 'failed',
    );
    while (slow.stats().requests === 0) await new Promise((resolve) => setImmediate(resolve));
    await slow.close();
    assert.equal(await pending, 'failed');
  });
});
