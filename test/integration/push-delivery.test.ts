/**
 * Issue 3 end to end, on both databases: devices register against the Exchange simulator, a mail
 * arrives, and the APNs and FCM simulators receive exactly one push each, shaped by the content
 * policy (full, badge, silent). A 410 from APNs deactivates the registration and its next Exchange
 * callback is answered Unsubscribe; transient errors are retried up to their bound and permanent
 * ones not at all, counted on the simulators.
 */
import assert from 'node:assert/strict';
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

const APP = 'com.example.mail';
const TOKEN = 'push-test-tenant-token-0123456789';
const MAX_ATTEMPTS = 3;
const CAROL = { name: 'Carol Finance', address: 'carol@contoso.example' };

let mailboxSeq = 0;

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`push delivery [${database.name}]`, { skip: skip ?? false }, () => {
    let exchange: ExchangeSimulator;
    let peers: PushPeers;
    let herald: RunningHerald;
    let api: ReturnType<typeof deviceClient>;
    let publicKey: PublicKeyAnswer;
    let dropDatabase: () => Promise<void> = async () => {};

    before(async () => {
      exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
      const dir = mkdtempSync(join(tmpdir(), 'herald-push-'));
      peers = await startPushPeers(dir);
      const target = await database.forServer();
      dropDatabase = target.drop;
      herald = await startHerald({
        ...(target.url ? { database: target.url } : {}),
        dataDir: dir,
        config: {
          tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app(APP)] }],
          trust: { caFiles: [peers.caFile] },
          // Quick retries keep the test short; the bound is what is checked.
          push: { maxAttempts: MAX_ATTEMPTS, retryBaseSeconds: 0, pollMilliseconds: 20 },
        },
      });
      api = deviceClient(herald.url, TOKEN);
      publicKey = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
    });

    after(async () => {
      await herald?.stop();
      await peers?.close();
      await exchange?.close();
      await dropDatabase();
    });

    /** A fresh mailbox and a device registered for it. */
    async function registered(
      platform: 'ios' | 'android',
      content?: 'full' | 'badge' | 'silent',
    ): Promise<{ email: string; token: string; registrationId: string }> {
      const n = ++mailboxSeq;
      const email = `user${n}@contoso.example`;
      const password = `pw-${n}-secret`;
      exchange.createMailbox({ email, password });
      const token = platform === 'ios' ? apnsToken(1000 + n) : `fcm-token-${n}-${'x'.repeat(140)}`;
      const created = await api('POST', '/v1/registrations', {
        device: { platform, pushToken: token, appId: APP },
        account: {
          email,
          ewsUrl: exchange.ewsUrl,
          credentials: await encryptCredentials(publicKey, { type: 'basic', username: email, password }),
        },
        ...(content ? { notification: { content } } : {}),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return { email, token, registrationId: created.body?.registrationId as string };
    }

    /** Every outbox event of the registration has reached an end (done or failed). */
    async function settled(registrationId: string): Promise<void> {
      await waitFor(async () => {
        const rows = await herald.service.store.outbox.listForRegistration(registrationId);
        return rows.length > 0 && rows.every((r) => r.status === 'done' || r.status === 'failed');
      }, `the outbox of ${registrationId} to settle`);
    }

    test('iOS, content full: one alert push with sender, subject and the Inbox unread count', async () => {
      const { email, token, registrationId } = await registered('ios');
      const mail = await exchange.deliver(
        email,
        { subject: 'Quarterly numbers', from: CAROL },
        { wait: true },
      );
      await settled(registrationId);
      const pushes = peers.apns.received({ token });
      assert.equal(pushes.length, 1, 'exactly one push for one mail');
      const [push] = pushes;
      assert.deepEqual(push!.payload, {
        aps: {
          alert: { title: CAROL.name, body: 'Quarterly numbers' },
          badge: 1,
          sound: 'default',
          'mutable-content': 1,
        },
        herald: { type: 'new_mail', registrationId, itemId: mail.itemId },
      });
      assert.equal(push!.topic, APP);
      assert.equal(push!.pushType, 'alert');
      assert.equal(push!.priority, 10);
      assert.ok(push!.collapseId && Buffer.byteLength(push!.collapseId) <= 64);
      assert.equal(push!.auth.kind, 'token');

      const [delivery] = await herald.service.store.deliveries.listForRegistration(registrationId);
      assert.equal(delivery?.status, 'sent');
      assert.equal(delivery?.provider, 'apns');
      assert.equal(delivery?.itemId, mail.itemId);
      assert.equal(delivery?.providerId, push!.apnsId);
      // The sealed data key travelled with the event only while it was needed.
      const [row] = await herald.service.store.outbox.listForRegistration(registrationId);
      assert.equal((row!.payload as { wrappedKey?: string }).wrappedKey, undefined);

      // The mail is read elsewhere: a badge-only update, never a second alert.
      await exchange.markRead(email, mail.itemId, true, { wait: true });
      await settled(registrationId);
      const after = peers.apns.received({ token });
      assert.equal(after.length, 2);
      assert.deepEqual(after[1]!.payload, { aps: { badge: 0 } });
      assert.equal(after[1]!.priority, 5);
    });

    test('Android, content full: one FCM data message with type, sender, subject and unread', async () => {
      const { email, token, registrationId } = await registered('android');
      const mail = await exchange.deliver(email, { subject: 'Lunch?', from: CAROL }, { wait: true });
      await settled(registrationId);
      const messages = peers.fcm.received({ token });
      assert.equal(messages.length, 1);
      const message = messages[0]!.message as {
        data: Record<string, string>;
        android?: { priority?: string };
      };
      assert.deepEqual(message.data, {
        type: 'new_mail',
        registrationId,
        itemId: mail.itemId,
        sender: CAROL.name,
        subject: 'Lunch?',
        unread: '1',
      });
      assert.equal(messages[0]!.projectId, 'herald-test');
    });

    test('content badge: only the unread count, priority 5; FCM gets type badge without mail fields', async () => {
      const ios = await registered('ios', 'badge');
      const android = await registered('android', 'badge');
      await exchange.deliver(ios.email, { subject: 'Secret subject', from: CAROL }, { wait: true });
      await exchange.deliver(android.email, { subject: 'Secret subject', from: CAROL }, { wait: true });
      await settled(ios.registrationId);
      await settled(android.registrationId);
      const [push, ...more] = peers.apns.received({ token: ios.token });
      assert.equal(more.length, 0);
      assert.deepEqual(push!.payload, { aps: { badge: 1 } });
      assert.equal(push!.pushType, 'alert');
      assert.equal(push!.priority, 5);
      const [message] = peers.fcm.received({ token: android.token });
      assert.deepEqual((message!.message as { data: unknown }).data, {
        type: 'badge',
        registrationId: android.registrationId,
        unread: '1',
      });
    });

    test('content silent: content-available only, push type background, priority 5', async () => {
      const { email, token, registrationId } = await registered('ios', 'silent');
      const mail = await exchange.deliver(email, { subject: 'Secret subject', from: CAROL }, { wait: true });
      await settled(registrationId);
      const [push, ...more] = peers.apns.received({ token });
      assert.equal(more.length, 0);
      assert.deepEqual(push!.payload, {
        aps: { 'content-available': 1 },
        herald: { type: 'new_mail', registrationId, itemId: mail.itemId },
      });
      assert.equal(push!.pushType, 'background');
      assert.equal(push!.priority, 5);
      // Nothing was fetched from the mailbox for a silent device.
      const fetches = exchange
        .log({ kind: 'ews' })
        .filter(
          (e) => /GetItem|GetFolder/.test(e.requestBody ?? '') && (e.requestBody ?? '').includes(mail.itemId),
        );
      assert.equal(fetches.length, 0);
    });

    test('a 410 from APNs deactivates the registration; its next Exchange callback is answered Unsubscribe', async () => {
      const { email, token, registrationId } = await registered('ios');
      peers.apns.unregister(token);
      await exchange.deliver(email, { subject: 'One', from: CAROL }, { wait: true });
      await settled(registrationId);
      assert.equal(peers.apns.requests({ token }).length, 1, 'a 410 is not retried');
      const registration = await herald.service.store.registrations.get(registrationId);
      assert.equal(registration?.state, 'inactive');
      assert.match(registration?.deactivatedReason ?? '', /Unregistered/);
      const [delivery] = await herald.service.store.deliveries.listForRegistration(registrationId);
      assert.equal(delivery?.status, 'unregistered');

      const next = await exchange.deliver(email, { subject: 'Two', from: CAROL }, { wait: true });
      assert.deepEqual(
        next.outcomes?.map((o) => o.subscriptionStatus),
        ['Unsubscribe'],
      );
      assert.equal(peers.apns.requests({ token }).length, 1, 'no push for a deactivated registration');
    });

    test('FCM UNREGISTERED deactivates the registration too', async () => {
      const { email, token, registrationId } = await registered('android');
      peers.fcm.unregister(token);
      await exchange.deliver(email, { subject: 'One', from: CAROL }, { wait: true });
      await settled(registrationId);
      assert.equal(peers.fcm.requests({ token }).length, 1);
      assert.equal((await herald.service.store.registrations.get(registrationId))?.state, 'inactive');
    });

    test('a push service that stays unavailable is tried exactly push.maxAttempts times', async () => {
      const ios = await registered('ios');
      const android = await registered('android');
      peers.apns.fault(ios.token, { status: 503 });
      peers.fcm.fault(android.token, { errorCode: 'UNAVAILABLE' });
      await exchange.deliver(ios.email, { subject: 'Retry me', from: CAROL }, { wait: true });
      await exchange.deliver(android.email, { subject: 'Retry me', from: CAROL }, { wait: true });
      await settled(ios.registrationId);
      await settled(android.registrationId);
      assert.equal(peers.apns.requests({ token: ios.token }).length, MAX_ATTEMPTS);
      assert.equal(peers.fcm.requests({ token: android.token }).length, MAX_ATTEMPTS);
      const [row] = await herald.service.store.outbox.listForRegistration(ios.registrationId);
      assert.equal(row?.status, 'failed');
      assert.equal(row?.attempts, MAX_ATTEMPTS);
      assert.equal((await herald.service.store.registrations.get(ios.registrationId))?.state, 'active');
    });

    test('a transient error that clears is retried and delivered once', async () => {
      const { email, token, registrationId } = await registered('ios');
      peers.apns.fault(token, { status: 429, times: 1 });
      await exchange.deliver(email, { subject: 'Second time lucky', from: CAROL }, { wait: true });
      await settled(registrationId);
      assert.equal(peers.apns.requests({ token }).length, 2);
      assert.equal(peers.apns.received({ token }).length, 1);
      const [delivery] = await herald.service.store.deliveries.listForRegistration(registrationId);
      assert.equal(delivery?.status, 'sent');
    });

    test('a permanent error is not retried: one request, delivery failed', async () => {
      const ios = await registered('ios');
      const android = await registered('android');
      peers.apns.fault(ios.token, { status: 400, reason: 'BadTopic' });
      peers.fcm.fault(android.token, { errorCode: 'INVALID_ARGUMENT' });
      await exchange.deliver(ios.email, { subject: 'Nope', from: CAROL }, { wait: true });
      await exchange.deliver(android.email, { subject: 'Nope', from: CAROL }, { wait: true });
      await settled(ios.registrationId);
      await settled(android.registrationId);
      assert.equal(peers.apns.requests({ token: ios.token }).length, 1);
      assert.equal(peers.fcm.requests({ token: android.token }).length, 1);
      const [delivery] = await herald.service.store.deliveries.listForRegistration(ios.registrationId);
      assert.equal(delivery?.status, 'failed');
      assert.match(delivery?.error ?? '', /BadTopic/);
    });

    test('an OAuth token Exchange stops accepting: push without fetched fields, a checkin push, needs_credentials; a check-in repairs it', async () => {
      const n = ++mailboxSeq;
      const email = `oauth${n}@contoso.example`;
      const oldToken = `oauth-token-${n}-expiring-0123456789`;
      exchange.createMailbox({ email, tokens: [oldToken] });
      const token = apnsToken(5000 + n);
      const created = await api('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken: token, appId: APP },
        account: {
          email,
          ewsUrl: exchange.ewsUrl,
          credentials: await encryptCredentials(publicKey, { type: 'oauth', accessToken: oldToken }),
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const registrationId = created.body?.registrationId as string;

      exchange.revokeToken(oldToken);
      await exchange.deliver(email, { subject: 'Cannot be read', from: CAROL }, { wait: true });
      await waitFor(
        () => peers.apns.received({ token }).length >= 2 || undefined,
        'the push and the checkin push',
      );
      await settled(registrationId);
      const pushes = peers.apns.received({ token });
      assert.equal(pushes.length, 2);
      const payloads = pushes.map(
        (p) => p.payload as { aps: Record<string, unknown>; herald?: { type: string } },
      );
      // The mail still reaches the device, without what could not be fetched: no alert text.
      assert.equal(payloads.filter((p) => p.aps.alert !== undefined).length, 0);
      const checkin = payloads.find((p) => p.herald?.type === 'checkin');
      assert.deepEqual(checkin, {
        aps: { 'content-available': 1 },
        herald: { type: 'checkin', registrationId },
      });
      assert.equal(
        (await herald.service.store.registrations.get(registrationId))?.state,
        'needs_credentials',
      );

      // Another mail while the token is still refused asks for no second check-in.
      await exchange.deliver(email, { subject: 'Still unreadable', from: CAROL }, { wait: true });
      await settled(registrationId);
      const checkins = peers.apns
        .received({ token })
        .filter((p) => (p.payload as { herald?: { type: string } }).herald?.type === 'checkin');
      assert.equal(checkins.length, 1);

      // The app checks in with a fresh token: resubscribed, and the next mail is a full alert again.
      const freshToken = `oauth-token-${n}-fresh-0123456789`;
      exchange.addToken(email, freshToken);
      const checkedIn = await api('POST', `/v1/registrations/${registrationId}/checkin`, {
        account: {
          credentials: await encryptCredentials(publicKey, { type: 'oauth', accessToken: freshToken }),
        },
      });
      assert.deepEqual(checkedIn.body, { state: 'resubscribed' });
      const before = peers.apns.received({ token }).length;
      await exchange.deliver(email, { subject: 'Readable again', from: CAROL }, { wait: true });
      const last = await waitFor(
        () =>
          peers.apns
            .received({ token })
            .find((p, i) => i >= before && (p.payload as { aps: { alert?: unknown } }).aps.alert),
        'a full alert after the check-in',
      );
      assert.deepEqual((last.payload as { aps: { alert: unknown } }).aps.alert, {
        title: CAROL.name,
        body: 'Readable again',
      });
    });

    test('a device of an app without push credentials is refused with app_not_configured', async () => {
      const answer = await api('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken: apnsToken(77), appId: 'com.example.other' },
        account: { email: 'x@contoso.example', ewsUrl: exchange.ewsUrl, credentials: 'a.b.c.d.e' },
      });
      assert.equal(answer.status, 422);
      assert.equal((answer.body?.error as { code?: string } | undefined)?.code, 'app_not_configured');
    });
  });
}
