import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { selfSignedIdentity } from '../tls.ts';
import { type FcmSimulator, type ServiceAccount, simFcmUsage, startFcmSimulator } from './index.ts';
import {
  type AnyJson,
  accessToken,
  assertion,
  JWT_BEARER,
  send,
  TOKEN_A,
  TOKEN_B,
  testClock,
} from './testkit.ts';

const clock = testClock();
let sim: FcmSimulator;

before(async () => {
  sim = await startFcmSimulator({ now: clock.now, recordLimit: 5 });
});
after(() => sim.close());

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${sim.url}/sim${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as AnyJson, headers: response.headers };
}

describe('control API', () => {
  let sa: ServiceAccount;
  let bearer: string;

  test('POST /sim/service-accounts makes an account whose key file works', async () => {
    const created = await call('POST', '/service-accounts', { projectId: 'ctl-project' });
    assert.equal(created.status, 201);
    sa = created.json as ServiceAccount;
    assert.equal(sa.project_id, 'ctl-project');
    assert.equal(sa.token_uri, sim.tokenUri);
    bearer = await accessToken(sim, sa, clock.t);
    const named = await call('POST', '/service-accounts', {
      projectId: 'ctl-project',
      clientEmail: 'pusher@ctl-project.iam.gserviceaccount.com',
    });
    assert.equal(named.json.client_email, 'pusher@ctl-project.iam.gserviceaccount.com');
    const defaults = await call('POST', '/service-accounts');
    assert.equal(defaults.json.project_id, 'herald-sim');
  });

  test('messages, requests, token requests and stats', async () => {
    assert.equal(
      (await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_A, data: { n: '1' } } })).status,
      200,
    );
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_B } })).status, 200);
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { token: 'bad' } })).status, 400);

    const all = await call('GET', '/messages');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.json.messages.map((m: AnyJson) => m.token),
      [TOKEN_A, TOKEN_B],
    );
    const one = await call('GET', `/messages?token=${encodeURIComponent(TOKEN_A)}`);
    assert.deepEqual(one.json.messages[0].message, { token: TOKEN_A, data: { n: '1' } });
    assert.equal(one.json.messages.length, 1);
    const requests = await call('GET', '/requests');
    assert.deepEqual(
      requests.json.requests.map((r: AnyJson) => [r.status, r.errorCode ?? null]),
      [
        [200, null],
        [200, null],
        [400, 'INVALID_ARGUMENT'],
      ],
    );
    assert.deepEqual((await call('GET', '/requests?token=bad')).json.requests.length, 1);
    const tokens = await call('GET', '/token-requests');
    assert.equal(tokens.json.tokenRequests.length, 1);
    assert.deepEqual((await call('GET', '/stats')).json, { requests: 3, accepted: 2, tokenRequests: 1 });

    const cleared = await call('DELETE', '/messages');
    assert.deepEqual(cleared.json, { cleared: true });
    assert.deepEqual((await call('GET', '/messages')).json, { messages: [] });
    assert.deepEqual((await call('GET', '/stats')).json, { requests: 0, accepted: 0, tokenRequests: 0 });
  });

  test('recordLimit keeps the newest records', async () => {
    for (let i = 0; i < 7; i++) {
      await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_A, data: { i: String(i) } } });
    }
    const kept = sim.received().map((r) => (r.message as AnyJson).data.i);
    assert.deepEqual(kept, ['2', '3', '4', '5', '6']);
    assert.equal(sim.stats().accepted, 7);
    sim.clear();
  });

  test('faults through the control API', async () => {
    const set = await call('POST', '/faults', {
      token: TOKEN_A,
      errorCode: 'QUOTA_EXCEEDED',
      times: 1,
      retryAfterSeconds: 12,
    });
    assert.equal(set.status, 201);
    assert.deepEqual(set.json, {
      token: TOKEN_A,
      errorCode: 'QUOTA_EXCEEDED',
      times: 1,
      retryAfterSeconds: 12,
      remaining: 1,
    });
    await call('POST', '/faults', { token: TOKEN_B, errorCode: 'UNAVAILABLE' });
    assert.equal((await call('GET', '/faults')).json.faults.length, 2);
    const limited = await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_A } });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '12');
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_A } })).status, 200);
    assert.deepEqual((await call('DELETE', `/faults?token=${encodeURIComponent(TOKEN_B)}`)).json, {
      cleared: 1,
    });
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_B } })).status, 200);
    await call('POST', '/faults', { token: '*', errorCode: 'INTERNAL' });
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { topic: 'news' } })).status, 500);
    assert.deepEqual((await call('DELETE', '/faults')).json, { cleared: 1 });
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { topic: 'news' } })).status, 200);
  });

  test('unregister and revoke-tokens through the control API', async () => {
    const token = `${TOKEN_B}gone`;
    assert.deepEqual((await call('POST', '/unregister', { token })).json, { token, unregistered: true });
    const gone = await send(sim, 'ctl-project', bearer, { message: { token } });
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.details[0].errorCode, 'UNREGISTERED');

    const revoked = await call('POST', '/revoke-tokens');
    assert.equal(revoked.status, 200);
    assert.ok(revoked.json.revoked >= 1);
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_A } })).status, 401);
    bearer = await accessToken(sim, sa, clock.t);
    assert.equal((await send(sim, 'ctl-project', bearer, { message: { token: TOKEN_A } })).status, 200);
  });

  test('bad input answers 400 {"error"} and never breaks the simulator', async () => {
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/faults', '{not json', /not valid JSON/],
      ['POST', '/faults', '[1,2]', /JSON object/],
      ['POST', '/faults', { token: TOKEN_A }, /errorCode must be one of/],
      ['POST', '/faults', { token: TOKEN_A, errorCode: 'BOGUS' }, /errorCode must be one of/],
      ['POST', '/faults', { errorCode: 'INTERNAL' }, /token must be/],
      ['POST', '/faults', { token: 5, errorCode: 'INTERNAL' }, /token must be/],
      ['POST', '/faults', { token: TOKEN_A, errorCode: 'INTERNAL', times: -1 }, /times/],
      ['POST', '/faults', { token: TOKEN_A, errorCode: 'INTERNAL', times: 1.5 }, /times/],
      [
        'POST',
        '/faults',
        { token: TOKEN_A, errorCode: 'UNREGISTERED', retryAfterSeconds: 3 },
        /retryAfterSeconds/,
      ],
      [
        'POST',
        '/faults',
        { token: TOKEN_A, errorCode: 'UNAVAILABLE', retryAfterSeconds: 'soon' },
        /retryAfterSeconds/,
      ],
      ['POST', '/unregister', {}, /token must be/],
      ['POST', '/unregister', { token: ['x'] }, /token must be/],
      ['POST', '/service-accounts', { projectId: 7 }, /projectId must be a string/],
      ['POST', '/service-accounts', { projectId: 'UPPER CASE' }, /projectId/],
      ['POST', '/service-accounts', { clientEmail: 'no-at-sign' }, /clientEmail/],
      ['POST', '/service-accounts', { projectId: 'x', clientEmail: sa.client_email }, /already belongs/],
    ];
    for (const [method, path, body, message] of cases) {
      const answer = await call(method, path, body);
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.deepEqual(Object.keys(answer.json), ['error']);
      assert.match(answer.json.error, message);
    }
    assert.equal(sim.faults().length, 0);
    const notFound = await call('GET', '/nothing');
    assert.equal(notFound.status, 404);
    assert.match(notFound.json.error, /no control route/);
    const wrongMethod = await call('PUT', '/faults', {});
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, POST, DELETE');
    const big = await call('POST', '/unregister', JSON.stringify({ token: 'x'.repeat(2 * 1024 * 1024) }));
    assert.equal(big.status, 413);
    assert.match(big.json.error, /over 1048576 bytes/);
    const root = await fetch(`${sim.url}/nope`);
    assert.equal(root.status, 404);
    assert.equal(((await root.json()) as AnyJson).error.status, 'NOT_FOUND');
    assert.equal((await call('GET', '/stats')).status, 200, 'still serving');
  });

  test('the usage text names every route', () => {
    for (const route of [
      'POST /token',
      '/v1/projects/{projectId}/messages:send',
      'GET    /sim/messages',
      'DELETE /sim/messages',
      'GET    /sim/requests',
      'POST   /sim/faults',
      'DELETE /sim/faults',
      'POST   /sim/unregister',
      'POST   /sim/service-accounts',
      'POST   /sim/revoke-tokens',
      'GET    /sim/stats',
    ]) {
      assert.ok(simFcmUsage.includes(route), route);
    }
  });
});

describe('TLS', () => {
  test('serves HTTPS with the given identity', async () => {
    const identity = await selfSignedIdentity();
    const secure = await startFcmSimulator({ now: clock.now, tls: identity });
    try {
      assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const account = secure.createServiceAccount({ projectId: 'tls-project' });
      assert.equal(account.token_uri, `${secure.url}/token`);
      const request = (path: string, body: string, headers: Record<string, string>) =>
        new Promise<{ status: number; json: AnyJson }>((resolve, reject) => {
          const req = https.request(
            `${secure.url}${path}`,
            { method: 'POST', ca: identity.cert, headers },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
              );
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      const granted = await request(
        '/token',
        new URLSearchParams({
          grant_type: JWT_BEARER,
          assertion: await assertion(account, { now: clock.t }),
        }).toString(),
        { 'Content-Type': 'application/x-www-form-urlencoded' },
      );
      assert.equal(granted.status, 200);
      const sent = await request(
        '/v1/projects/tls-project/messages:send',
        JSON.stringify({ message: { token: TOKEN_A } }),
        {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${granted.json.access_token}`,
        },
      );
      assert.equal(sent.status, 200);
      assert.equal(secure.received().length, 1);
    } finally {
      await secure.close();
    }
  });
});
