import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type ApnsSimulator, simApnsUsage, startApnsSimulator } from './index.ts';
import { closeSession, connect, control, deviceToken, providerToken, push } from './testkit.ts';

let sim: ApnsSimulator;
let session: http2.ClientHttp2Session;
let jwt: string;

before(async () => {
  sim = await startApnsSimulator();
  jwt = await providerToken(sim.generateKey());
  session = connect(sim);
});
after(async () => {
  await closeSession(session);
  await sim.close();
});
beforeEach(() => {
  sim.clear();
  sim.clearFaults();
  sim.goawayAfter(undefined);
});

describe('control API', () => {
  test('GET /sim/pushes and /sim/requests, filtered by token; DELETE /sim/pushes clears', async () => {
    const token = deviceToken();
    await push(session, { jwt, token, body: { aps: { alert: 'one' } } });
    await push(session, { jwt, token, headers: { 'apns-priority': '9' } });
    await push(session, { jwt });
    const pushes = await control(sim, 'GET', `/pushes?token=${token}`);
    assert.equal(pushes.status, 200);
    assert.match(String(pushes.headers['content-type']), /application\/json/);
    assert.deepEqual(
      pushes.json().pushes.map((p: { payload: unknown }) => p.payload),
      [{ aps: { alert: 'one' } }],
    );
    const requests = (await control(sim, 'GET', `/requests?token=${token}`)).json().requests;
    assert.deepEqual(
      requests.map((r: { status: number; reason?: string }) => [r.status, r.reason ?? null]),
      [
        [200, null],
        [400, 'BadPriority'],
      ],
    );
    assert.equal((await control(sim, 'GET', '/pushes')).json().pushes.length, 2);
    assert.deepEqual((await control(sim, 'DELETE', '/pushes')).json(), { cleared: true });
    assert.deepEqual((await control(sim, 'GET', '/requests')).json(), { requests: [] });
  });

  test('POST /sim/faults injects, GET lists, DELETE /sim/faults?token= clears', async () => {
    const token = deviceToken();
    const created = await control(sim, 'POST', '/faults', { token, status: 503, times: 1 });
    assert.equal(created.status, 200);
    assert.deepEqual((await control(sim, 'GET', '/faults')).json().faults, [
      { token, status: 503, remaining: 1 },
    ]);
    assert.deepEqual((await push(session, { jwt, token })).json, { reason: 'ServiceUnavailable' });
    assert.equal((await push(session, { jwt, token })).status, 200);

    await control(sim, 'POST', '/faults', { token, status: 400, reason: 'BadDeviceToken' });
    assert.equal((await push(session, { jwt, token })).status, 400);
    await control(sim, 'DELETE', `/faults?token=${token}`);
    assert.equal((await push(session, { jwt, token })).status, 200);

    await control(sim, 'POST', '/faults', { token, status: 429, times: null });
    await control(sim, 'DELETE', '/faults');
    assert.equal((await push(session, { jwt, token })).status, 200);
  });

  test('POST /sim/unregister and /sim/devices', async () => {
    const token = deviceToken();
    const gone = await control(sim, 'POST', '/unregister', { token: token.toUpperCase() });
    assert.equal(gone.status, 200);
    const { timestamp } = gone.json();
    assert.equal(typeof timestamp, 'number');
    assert.deepEqual((await push(session, { jwt, token })).json, { reason: 'Unregistered', timestamp });

    const bound = deviceToken();
    assert.equal(
      (await control(sim, 'POST', '/devices', { token: bound, topic: 'com.example.mail' })).status,
      200,
    );
    assert.deepEqual((await push(session, { jwt, token: bound, topic: 'com.example.other' })).json, {
      reason: 'DeviceTokenNotForTopic',
    });
  });

  test('POST /sim/goaway sets and clears the GOAWAY threshold', async () => {
    assert.deepEqual((await control(sim, 'POST', '/goaway', { afterStreams: 1 })).json(), {
      afterStreams: 1,
    });
    const s = connect(sim);
    const goaway = new Promise<number>((resolve) => s.once('goaway', (code: number) => resolve(code)));
    assert.equal((await push(s, { jwt })).status, 200);
    assert.equal(await goaway, 0);
    await closeSession(s);
    assert.deepEqual((await control(sim, 'POST', '/goaway', { afterStreams: null })).json(), {
      afterStreams: null,
    });
    const t = connect(sim);
    for (let i = 0; i < 3; i++) assert.equal((await push(t, { jwt })).status, 200);
    assert.equal(t.closed, false);
    await closeSession(t);
  });

  test('POST /sim/keys registers a public key or generates one (answering its .p8)', async () => {
    const generated = await control(sim, 'POST', '/keys', { generate: true, teamId: 'TEAMCTRL01' });
    assert.equal(generated.status, 200);
    const key = generated.json();
    assert.equal(key.teamId, 'TEAMCTRL01');
    assert.match(key.keyId, /^[A-Z0-9]{10}$/);
    assert.match(key.privateKey, /BEGIN PRIVATE KEY/);
    const s = connect(sim);
    assert.equal((await push(s, { jwt: await providerToken(key) })).status, 200);
    await closeSession(s);

    const other = sim.generateKey();
    const added = await control(sim, 'POST', '/keys', {
      keyId: 'CTRLKEY001',
      teamId: 'CTRLTEAM01',
      publicKey: other.publicKey,
    });
    assert.deepEqual(added.json(), { keyId: 'CTRLKEY001', teamId: 'CTRLTEAM01' });
    const s2 = connect(sim);
    const viaControl = { ...other, keyId: 'CTRLKEY001', teamId: 'CTRLTEAM01' };
    assert.equal((await push(s2, { jwt: await providerToken(viaControl) })).status, 200);
    await closeSession(s2);
    const listed = (await control(sim, 'GET', '/keys')).json().keys;
    assert.ok(listed.some((k: { keyId: string }) => k.keyId === 'CTRLKEY001'));
    assert.ok(listed.every((k: Record<string, unknown>) => !('privateKey' in k)));
  });

  test('GET /sim/ca.pem and /sim/stats', async () => {
    const ca = await control(sim, 'GET', '/ca.pem');
    assert.equal(ca.status, 200);
    assert.equal(ca.text, sim.ca);
    await push(session, { jwt });
    const stats = (await control(sim, 'GET', '/stats')).json();
    assert.deepEqual(Object.keys(stats).sort(), [
      'accepted',
      'connections',
      'goaways',
      'maxConcurrentStreamsSeen',
      'openConnections',
      'requests',
    ]);
    assert.ok(stats.accepted >= 1);
  });

  test('the control API answers over HTTP/2 too', async () => {
    const result = await push(session, { method: 'GET', path: '/sim/stats', topic: null });
    assert.equal(result.status, 200);
    assert.equal(typeof (result.json as Record<string, unknown>).requests, 'number');
    const fault = await push(session, {
      path: '/sim/faults',
      topic: null,
      body: { token: deviceToken(), status: 999 },
    });
    assert.equal(fault.status, 400);
  });

  const bad: Array<[string, string, unknown, number, RegExp]> = [
    ['POST', '/faults', 'not json', 400, /not valid JSON/],
    ['POST', '/faults', [1, 2], 400, /JSON object/],
    ['POST', '/faults', { status: 500 }, 400, /token is required/],
    ['POST', '/faults', { token: 'abc', status: 500 }, 400, /device token/],
    ['POST', '/faults', { token: 'a'.repeat(64), status: 404 }, 400, /400, 410, 429, 500 or 503/],
    ['POST', '/faults', { token: 'a'.repeat(64), status: 400 }, 400, /reason/],
    ['POST', '/faults', { token: 'a'.repeat(64), status: 500, times: -1 }, 400, /positive integer/],
    ['POST', '/faults', { token: 'a'.repeat(64), status: '500' }, 400, /status/],
    ['POST', '/unregister', {}, 400, /token is required/],
    ['POST', '/unregister', { token: 42 }, 400, /token must be a string/],
    ['POST', '/devices', { token: 'a'.repeat(64) }, 400, /topic is required/],
    ['POST', '/devices', { token: 'a'.repeat(64), topic: 'has space' }, 400, /topic/],
    ['POST', '/goaway', {}, 400, /afterStreams/],
    ['POST', '/goaway', { afterStreams: 0 }, 400, /positive integer/],
    ['POST', '/goaway', { afterStreams: '3' }, 400, /positive integer/],
    ['POST', '/keys', {}, 400, /keyId is required/],
    ['POST', '/keys', { keyId: 'K', teamId: 'T', publicKey: 'nope' }, 400, /PEM/],
    ['POST', '/keys', { generate: true, teamId: 7 }, 400, /teamId must be a string/],
    ['GET', '/nothing', undefined, 404, /no control route/],
    ['PUT', '/faults', {}, 405, /not allowed/],
    ['POST', '/stats', {}, 405, /not allowed/],
  ];
  for (const [method, path, body, status, message] of bad) {
    test(`${method} /sim${path} ${(JSON.stringify(body) ?? '').replace(/a{64}/, 'TOKEN')} → ${status}`, async () => {
      const result = await control(sim, method, path, body);
      assert.equal(result.status, status, result.text);
      assert.match(result.json().error, message);
    });
  }

  test('the simulator keeps working after bad control input', async () => {
    assert.equal((await push(session, { jwt })).status, 200);
  });

  test('usage names every route', () => {
    for (const route of [
      '/sim/pushes',
      '/sim/requests',
      '/sim/faults',
      '/sim/unregister',
      '/sim/devices',
      '/sim/goaway',
      '/sim/keys',
      '/sim/ca.pem',
      '/sim/stats',
    ]) {
      assert.ok(simApnsUsage.includes(route), route);
    }
  });
});
