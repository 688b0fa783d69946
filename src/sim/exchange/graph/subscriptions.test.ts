import assert from 'node:assert/strict';
import { constants, createDecipheriv, createHmac, privateDecrypt, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { type ExchangeSimulator, startExchangeSimulator } from '../index.ts';
import { appToken, control, graph, inMinutes, rsaCertificate, startWebhook } from './testkit.ts';

const APP = { clientId: randomUUID(), secret: 'app-secret' };
const ALICE = 'alice@contoso.com';
const BOB = 'bob@contoso.com';
const mail = { subject: 'Quarterly report', from: { name: 'Carol', address: 'carol@example.com' } };
const RESOURCE = `users/${ALICE}/mailFolders('Inbox')/messages`;

let sim: ExchangeSimulator;
let hook: Awaited<ReturnType<typeof startWebhook>>;
let bearer: string;

beforeEach(async () => {
  sim = await startExchangeSimulator({
    mailboxes: [{ email: ALICE }, { email: BOB }],
    graph: { apps: [APP], validationTimeoutMs: 300 },
  });
  hook = await startWebhook();
  bearer = await appToken(sim, APP.clientId, APP.secret);
});
afterEach(async () => {
  await sim.close();
  await hook.close();
});

const subscribe = (extra: Record<string, unknown> = {}, token = bearer) =>
  graph(sim, token, 'POST', '/subscriptions', {
    changeType: 'created',
    notificationUrl: hook.url,
    lifecycleNotificationUrl: hook.lifecycleUrl,
    resource: RESOURCE,
    expirationDateTime: inMinutes(sim, 60),
    clientState: 'secret-state',
    ...extra,
  });

describe('Graph subscriptions', () => {
  test('create validates both URLs (decoded token, text/plain) and answers 201 with the subscription', async () => {
    const { status, json } = await subscribe();
    assert.equal(status, 201, JSON.stringify(json));
    assert.equal(json.applicationId, APP.clientId);
    assert.equal(json.resource, RESOURCE);
    assert.match(json.expirationDateTime, /\.\d{7}Z$/);
    const validations = hook.hits.filter((h) => h.validationToken !== undefined);
    assert.deepEqual(
      validations.map((h) => h.path),
      ['/notify', '/lifecycle'],
    );
    assert.match(validations[0]!.validationToken!, /^Validation: .* Request-Id: /);
    assert.equal(validations[0]!.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(sim.graph.subscriptions()[0]!.state, 'active');
  });

  test('a handshake answered wrongly, with an error or not in time creates nothing (400)', async () => {
    hook.answer(() => ({ status: 200, body: 'something else' }));
    const wrong = await subscribe();
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.error.code, 'ValidationError');
    assert.match(
      wrong.json.error.message,
      /^Subscription validation request failed\. Response must exactly match/,
    );
    hook.answer(() => ({ status: 500 }));
    assert.match((await subscribe()).json.error.message, /must respond with 200 OK/);
    hook.answer(() => 'hang');
    const slow = await subscribe();
    assert.equal(slow.status, 400);
    assert.match(slow.json.error.message, /no answer within 300 ms/);
    assert.deepEqual(sim.graph.subscriptions(), []);
  });

  test('documented limits: lifetime, clientState, https, encryption certificate', async () => {
    const tooLong = await subscribe({ expirationDateTime: inMinutes(sim, 10_081) });
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.json.error.message, /10080 minutes/);
    assert.equal((await subscribe({ expirationDateTime: inMinutes(sim, 10_079) })).status, 201);
    const past = await subscribe({ expirationDateTime: inMinutes(sim, -1) });
    assert.equal(past.status, 400);
    assert.equal((await subscribe({ clientState: 'x'.repeat(129) })).status, 400);
    const http = await subscribe({ notificationUrl: 'http://webhook.example.com/notify' });
    assert.match(http.json.error.message, /HTTPS/);
    const rich = await subscribe({ includeResourceData: true });
    assert.match(rich.json.error.message, /encryptionCertificate/);
    const cert = await rsaCertificate();
    const richLong = await subscribe({
      includeResourceData: true,
      encryptionCertificate: cert.der.toString('base64'),
      encryptionCertificateId: 'c1',
      expirationDateTime: inMinutes(sim, 1_441),
    });
    assert.match(richLong.json.error.message, /1440 minutes/);
  });

  test('renew with PATCH, re-handshake on a new URL, delete; expired subscriptions are removed', async () => {
    const { json } = await subscribe();
    const target = inMinutes(sim, 120);
    const renewed = await graph(sim, bearer, 'PATCH', `/subscriptions/${json.id}`, {
      expirationDateTime: target,
    });
    assert.equal(renewed.status, 200);
    assert.equal(Date.parse(renewed.json.expirationDateTime), Date.parse(target));
    const before = hook.hits.length;
    const moved = await graph(sim, bearer, 'PATCH', `/subscriptions/${json.id}`, {
      notificationUrl: `${hook.url}&v=2`,
    });
    assert.equal(moved.status, 200);
    assert.equal(hook.hits.length, before + 1, 'the new URL was validated');
    assert.equal((await graph(sim, bearer, 'DELETE', `/subscriptions/${json.id}`)).status, 204);
    assert.equal((await graph(sim, bearer, 'GET', `/subscriptions/${json.id}`)).status, 404);

    const second = await subscribe({ expirationDateTime: inMinutes(sim, 30) });
    await sim.advance(31 * 60_000);
    assert.equal(sim.graph.subscriptions().find((s) => s.id === second.json.id)?.state, 'expired');
    await sim.deliver(ALICE, mail, { wait: true });
    assert.equal(hook.notifications().length, 0, 'an expired subscription gets nothing');
  });

  test('RBAC scope and delegated tokens: 403 outside the allowed mailboxes; me/ works for delegated', async () => {
    const scoped = { clientId: randomUUID(), secret: 'x' };
    sim.graph.registerApp({ ...scoped, mailboxes: [BOB] });
    const scopedBearer = await appToken(sim, scoped.clientId, scoped.secret);
    const denied = await subscribe({}, scopedBearer);
    assert.equal(denied.status, 403);
    assert.equal(denied.json.error.code, 'ErrorAccessDenied');
    const { access_token } = await sim.graph.delegatedToken(ALICE);
    const me = await subscribe({ resource: "me/mailFolders('Inbox')/messages" }, access_token);
    assert.equal(me.status, 201, JSON.stringify(me.json));
    const other = await graph(sim, access_token, 'GET', `/users/${BOB}/mailFolders/inbox`);
    assert.equal(other.status, 403);
    const appMe = await subscribe({ resource: "me/mailFolders('Inbox')/messages" });
    assert.equal(appMe.status, 400);
    // An opaque delegated token, as --graph-token EMAIL:TOKEN registers it.
    assert.equal(
      (await control(sim, 'POST', '/graph/tokens', { email: BOB, token: 'bob-opaque' })).status,
      200,
    );
    const bobInbox = await graph(sim, 'bob-opaque', 'GET', "/me/mailFolders('Inbox')");
    assert.equal(bobInbox.status, 200);
    assert.equal(bobInbox.json.totalItemCount, 0);
  });
});

describe('Graph notifications', () => {
  test('a delivered mail notifies every live subscription with the documented payload', async () => {
    const { json: sub } = await subscribe({ resource: `users/${ALICE}/mailFolders/inbox/messages` });
    const { itemId, graph: outcomes } = await sim.deliver(ALICE, mail, { wait: true });
    assert.deepEqual(outcomes, [
      { subscriptionId: sub.id, result: 'ok', status: 202, error: undefined, nextRetryAt: undefined },
    ]);
    const [hit] = hook.notifications();
    assert.equal(hit!.headers['content-type'], 'application/json; charset=utf-8');
    const [n] = hit!.json.value;
    assert.equal(n.subscriptionId, sub.id);
    assert.equal(n.changeType, 'created');
    assert.equal(n.clientState, 'secret-state');
    assert.equal(n.tenantId, sim.graph.tenantId);
    assert.equal(n.subscriptionExpirationDateTime, sub.expirationDateTime);
    assert.match(n.resource, /^Users\/[0-9a-f-]{36}\/Messages\/[A-Za-z0-9_-]+=*$/);
    assert.equal(n.resourceData['@odata.type'], '#Microsoft.Graph.Message');
    assert.equal(n.resourceData['@odata.id'], n.resource);
    assert.match(n.resourceData['@odata.etag'], /^W\/"/);

    const message = await graph(
      sim,
      bearer,
      'GET',
      `/users/${ALICE}/messages/${n.resourceData.id}?$select=subject,from,receivedDateTime,isRead`,
    );
    assert.equal(message.status, 200);
    assert.equal(message.json.subject, mail.subject);
    assert.deepEqual(message.json.from, { emailAddress: { name: 'Carol', address: 'carol@example.com' } });
    assert.equal(message.json.isRead, false);
    assert.equal(message.json.body, undefined, '$select limits the properties');
    assert.equal(sim.mailbox(ALICE).items[0]!.itemId, itemId);
    const inbox = await graph(sim, bearer, 'GET', `/users/${ALICE}/mailFolders('Inbox')`);
    assert.equal(inbox.json.unreadItemCount, 1);
    assert.equal(inbox.json.totalItemCount, 1);
  });

  test('a 500 is retried with backoff on the simulator clock until a 2xx', async () => {
    const { json: sub } = await subscribe();
    hook.answer((hit, n) =>
      hit.validationToken !== undefined ? 'echo' : n <= 4 ? { status: 500 } : { status: 202 },
    );
    const { graph: outcomes } = await sim.deliver(ALICE, mail, { wait: true });
    assert.equal(outcomes![0]!.result, 'failed');
    assert.ok(outcomes![0]!.nextRetryAt);
    await sim.advance(60_000);
    await sim.advance(120_000);
    await hook.until(() => hook.notifications().length === 3);
    const attempts = sim.graph.attempts({ subscriptionId: sub.id, kind: 'change' });
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.status, a.ok]),
      [
        [1, 500, false],
        [2, 500, false],
        [3, 202, true],
      ],
    );
    const { status, json } = await control(
      sim,
      'GET',
      `/graph/notifications?subscriptionId=${sub.id}&kind=change`,
    );
    assert.equal(status, 200);
    assert.equal(json.attempts.length, 3);
  });

  test('rich notifications decrypt with the private key, the HMAC checks, and validationTokens verify', async () => {
    const cert = await rsaCertificate();
    const { json: sub } = await subscribe({
      includeResourceData: true,
      encryptionCertificate: cert.der.toString('base64'),
      encryptionCertificateId: 'my-cert-1',
      changeType: 'created,updated',
    });
    assert.equal(sub.includeResourceData, true);
    await sim.deliver(ALICE, mail, { wait: true });
    const body = hook.notifications()[0]!.json;
    const content = body.value[0].encryptedContent;
    assert.equal(content.encryptionCertificateId, 'my-cert-1');
    const key = privateDecrypt(
      { key: cert.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      Buffer.from(content.dataKey, 'base64'),
    );
    assert.equal(key.length, 32);
    const data = Buffer.from(content.data, 'base64');
    assert.equal(createHmac('sha256', key).update(data).digest('base64'), content.dataSignature);
    const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
    const message = JSON.parse(Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8'));
    assert.equal(message.subject, mail.subject);
    assert.equal(message.from.emailAddress.address, 'carol@example.com');
    assert.equal(message.isRead, false);
    assert.equal(message.id, body.value[0].resourceData.id);

    const jwks = createRemoteJWKSet(new URL(sim.graph.jwksUri));
    assert.equal(body.validationTokens.length, 1);
    const { payload } = await jwtVerify(body.validationTokens[0], jwks, {
      audience: APP.clientId,
      issuer: `https://sts.windows.net/${sim.graph.tenantId}/`,
      currentDate: new Date(sim.now()),
    });
    assert.equal(payload.appid, '0bf30f3b-4a52-48df-9a82-234910c4a086');

    // Tamper fault: the next signature is wrong, the one after is right again.
    assert.equal(
      (await control(sim, 'POST', `/graph/subscriptions/${sub.id}/corrupt-signature`)).status,
      200,
    );
    await sim.markRead(ALICE, sim.mailbox(ALICE).items[0]!.itemId, true, { wait: true });
    await sim.deliver(ALICE, mail, { wait: true });
    const [tampered, clean] = hook
      .notifications()
      .slice(1)
      .map((h) => h.json.value[0]);
    assert.equal(tampered.changeType, 'updated');
    const check = (c: { dataKey: string; data: string; dataSignature: string }) => {
      const k = privateDecrypt(
        { key: cert.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
        Buffer.from(c.dataKey, 'base64'),
      );
      return (
        createHmac('sha256', k).update(Buffer.from(c.data, 'base64')).digest('base64') === c.dataSignature
      );
    };
    assert.equal(check(tampered.encryptedContent), false);
    assert.equal(check(clean.encryptedContent), true);
  });

  test('lifecycle events reach the lifecycle URL; reauthorizationRequired holds notifications until reauthorize', async () => {
    const { json: sub } = await subscribe();
    const missed = await control(sim, 'POST', `/graph/subscriptions/${sub.id}/lifecycle`, {
      event: 'missed',
    });
    assert.equal(missed.status, 200);
    const reauth = await control(sim, 'POST', `/graph/subscriptions/${sub.id}/lifecycle`, {
      event: 'reauthorizationRequired',
    });
    assert.equal(reauth.json.subscription.reauthorizationRequired, true);
    const lifecycle = hook.notifications('/lifecycle').map((h) => h.json.value[0]);
    assert.deepEqual(
      lifecycle.map((l) => l.lifecycleEvent),
      ['missed', 'reauthorizationRequired'],
    );
    assert.equal(lifecycle[0].subscriptionId, sub.id);
    assert.equal(lifecycle[0].clientState, 'secret-state');
    assert.equal(lifecycle[0].organizationId, sim.graph.tenantId);

    const held = await sim.deliver(ALICE, mail, { wait: true });
    assert.deepEqual(held.graph, [{ subscriptionId: sub.id, result: 'held' }]);
    assert.equal(hook.notifications().length, 0);
    assert.equal((await graph(sim, bearer, 'POST', `/subscriptions/${sub.id}/reauthorize`)).status, 204);
    await hook.until(() => hook.notifications().length === 1);

    await control(sim, 'POST', `/graph/subscriptions/${sub.id}/lifecycle`, { event: 'subscriptionRemoved' });
    assert.equal(
      hook.notifications('/lifecycle').at(-1)!.json.value[0].lifecycleEvent,
      'subscriptionRemoved',
    );
    assert.equal((await graph(sim, bearer, 'GET', `/subscriptions/${sub.id}`)).status, 404);
  });
});
