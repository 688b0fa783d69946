/**
 * Issue 8 end to end, on both databases: Exchange Online mailboxes through Microsoft Graph change
 * notifications, against the Graph side of the Exchange simulator and the APNs simulator.
 * - app-only (the tenant's Entra application): a mail delivered in the simulator reaches APNs with
 *   its sender, subject and the Inbox unread count, which Herald read with the app's token;
 * - delegated (the device's own token, dropped after use): the subject and sender come encrypted
 *   in the rich notification, which Herald decrypts; the badge is the last known count;
 * - renewal near expiry (app-only by the renewal job; delegated through a checkin push and the
 *   device's check-in with a fresh token), subscriptionRemoved repaired, reauthorizationRequired
 *   answered, missed refreshing the badge;
 * - a wrong clientState refused (403) and counted, a tampered rich notification refused and
 *   counted, no push for either; the validation handshake; bad requests get clear errors;
 * - no token, secret, subject or address in the logs.
 * Herald runs on the simulator's clock, so days of subscription lifetime pass in milliseconds.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startPushPeers } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP_ID = 'com.example.mail';
const GRAPH_APP = { clientId: randomUUID(), secret: 'graph-app-secret-that-must-not-leak' };
const APP_TENANT = {
  id: 'fabrikam',
  token: 'fabrikam-graph-tenant-token-0123456789',
  domain: 'fabrikam.example',
};
const DELEGATED_TENANT = {
  id: 'tailspin',
  token: 'tailspin-graph-tenant-token-0123456789',
  domain: 'tailspin.example',
};
const EWS_TENANT = { id: 'contoso', token: 'contoso-ews-only-tenant-token-0123456789' };
const CAROL = { name: 'Carol Finance', address: 'carol@partner.example' };
const HOUR = 3_600_000;

let seq = 0;

interface ApsPayload {
  aps: { alert?: { title?: string; body?: string }; badge?: number; 'content-available'?: number };
  herald?: { type?: string; registrationId?: string; itemId?: string };
}

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`Microsoft Graph [${database.name}]`, { skip: skip ?? false }, () => {
    let sim: ExchangeSimulator;
    let peers: PushPeers;
    let herald: RunningHerald;
    let dropDatabase: () => Promise<void> = async () => {};
    const api = {} as Record<'app' | 'delegated' | 'ews', ReturnType<typeof deviceClient>>;
    const keys = {} as Record<'app' | 'delegated', PublicKeyAnswer>;
    const tokens: string[] = [];
    const subjects: string[] = [];

    before(async () => {
      sim = await startExchangeSimulator({ clock: { mode: 'manual' }, graph: { apps: [GRAPH_APP] } });
      const dir = mkdtempSync(join(tmpdir(), 'herald-graph-'));
      peers = await startPushPeers(dir, { now: () => sim.now() });
      const target = await database.forServer();
      dropDatabase = target.drop;
      const graphTenant = (domain: string, app?: typeof GRAPH_APP) => ({
        tenantId: sim.graph.tenantId,
        domains: [domain],
        ...(app ? { app: { clientId: app.clientId, clientSecret: app.secret } } : {}),
      });
      herald = await startHerald({
        ...(target.url ? { database: target.url } : {}),
        dataDir: dir,
        config: {
          tenants: [
            {
              id: APP_TENANT.id,
              apiToken: APP_TENANT.token,
              apps: [peers.app(APP_ID)],
              graph: graphTenant(APP_TENANT.domain, GRAPH_APP),
            },
            {
              id: DELEGATED_TENANT.id,
              apiToken: DELEGATED_TENANT.token,
              apps: [peers.app(APP_ID)],
              graph: graphTenant(DELEGATED_TENANT.domain),
            },
            { id: EWS_TENANT.id, apiToken: EWS_TENANT.token, apps: [peers.app(APP_ID)] },
          ],
          trust: { caFiles: [peers.caFile] },
          push: { retryBaseSeconds: 0, pollMilliseconds: 20 },
          graph: {
            authorityHost: sim.url,
            graphUrl: sim.graph.graphUrl,
            jwksUrl: `${sim.url}/common/discovery/v2.0/keys`,
            // Passes are run by the tests; the scheduled ones stay out of the way.
            renewal: { intervalSeconds: 3600 },
          },
        },
        overrides: { now: () => sim.now() },
      });
      api.app = deviceClient(herald.url, APP_TENANT.token);
      api.delegated = deviceClient(herald.url, DELEGATED_TENANT.token);
      api.ews = deviceClient(herald.url, EWS_TENANT.token);
      keys.app = (await api.app('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
      keys.delegated = (await api.delegated('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
    });

    after(async () => {
      if (process.env.GRAPH_TEST_LOGS) console.log(herald?.logs.text());
      await herald?.stop();
      await peers?.close();
      await sim?.close();
      await dropDatabase();
    });

    function mailbox(domain: string): string {
      const email = `user${++seq}@${domain}`;
      sim.createMailbox({ email, displayName: `User ${seq}` });
      return email;
    }

    async function delegatedToken(email: string): Promise<string> {
      const { access_token } = await sim.graph.delegatedToken(email);
      tokens.push(access_token);
      return access_token;
    }

    /** A device registered for a fresh mailbox of the app-only or the delegated tenant. */
    async function registered(kind: 'app' | 'delegated') {
      const email = mailbox(kind === 'app' ? APP_TENANT.domain : DELEGATED_TENANT.domain);
      const pushToken = apnsToken(5000 + seq);
      const credentials =
        kind === 'delegated'
          ? await encryptCredentials(keys.delegated, {
              type: 'oauth',
              accessToken: await delegatedToken(email),
            })
          : undefined;
      const created = await api[kind]('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken, appId: APP_ID },
        // No provider: the mailbox's domain is one of the tenant's Graph domains.
        account: { email, ...(credentials ? { credentials } : {}) },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const registrationId = created.body?.registrationId as string;
      const record = await herald.service.store.graphSubscriptions.get(registrationId);
      assert.ok(record?.subscriptionId, 'the Graph subscription is stored');
      return { email, pushToken, registrationId, subscriptionId: record.subscriptionId };
    }

    const subscription = (id: string) => sim.graph.subscriptions().find((s) => s.id === id);
    const liveFor = (email: string) =>
      sim.graph.subscriptions().filter((s) => s.mailbox.toLowerCase() === email && s.state === 'active');
    const pushesTo = (token: string) => peers.apns.received({ token }).map((p) => p.payload as ApsPayload);

    async function deliver(email: string, subject: string) {
      subjects.push(subject);
      return sim.deliver(email, { subject, from: CAROL }, { wait: true });
    }

    async function metric(name: string, labels: string): Promise<number> {
      const line = (await herald.service.metrics.text())
        .split('\n')
        .find((l) => l.startsWith(`${name}{${labels}}`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    }

    test('app-only: a mail reaches APNs with sender, subject and unread count; unregistering deletes the subscription', async () => {
      const { email, pushToken, registrationId, subscriptionId } = await registered('app');
      const sub = subscription(subscriptionId)!;
      assert.equal(sub.notificationUrl, `${herald.url}/api/ens/v1/graph/notify/${registrationId}`);
      assert.equal(
        sub.lifecycleNotificationUrl,
        `${herald.url}/api/ens/v1/graph/lifecycle/${registrationId}`,
      );
      assert.equal(sub.resource, `users/${email}/mailFolders('Inbox')/messages`);
      assert.equal(sub.changeType, 'created');
      assert.equal(sub.includeResourceData, false);
      assert.equal(sub.applicationId, GRAPH_APP.clientId);
      // Both URLs answered the validation handshake.
      const validations = sim.graph
        .attempts({ kind: 'validation' })
        .filter((a) => a.url.includes(registrationId));
      assert.equal(validations.length, 2);
      assert.ok(validations.every((a) => a.ok));
      const record = await herald.service.store.graphSubscriptions.get(registrationId);
      assert.equal(record?.auth, 'app');
      assert.match(record!.clientStateHash, /^hmac-sha256:/);
      assert.ok(record!.renewAt! < record!.expiresAt!, 'renewal is planned before the expiry');

      const first = await deliver(email, 'Quarterly numbers (Graph)');
      assert.deepEqual(
        first.graph?.map((o) => o.result),
        ['ok'],
      );
      const [push] = await waitFor(() => {
        const p = pushesTo(pushToken);
        return p.length > 0 && p;
      }, 'the app-only push');
      assert.deepEqual(push!.aps.alert, { title: CAROL.name, body: 'Quarterly numbers (Graph)' });
      assert.equal(push!.aps.badge, 1);
      assert.equal(push!.herald?.registrationId, registrationId);
      assert.ok(push!.herald?.itemId, 'the push names the Graph message');

      // A second mail: a second alert, the badge counted by Graph.
      await deliver(email, 'Second mail');
      const pushes = await waitFor(() => {
        const p = pushesTo(pushToken);
        return p.length === 2 && p;
      }, 'the second push');
      assert.equal(pushes[1]!.aps.badge, 2);

      const deleted = await api.app('DELETE', `/v1/registrations/${registrationId}`);
      assert.equal(deleted.status, 204);
      assert.equal(subscription(subscriptionId)?.state, 'deleted');
      assert.equal(await herald.service.store.graphSubscriptions.get(registrationId), undefined);
    });

    test('delegated: subject and sender come encrypted in the notification and are decrypted; the token is not kept', async () => {
      const { email, pushToken, registrationId, subscriptionId } = await registered('delegated');
      const sub = subscription(subscriptionId)!;
      assert.equal(sub.includeResourceData, true);
      assert.equal(sub.resource.startsWith('me/'), true);
      const record = await herald.service.store.graphSubscriptions.get(registrationId);
      assert.equal(record?.auth, 'delegated');
      assert.ok(record?.encryptionCertificateId, 'Herald gave Graph its own encryption certificate');
      const stored = await herald.service.store.registrations.get(registrationId);
      assert.equal(stored?.accountEnc, '', 'no credential is stored for a delegated registration');
      assert.equal(stored?.unreadCount, 0, 'the unread count read with the token at registration');

      await deliver(email, 'Board minutes (rich)');
      const [push] = await waitFor(() => {
        const p = pushesTo(pushToken);
        return p.length > 0 && p;
      }, 'the delegated push');
      assert.deepEqual(push!.aps.alert, { title: CAROL.name, body: 'Board minutes (rich)' });
      assert.equal(push!.aps.badge, 1, 'the last known count, moved on by the new unread mail');
      // The ciphertext travelled in the outbox only until the push was sent.
      await waitFor(async () => {
        const rows = await herald.service.store.outbox.listForRegistration(registrationId);
        return rows.length === 1 && rows[0]!.status === 'done' && rows;
      }, 'the outbox row to complete');
      const [row] = await herald.service.store.outbox.listForRegistration(registrationId);
      assert.equal((row!.payload as { encryptedContent?: unknown }).encryptedContent, undefined);
    });

    test('a subscription near expiry is renewed: app-only by the renewal job, delegated after a checkin push and a check-in', async () => {
      const app = await registered('app');
      const delegated = await registered('delegated');
      const appBefore = subscription(app.subscriptionId)!.expirationDateTime;
      const delegatedBefore = subscription(delegated.subscriptionId)!.expirationDateTime;
      // Nothing is due yet.
      assert.deepEqual(await herald.service.graphRenewal.run(), {
        renewed: 0,
        recreated: 0,
        askedDevice: 0,
        failed: 0,
        skipped: 0,
        deleted: 0,
        deletionsFailed: 0,
      });

      // 17 hours on: the 1-day delegated subscription is inside its renewal window (8 h).
      await sim.advance(17 * HOUR);
      const first = await herald.service.graphRenewal.run();
      assert.ok(first && first.askedDevice >= 1, JSON.stringify(first));
      assert.equal(
        (await herald.service.store.registrations.get(delegated.registrationId))?.state,
        'needs_credentials',
      );
      const checkinPush = await waitFor(
        () => pushesTo(delegated.pushToken).find((p) => p.herald?.type === 'checkin'),
        'the checkin push',
      );
      assert.equal(checkinPush.aps['content-available'], 1);
      // The device checks in without a token: it is told one is needed.
      const bare = await api.delegated('POST', `/v1/registrations/${delegated.registrationId}/checkin`, {});
      assert.deepEqual(bare.body, { state: 'needs_credentials' });
      const credentials = await encryptCredentials(keys.delegated, {
        type: 'oauth',
        accessToken: await delegatedToken(delegated.email),
      });
      const checkin = await api.delegated('POST', `/v1/registrations/${delegated.registrationId}/checkin`, {
        account: { credentials },
      });
      assert.equal(checkin.status, 200, JSON.stringify(checkin.body));
      assert.deepEqual(checkin.body, { state: 'active' });
      assert.ok(
        Date.parse(subscription(delegated.subscriptionId)!.expirationDateTime) > Date.parse(delegatedBefore),
        'Graph has the delegated subscription renewed',
      );
      assert.equal((await herald.service.store.registrations.get(delegated.registrationId))?.state, 'active');

      // 96 more hours: the 7-day app-only subscription is inside its window (56 h).
      await sim.advance(96 * HOUR);
      const second = await herald.service.graphRenewal.run();
      assert.ok(second && second.renewed >= 1, JSON.stringify(second));
      const renewed = subscription(app.subscriptionId)!;
      assert.equal(renewed.state, 'active');
      assert.ok(Date.parse(renewed.expirationDateTime) > Date.parse(appBefore));
      const record = await herald.service.store.graphSubscriptions.get(app.registrationId);
      assert.equal(record?.expiresAt, Date.parse(renewed.expirationDateTime));
      assert.ok(record!.renewAt! > sim.now());
      assert.ok(
        (await metric('herald_graph_subscription_renewals_total', 'action="renew",result="ok"')) >= 2,
      );

      // Still delivering after the renewal.
      await deliver(app.email, 'After renewal');
      await waitFor(
        () => pushesTo(app.pushToken).find((p) => p.aps.alert?.body === 'After renewal'),
        'a push after the renewal',
      );
    });

    test('a forced subscriptionRemoved is repaired: app-only re-created at once, delegated at the next check-in', async () => {
      const app = await registered('app');
      await sim.graph.lifecycle(app.subscriptionId, 'subscriptionRemoved');
      const [replacement] = await waitFor(() => {
        const live = liveFor(app.email);
        return live.length === 1 && live[0]!.id !== app.subscriptionId && live;
      }, 'a new app-only subscription');
      const record = await herald.service.store.graphSubscriptions.get(app.registrationId);
      assert.equal(record?.subscriptionId, replacement!.id);
      assert.equal(record?.state, 'active');
      assert.equal(record?.lastLifecycleEvent, 'subscriptionRemoved');
      await deliver(app.email, 'Through the new subscription');
      await waitFor(
        () => pushesTo(app.pushToken).find((p) => p.aps.alert?.body === 'Through the new subscription'),
        'a push through the re-created subscription',
      );

      const delegated = await registered('delegated');
      await sim.graph.lifecycle(delegated.subscriptionId, 'subscriptionRemoved');
      await waitFor(
        () => pushesTo(delegated.pushToken).find((p) => p.herald?.type === 'checkin'),
        'a checkin push asking for a token',
      );
      const credentials = await encryptCredentials(keys.delegated, {
        type: 'oauth',
        accessToken: await delegatedToken(delegated.email),
      });
      const checkin = await api.delegated('POST', `/v1/registrations/${delegated.registrationId}/checkin`, {
        account: { credentials },
      });
      assert.deepEqual(checkin.body, { state: 'resubscribed' });
      const live = liveFor(delegated.email);
      assert.equal(live.length, 1);
      assert.notEqual(live[0]!.id, delegated.subscriptionId);
      await deliver(delegated.email, 'Rich again');
      await waitFor(
        () => pushesTo(delegated.pushToken).find((p) => p.aps.alert?.body === 'Rich again'),
        'a push through the re-created delegated subscription',
      );
    });

    test('reauthorizationRequired is answered by a renewal; missed refreshes the badge', async () => {
      const app = await registered('app');
      await sim.graph.lifecycle(app.subscriptionId, 'reauthorizationRequired');
      await waitFor(
        () => subscription(app.subscriptionId)?.reauthorizationRequired === false && true,
        'the subscription reauthorized',
      );
      await waitFor(async () => {
        const r = await herald.service.store.graphSubscriptions.get(app.registrationId);
        return r?.state === 'active' && r.lastLifecycleEvent === 'reauthorizationRequired';
      }, 'the record back to active');

      const mail = await deliver(app.email, 'Read elsewhere');
      await waitFor(
        () =>
          pushesTo(app.pushToken).find((p) => p.aps.alert?.body === 'Read elsewhere' && p.aps.badge === 1),
        'the alert for the mail',
      );
      // Read in another client: the subscription is for created messages only, so Herald does not
      // hear of it; Graph's missed event makes Herald read the count again.
      await sim.markRead(app.email, mail.itemId, true, { wait: true });
      await sim.graph.lifecycle(app.subscriptionId, 'missed');
      const badge = await waitFor(
        () => pushesTo(app.pushToken).find((p) => p.aps.alert === undefined),
        'a badge-only push after missed',
      );
      assert.deepEqual(badge.aps, { badge: 0 });
      assert.ok((await metric('herald_graph_lifecycle_events_total', 'event="missed"')) >= 1);
    });

    test('app-only: a DELETE that fails at unregistering is tried again by the renewal job until it succeeds', async () => {
      const { registrationId, subscriptionId } = await registered('app');
      // Graph is unavailable for the next two DELETEs.
      sim.graph.fault({
        method: 'DELETE',
        path: '/subscriptions',
        status: 503,
        times: 2,
        retryAfterSeconds: 30,
      });
      const deleted = await api.app('DELETE', `/v1/registrations/${registrationId}`);
      assert.equal(deleted.status, 204, 'unregistering does not wait on Graph');
      assert.equal(subscription(subscriptionId)?.state, 'active');
      const [task] = await herald.service.store.graphDeletions.due(sim.now() + 60_000, 10);
      assert.equal(task?.subscriptionId, subscriptionId);
      assert.equal(task?.lastError, '503:serviceNotAvailable');
      assert.equal(task?.expiresAt, Date.parse(subscription(subscriptionId)!.expirationDateTime));
      // Not due yet; then due, and Graph still refuses; then it goes through.
      const quiet = await herald.service.graphRenewal.run();
      assert.equal(quiet?.deleted, 0);
      assert.equal(quiet?.deletionsFailed, 0);
      await sim.advance(61_000);
      const again = await herald.service.graphRenewal.run();
      assert.equal(again?.deletionsFailed, 1);
      assert.equal(subscription(subscriptionId)?.state, 'active');
      await sim.advance(2 * 60_000 + 1000);
      const done = await herald.service.graphRenewal.run();
      assert.equal(done?.deleted, 1);
      assert.equal(subscription(subscriptionId)?.state, 'deleted');
      assert.equal(await herald.service.store.graphDeletions.count(), 0);
      assert.equal(
        await metric('herald_graph_subscription_renewals_total', 'action="delete",result="ok"'),
        1,
      );
      assert.equal(
        await metric('herald_graph_subscription_renewals_total', 'action="delete",result="failed"'),
        1,
      );
    });

    test('a wrong clientState is refused with 403 and counted; nothing is queued or pushed', async () => {
      const { registrationId, subscriptionId, pushToken } = await registered('app');
      const before = await metric('herald_graph_notifications_total', 'kind="change",result="client_state"');
      const forged = await fetch(`${herald.url}/api/ens/v1/graph/notify/${registrationId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          value: [
            {
              subscriptionId,
              clientState: 'not-the-client-state',
              changeType: 'created',
              resource: 'users/x/messages/AAMk1',
              resourceData: { id: 'AAMk1' },
              tenantId: sim.graph.tenantId,
              subscriptionExpirationDateTime: new Date(sim.now() + HOUR).toISOString(),
            },
          ],
        }),
      });
      assert.equal(forged.status, 403);
      assert.deepEqual(
        ((await forged.json()) as { error: { code: string } }).error.code,
        'invalid_client_state',
      );
      assert.equal(
        await metric('herald_graph_notifications_total', 'kind="change",result="client_state"'),
        before + 1,
      );
      assert.deepEqual(await herald.service.store.outbox.listForRegistration(registrationId), []);
      assert.equal(pushesTo(pushToken).length, 0);
    });

    test('a tampered rich notification is refused and counted; the next one goes through', async () => {
      const { email, registrationId, subscriptionId, pushToken } = await registered('delegated');
      const before = await metric(
        'herald_graph_notifications_total',
        'kind="change",result="encrypted_content"',
      );
      sim.graph.corruptNextSignature(subscriptionId);
      const tampered = await deliver(email, 'Tampered in transit');
      assert.equal(tampered.graph?.[0]?.status, 400, 'Herald refused the tampered notification');
      assert.equal(
        await metric('herald_graph_notifications_total', 'kind="change",result="encrypted_content"'),
        before + 1,
      );
      assert.deepEqual(await herald.service.store.outbox.listForRegistration(registrationId), []);
      await deliver(email, 'Intact');
      const pushes = await waitFor(() => {
        const p = pushesTo(pushToken);
        return p.length > 0 && p;
      }, 'the push for the intact mail');
      assert.deepEqual(
        pushes.map((p) => p.aps.alert?.body),
        ['Intact'],
      );
    });

    test('the validation handshake, unknown registrations and malformed bodies', async () => {
      const handshake = await fetch(
        `${herald.url}/api/ens/v1/graph/notify/anything?validationToken=a%20b%2Bc`,
        {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
        },
      );
      assert.equal(handshake.status, 200);
      assert.match(handshake.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(await handshake.text(), 'a b+c');
      const body = JSON.stringify({
        value: [
          {
            subscriptionId: 'gone',
            clientState: 'x',
            changeType: 'created',
            resource: 'r',
            resourceData: { id: 'm' },
            tenantId: sim.graph.tenantId,
            subscriptionExpirationDateTime: new Date().toISOString(),
          },
        ],
      });
      const unknown = await fetch(`${herald.url}/api/ens/v1/graph/notify/no-such-registration`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(unknown.status, 202, 'acknowledged and dropped, so Graph does not retry');
      const { registrationId } = await registered('app');
      for (const [payload, type, status, code] of [
        ['{"value": [', 'application/json', 400, 'invalid_notification'],
        ['{"value": []}', 'application/json', 400, 'invalid_notification'],
        ['<xml/>', 'application/xml', 415, 'unsupported_media_type'],
      ] as const) {
        const response = await fetch(`${herald.url}/api/ens/v1/graph/lifecycle/${registrationId}`, {
          method: 'POST',
          headers: { 'content-type': type },
          body: payload,
        });
        assert.equal(response.status, status, payload);
        assert.equal(((await response.json()) as { error: { code: string } }).error.code, code);
      }
    });

    test('registration errors: no Graph settings, missing or wrong credentials, a refused token', async () => {
      const device = { platform: 'ios', pushToken: apnsToken(9001), appId: APP_ID };
      const noGraph = await api.ews('POST', '/v1/registrations', {
        device,
        account: { email: 'x@contoso.example', provider: 'graph' },
      });
      assert.equal(noGraph.status, 422);
      assert.equal((noGraph.body as { error: { code: string } }).error.code, 'graph_not_configured');

      const email = mailbox(DELEGATED_TENANT.domain);
      const missing = await api.delegated('POST', '/v1/registrations', { device, account: { email } });
      assert.equal(missing.status, 422);
      assert.equal((missing.body as { error: { code: string } }).error.code, 'credentials_required');

      const basic = await api.delegated('POST', '/v1/registrations', {
        device,
        account: {
          email,
          credentials: await encryptCredentials(keys.delegated, {
            type: 'basic',
            username: email,
            password: 'pw',
          }),
        },
      });
      assert.equal(basic.status, 400);
      assert.equal((basic.body as { error: { code: string } }).error.code, 'invalid_credentials_payload');

      const refused = await api.delegated('POST', '/v1/registrations', {
        device,
        account: {
          email,
          credentials: await encryptCredentials(keys.delegated, {
            type: 'oauth',
            accessToken: 'not-a-graph-token',
          }),
        },
      });
      assert.equal(refused.status, 502, JSON.stringify(refused.body));
      assert.equal((refused.body as { error: { code: string } }).error.code, 'exchange_auth_failed');
      assert.equal(liveFor(email).length, 0);
      const kept = await herald.service.store.registrations.list(
        { tenantId: DELEGATED_TENANT.id },
        { limit: 1000 },
      );
      assert.ok(
        kept.every((r) => r.state !== 'pending'),
        'a refused registration is not kept',
      );
    });

    test('no token, secret, subject or mailbox address reaches the logs', () => {
      const text = herald.logs.text();
      assert.ok(tokens.length > 0 && subjects.length > 0);
      for (const secret of [...tokens, GRAPH_APP.secret, ...subjects]) {
        assert.equal(text.includes(secret), false, `the logs hold ${secret.slice(0, 12)}…`);
      }
      assert.doesNotMatch(text, /user\d+@(fabrikam|tailspin)\.example/);
    });
  });
}
