import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../sim/exchange/index.ts';
import { GraphClient } from './client.ts';
import { GraphRequestError, toHeraldError } from './errors.ts';
import { subscriptionExpiration } from './limits.ts';
import { checkClientState, hashClientState, newClientState } from './notifications.ts';
import { startReceiver, startScripted } from './test-support.ts';
import { ClientCredentialsTokenSource } from './token.ts';

const APP = { clientId: randomUUID(), secret: 'graph-client-secret' };
const ALICE = 'alice@contoso.com';
const mail = { subject: 'Quarterly report', from: { name: 'Carol', address: 'carol@example.com' } };

let sim: ExchangeSimulator;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let tokens: ClientCredentialsTokenSource;
let client: GraphClient;

beforeEach(async () => {
  sim = await startExchangeSimulator({ mailboxes: [{ email: ALICE }], graph: { apps: [APP] } });
  receiver = await startReceiver();
  tokens = new ClientCredentialsTokenSource({
    tenantId: sim.graph.tenantId,
    clientId: APP.clientId,
    credential: { type: 'secret', secret: APP.secret },
    authorityHost: sim.url,
    now: () => sim.now(),
  });
  client = new GraphClient({
    credentials: { type: 'app', tokens },
    graphUrl: sim.graph.graphUrl,
    now: () => sim.now(),
  });
});
afterEach(async () => {
  await sim.close();
  await receiver.close();
});

const subscribe = (clientState: string, c = client) =>
  c.createSubscription({
    mailbox: ALICE,
    notificationUrl: receiver.notificationUrl,
    lifecycleNotificationUrl: receiver.lifecycleUrl,
    clientState,
    expiration: subscriptionExpiration(sim.now()),
  });

describe('GraphClient subscriptions', () => {
  test('create (both URLs validated by the handshake), renew, delete; 404 on a second delete counts as done', async () => {
    const sub = await subscribe(newClientState());
    assert.deepEqual(receiver.handshakes, ['/graph/notify', '/graph/lifecycle']);
    assert.equal(sub.resource, `users/${ALICE}/mailFolders('Inbox')/messages`);
    assert.equal(sub.applicationId, APP.clientId);
    assert.ok(+sub.expirationDateTime - sim.now() > 10_000 * 60_000, 'close to the 10 080-minute maximum');
    const [info] = sim.graph.subscriptions();
    assert.equal(info!.changeType, 'created');
    assert.equal(info!.state, 'active');

    const target = new Date(sim.now() + 3 * 3_600_000);
    const renewed = await client.renewSubscription(sub.id, target);
    assert.equal(+renewed.expirationDateTime, +target);
    await client.deleteSubscription(sub.id);
    assert.equal(sim.graph.subscriptions()[0]!.state, 'deleted');
    await client.deleteSubscription(sub.id);
    const renewGone = await client.renewSubscription(sub.id, target).catch((e: unknown) => e);
    assert.ok(renewGone instanceof GraphRequestError);
    assert.equal(renewGone.status, 404);
    assert.equal(renewGone.code, 'ResourceNotFound');
    assert.equal(toHeraldError(renewGone).code, 'exchange_error');
  });

  test('a delivered mail arrives, parses, and its clientState checks; a wrong clientState does not', async () => {
    const clientState = newClientState();
    const stored = hashClientState(clientState);
    assert.doesNotMatch(stored, new RegExp(clientState));
    const sub = await subscribe(clientState);
    const { itemId } = await sim.deliver(ALICE, mail, { wait: true });
    await receiver.until(() => receiver.at('/graph/notify').length === 1);
    const [entry] = receiver.at('/graph/notify');
    assert.equal(entry!.error, undefined);
    const [change] = entry!.parsed!.changes;
    assert.equal(change!.subscriptionId, sub.id);
    assert.equal(change!.changeType, 'created');
    assert.equal(change!.tenantId, sim.graph.tenantId);
    assert.equal(+change!.subscriptionExpirationDateTime, +sub.expirationDateTime);
    assert.equal(checkClientState(stored, change!.clientState), true);
    assert.equal(checkClientState(stored, newClientState()), false);
    assert.equal(checkClientState(stored, undefined), false);
    const peppered = hashClientState(clientState, Buffer.alloc(32, 7));
    assert.equal(checkClientState(peppered, change!.clientState, Buffer.alloc(32, 7)), true);
    assert.equal(checkClientState(peppered, change!.clientState), false, 'keyed hash needs the key');
    assert.equal(checkClientState(peppered, change!.clientState, Buffer.alloc(32, 8)), false);

    const message = await client.getMessage(ALICE, change!.messageId);
    assert.equal(message.id, change!.messageId);
    assert.equal(message.subject, mail.subject);
    assert.deepEqual(message.from, mail.from);
    assert.equal(message.isRead, false);
    assert.ok(message.receivedDateTime);
    assert.equal(await client.getInboxUnreadCount(ALICE), 1);
    await sim.deliver(ALICE, { ...mail, subject: 'second' }, { wait: true });
    assert.equal(await client.getInboxUnreadCount(ALICE), 2);
    await sim.markRead(ALICE, itemId, true, { wait: true });
    assert.equal(await client.getInboxUnreadCount(ALICE), 1);
  });

  test('lifecycle events reach the lifecycle URL and parse; reauthorize releases held notifications', async () => {
    const clientState = newClientState();
    const sub = await subscribe(clientState);
    await sim.graph.lifecycle(sub.id, 'reauthorizationRequired');
    await sim.graph.lifecycle(sub.id, 'missed');
    const lifecycle = receiver.at('/graph/lifecycle').flatMap((r) => r.parsed!.lifecycle);
    assert.deepEqual(
      lifecycle.map((l) => l.lifecycleEvent),
      ['reauthorizationRequired', 'missed'],
    );
    assert.equal(lifecycle[0]!.subscriptionId, sub.id);
    assert.equal(lifecycle[0]!.tenantId, sim.graph.tenantId);
    assert.equal(checkClientState(hashClientState(clientState), lifecycle[0]!.clientState), true);
    await sim.deliver(ALICE, mail, { wait: true });
    assert.equal(receiver.at('/graph/notify').length, 0, 'held until reauthorized');
    await client.reauthorize(sub.id);
    await receiver.until(() => receiver.at('/graph/notify').length === 1);
    await sim.graph.lifecycle(sub.id, 'subscriptionRemoved');
    assert.equal(
      receiver.at('/graph/lifecycle').at(-1)!.parsed!.lifecycle[0]!.lifecycleEvent,
      'subscriptionRemoved',
    );
  });

  test('delegated: the device token subscribes on me/ and reads the same mailbox', async () => {
    const { access_token } = await sim.graph.delegatedToken(ALICE);
    const delegated = new GraphClient({
      credentials: { type: 'delegated', accessToken: access_token },
      graphUrl: sim.graph.graphUrl,
    });
    const sub = await subscribe(newClientState(), delegated);
    assert.equal(sub.resource, "me/mailFolders('Inbox')/messages");
    await sim.deliver(ALICE, mail, { wait: true });
    await receiver.until(() => receiver.at('/graph/notify').length === 1);
    const change = receiver.at('/graph/notify')[0]!.parsed!.changes[0]!;
    assert.equal((await delegated.getMessage('ignored', change.messageId)).subject, mail.subject);
    assert.equal(await delegated.getInboxUnreadCount('ignored'), 1);
    await delegated.deleteSubscription(sub.id);
  });

  test('an expired app token (401) is refreshed once and the call succeeds; a delegated 401 is final', async () => {
    const realClock = new ClientCredentialsTokenSource({
      tenantId: sim.graph.tenantId,
      clientId: APP.clientId,
      credential: { type: 'secret', secret: APP.secret },
      authorityHost: sim.url,
    });
    const c = new GraphClient({
      credentials: { type: 'app', tokens: realClock },
      graphUrl: sim.graph.graphUrl,
    });
    assert.equal(await c.getInboxUnreadCount(ALICE), 0);
    await sim.advance(2 * 3_600_000); // Graph now sees the cached token as expired
    assert.equal(await c.getInboxUnreadCount(ALICE), 0);
    assert.equal(realClock.requests, 2);

    const { access_token } = await sim.graph.delegatedToken(ALICE, { lifetimeSeconds: 60 });
    await sim.advance(10 * 60_000);
    const delegated = new GraphClient({
      credentials: { type: 'delegated', accessToken: access_token },
      graphUrl: sim.graph.graphUrl,
    });
    const error = await delegated.getInboxUnreadCount(ALICE).catch((e: unknown) => e);
    assert.ok(error instanceof GraphRequestError);
    assert.equal(error.status, 401);
    assert.equal(error.code, 'InvalidAuthenticationToken');
    assert.doesNotMatch(error.message, new RegExp(access_token.slice(-20)));
    assert.equal(toHeraldError(error).code, 'exchange_auth_failed');
  });
});

describe('GraphClient errors', () => {
  test('429 and 503 carry Retry-After; a 401 from Graph refreshes exactly once; secrets are redacted', async () => {
    const clientState = newClientState();
    const graph = await startScripted((n) => {
      if (n === 1)
        return {
          status: 429,
          headers: { 'Retry-After': '7', 'request-id': 'r-1' },
          body: { error: { code: 'TooManyRequests', message: 'slow down' } },
        };
      if (n === 2)
        return {
          status: 503,
          headers: { 'Retry-After': new Date(Date.now() + 30_000).toUTCString() },
          body: { error: { code: 'ServiceUnavailable', message: 'busy' } },
        };
      if (n === 3)
        return {
          status: 400,
          body: { error: { code: 'InvalidRequest', message: `clientState ${clientState} is bad` } },
        };
      return { status: 401, body: { error: { code: 'InvalidAuthenticationToken', message: 'expired' } } };
    });
    let issued = 0;
    const invalidated: string[] = [];
    const c = new GraphClient({
      graphUrl: `${graph.url}/v1.0`,
      credentials: {
        type: 'app',
        tokens: { getToken: async () => `token-${++issued}`, invalidate: (t) => invalidated.push(t) },
      },
    });
    try {
      const throttled = await c.getInboxUnreadCount(ALICE).catch((e: unknown) => e);
      assert.ok(throttled instanceof GraphRequestError);
      assert.equal(throttled.status, 429);
      assert.equal(throttled.code, 'TooManyRequests');
      assert.equal(throttled.retryAfterMs, 7000);
      assert.equal(throttled.requestId, 'r-1');
      assert.equal(throttled.retryable, true);
      assert.equal(toHeraldError(throttled).code, 'exchange_busy');
      assert.equal(toHeraldError(throttled).details?.backOffMs, 7000);
      const busy = await c.getInboxUnreadCount(ALICE).catch((e: unknown) => e);
      assert.ok(busy instanceof GraphRequestError && busy.status === 503);
      assert.ok(busy.retryAfterMs! > 20_000 && busy.retryAfterMs! <= 30_000);
      const bad = await c
        .createSubscription({
          mailbox: ALICE,
          notificationUrl: 'https://h.example/n',
          lifecycleNotificationUrl: 'https://h.example/l',
          clientState,
          expiration: new Date(Date.now() + 3_600_000),
        })
        .catch((e: unknown) => e);
      assert.ok(bad instanceof GraphRequestError && bad.status === 400);
      assert.doesNotMatch(bad.message, new RegExp(clientState));
      assert.match(bad.message, /\[redacted\]/);
      const before = issued;
      const refused = await c.getInboxUnreadCount(ALICE).catch((e: unknown) => e);
      assert.ok(refused instanceof GraphRequestError && refused.status === 401);
      assert.equal(issued - before, 2, 'one fresh token after the first 401, no more');
      assert.deepEqual(invalidated, [`token-${before + 1}`]);
      assert.doesNotMatch(refused.message, /token-/);
      assert.deepEqual(
        graph.requests.slice(-2).map((r) => r.authorization),
        [`Bearer token-${before + 1}`, `Bearer token-${before + 2}`],
      );
    } finally {
      await graph.close();
    }
  });

  test('a hanging Graph times out; a malformed answer is invalid_response', async () => {
    const hang = await startScripted(() => ({ status: 200, body: { unreadItemCount: 'many' } }));
    try {
      const c = new GraphClient({
        graphUrl: hang.url,
        credentials: { type: 'delegated', accessToken: 'opaque' },
      });
      const error = await c.getInboxUnreadCount(ALICE).catch((e: unknown) => e);
      assert.ok(error instanceof GraphRequestError);
      assert.equal(error.code, 'invalid_response');
    } finally {
      await hang.close();
    }
    const http = await import('node:http');
    const held = new Set<import('node:http').ServerResponse>();
    const server = http.createServer((_req, res) => held.add(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const c = new GraphClient({
        graphUrl: `http://127.0.0.1:${port}`,
        credentials: { type: 'delegated', accessToken: 'opaque' },
        timeoutMs: 200,
      });
      const error = await c.getInboxUnreadCount(ALICE).catch((e: unknown) => e);
      assert.ok(error instanceof GraphRequestError);
      assert.equal(error.code, 'timeout');
      assert.equal(toHeraldError(error).code, 'exchange_unreachable');
    } finally {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
