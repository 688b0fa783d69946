import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, simExchangeUsage, startExchangeSimulator } from './index.ts';
import { basic, ews, startReceiver, subscribe } from './testkit.ts';

let sim: ExchangeSimulator;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const lines: string[] = [];

before(async () => {
  sim = await startExchangeSimulator({ log: (line) => lines.push(line) });
  receiver = await startReceiver(() => sim);
});
after(async () => {
  await sim.close();
  await receiver.close();
});

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${sim.url}/sim${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the tests read arbitrary JSON answers field by field
  return { status: response.status, json: (await response.json()) as Record<string, any> };
}

describe('control API', () => {
  test('mailboxes are created and listed without their secrets', async () => {
    const created = await call('POST', '/mailboxes', {
      email: 'dave@contoso.com',
      password: 'pw',
      tokens: ['t1'],
    });
    assert.equal(created.status, 201);
    assert.equal(created.json.email, 'dave@contoso.com');
    assert.equal(created.json.hasPassword, true);
    assert.equal(created.json.tokenCount, 1);
    const listed = await call('GET', '/mailboxes');
    assert.deepEqual(
      listed.json.mailboxes.map((m: { email: string }) => m.email),
      ['dave@contoso.com'],
    );
    assert.doesNotMatch(JSON.stringify(listed.json), /"pw"|"t1"/);
    assert.match(lines.join('\n'), /listening on http:\/\/127\.0\.0\.1:\d+/);
  });

  test('deliver?wait=true answers after the subscriber did, with its outcome', async () => {
    const { subscriptionId } = await subscribe(sim, receiver.url, {
      statusFrequency: 2,
      authorization: basic('dave@contoso.com', 'pw'),
    });
    const delivered = await call('POST', '/mailboxes/dave%40contoso.com/deliver?wait=true', {
      subject: 'hello',
      from: { address: 'eve@example.com' },
    });
    assert.equal(delivered.status, 200);
    assert.equal(receiver.received.length, 1);
    assert.deepEqual(delivered.json.outcomes, [
      { subscriptionId, result: 'ok', httpStatus: 200, subscriptionStatus: 'OK' },
    ]);

    const read = await call(
      'POST',
      `/mailboxes/dave@contoso.com/items/${encodeURIComponent(delivered.json.itemId)}/read`,
      {
        wait: true,
      },
    );
    assert.equal(read.json.changed, true);
    assert.equal(read.json.outcomes[0].result, 'ok');

    const subs = await call('GET', '/mailboxes/dave@contoso.com/subscriptions');
    assert.equal(subs.json.subscriptions.length, 1);
    const [sub] = subs.json.subscriptions;
    assert.equal(sub.id, subscriptionId);
    assert.equal(sub.callbackUrl, receiver.url);
    assert.equal(sub.statusFrequencyMinutes, 2);
    assert.equal(sub.state, 'active');
    assert.equal(sub.lastCallback.subscriptionStatus, 'OK');
    assert.equal(typeof sub.watermark, 'string');

    const log = await call('GET', '/log?kind=callback');
    assert.equal(log.json.entries.length, 2);
    assert.match(log.json.entries[0].requestBody, /NewMailEvent/);
    assert.match(log.json.entries[0].responseBody, /SendNotificationResult/);

    const killed = await call('DELETE', `/subscriptions/${encodeURIComponent(subscriptionId)}`);
    assert.equal(killed.json.state, 'killed');
    const again = await call('DELETE', `/subscriptions/${encodeURIComponent(subscriptionId)}`);
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'subscription_ended');
  });

  test('the clock is read and advanced through the API', async () => {
    const before = await call('GET', '/clock');
    assert.equal(before.json.mode, 'manual');
    const advanced = await call('POST', '/clock/advance', { ms: 90_000 });
    assert.equal(advanced.json.now, before.json.now + 90_000);
    assert.equal((await call('POST', '/clock/advance', { ms: -1 })).json.error.code, 'invalid_ms');
  });

  test('tokens are revoked through the API and EWS then answers 401', async () => {
    assert.equal(
      (await ews(sim, '<x/>', 'Bearer t1')).status,
      500,
      'a known token reaches EWS (bad XML → fault)',
    );
    assert.deepEqual((await call('POST', '/tokens/revoke', { token: 't1' })).json, { revoked: true });
    assert.equal((await ews(sim, '<x/>', 'Bearer t1')).status, 401);
    assert.deepEqual((await call('POST', '/tokens/revoke', { token: 'never-issued' })).json, {
      revoked: false,
    });
  });

  test('errors are JSON with a code and a 4xx status', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['GET', '/nope', undefined, 404, 'not_found'],
      ['GET', '/mailboxes/ghost@contoso.com', undefined, 404, 'mailbox_not_found'],
      ['POST', '/mailboxes', { email: 'dave@contoso.com' }, 409, 'mailbox_exists'],
      ['POST', '/mailboxes', { email: 'not-an-address' }, 400, 'invalid_email'],
      ['POST', '/mailboxes/dave@contoso.com/deliver', { subject: 'x' }, 400, 'invalid_mail'],
      ['POST', '/mailboxes/dave@contoso.com/items/AAAA/read', {}, 404, 'item_not_found'],
      ['DELETE', '/subscriptions/unknown', undefined, 404, 'subscription_not_found'],
      ['PUT', '/mailboxes', {}, 405, 'method_not_allowed'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const answer = await call(method, path, body);
      assert.equal(answer.status, status, `${method} ${path}`);
      assert.equal(answer.json.error.code, code, `${method} ${path}`);
      assert.equal(typeof answer.json.error.message, 'string');
    }
    const broken = await fetch(`${sim.url}/sim/mailboxes`, { method: 'POST', body: '{' });
    assert.equal(broken.status, 400);
    assert.equal(((await broken.json()) as { error: { code: string } }).error.code, 'invalid_json');
  });

  test('the usage text documents every route', () => {
    for (const route of [
      '/sim/mailboxes',
      '/deliver',
      '/read',
      '/subscriptions',
      '/sim/tokens/revoke',
      '/sim/clock/advance',
      '/sim/log',
    ]) {
      assert.ok(simExchangeUsage.includes(route), route);
    }
  });
});
