/**
 * Issue 4, subscription health, end to end on both databases. Herald runs on the Exchange
 * simulator's virtual clock (its `now` is the simulator's), so minutes of StatusFrequency pass in
 * milliseconds and every step is exact:
 * - a subscription killed in the simulator is found silent within 2 × StatusFrequency, the device
 *   receives a `checkin` push, and after it checks in with fresh credentials the subscription is
 *   active again and mail flows;
 * - events lost on Exchange's side show up as a watermark gap: the badge is refreshed and the gap
 *   is counted in the metrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, type PublicKeyAnswer, registerDevice } from '../support/device.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startPushPeers } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP = 'com.example.mail';

/** The `herald` member of a received push's payload. */
function heraldOf(push: { payload: unknown }): { type?: string; itemId?: string } {
  return (push.payload as { herald?: { type?: string; itemId?: string } }).herald ?? {};
}
const TOKEN = 'health-test-tenant-token-0123456789';
const MIN = 60_000;
const STATUS_FREQUENCY_MIN = 1;
const STEP = 10_000;

let mailboxSeq = 0;

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`subscription health [${database.name}]`, { skip: skip ?? false }, () => {
    let exchange: ExchangeSimulator;
    let peers: PushPeers;
    let herald: RunningHerald;
    let api: ReturnType<typeof deviceClient>;
    let publicKey: PublicKeyAnswer;
    let dropDatabase: () => Promise<void> = async () => {};

    before(async () => {
      exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
      const dir = mkdtempSync(join(tmpdir(), 'herald-health-'));
      peers = await startPushPeers(dir);
      const target = await database.forServer();
      dropDatabase = target.drop;
      herald = await startHerald({
        ...(target.url ? { database: target.url } : {}),
        dataDir: dir,
        config: {
          tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app(APP)] }],
          trust: { caFiles: [peers.caFile] },
          exchange: { statusFrequencyMinutes: STATUS_FREQUENCY_MIN },
          push: { pollMilliseconds: 20, retryBaseSeconds: 0 },
          // The test runs the watchdog's passes itself, at chosen virtual times.
          watchdog: { intervalSeconds: 3600 },
        },
        overrides: { now: () => exchange.now() },
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

    async function registered() {
      const n = ++mailboxSeq;
      return registerDevice(api, exchange, {
        email: `health${n}@contoso.example`,
        password: `pw-${n}-secret`,
        token: apnsToken(5000 + n),
        appId: APP,
        publicKey,
      });
    }

    const registration = async (id: string) => {
      const found = await herald.service.store.registrations.get(id);
      assert.ok(found, `registration ${id}`);
      return found;
    };

    /** Move virtual time, write the status pings it caused, and run one watchdog pass. */
    async function step(ms: number): Promise<void> {
      await exchange.advance(ms);
      await herald.service.lastSeen.flush();
      await herald.service.watchdog.run();
    }

    test('a killed subscription is silent within 2 × StatusFrequency; the checkin push and the check-in repair it', async () => {
      const { email, token, registrationId, credentials } = await registered();
      const [original] = exchange.subscriptions(email);
      assert.ok(original);

      await step(STATUS_FREQUENCY_MIN * MIN); // a status ping
      const lastCallback = exchange.now();
      assert.equal((await registration(registrationId)).lastSeenAt, lastCallback);
      assert.equal((await registration(registrationId)).state, 'active');

      await step(30_000);
      exchange.killSubscription(original.id);
      const killedAt = exchange.now();

      let detectedAt: number | undefined;
      while (exchange.now() - killedAt <= 3 * STATUS_FREQUENCY_MIN * MIN) {
        await step(STEP);
        const { state } = await registration(registrationId);
        if (state !== 'active') {
          detectedAt = exchange.now();
          break;
        }
      }
      assert.ok(detectedAt, 'the silence was detected');
      assert.ok(
        detectedAt - killedAt <= 2 * STATUS_FREQUENCY_MIN * MIN,
        `detected ${detectedAt - killedAt} ms after the kill`,
      );
      assert.ok(
        detectedAt - lastCallback > 2 * STATUS_FREQUENCY_MIN * MIN,
        'not before 2 × StatusFrequency without a callback',
      );

      // The device is asked to check in (a silent push), and the state says so.
      await waitFor(
        () => peers.apns.received({ token }).some((p) => heraldOf(p).type === 'checkin'),
        'the checkin push',
      );
      const checkin = peers.apns.received({ token }).find((p) => heraldOf(p).type === 'checkin')!;
      assert.deepEqual(checkin.payload, {
        aps: { 'content-available': 1 },
        herald: { type: 'checkin', registrationId },
      });
      assert.equal(checkin.pushType, 'background');
      await waitFor(
        async () => (await registration(registrationId)).state === 'repairing',
        'state repairing',
      );
      const repairing = await registration(registrationId);
      assert.equal(repairing.silentSince, detectedAt);

      // The app checks in; Herald cannot resubscribe without credentials and says so.
      const bare = await api('POST', `/v1/registrations/${registrationId}/checkin`);
      assert.deepEqual(bare.body, { state: 'needs_credentials' });
      const fresh = await api('POST', `/v1/registrations/${registrationId}/checkin`, {
        account: { credentials: await credentials() },
      });
      assert.deepEqual(fresh.body, { state: 'resubscribed' });
      const repaired = await registration(registrationId);
      assert.equal(repaired.state, 'active');
      assert.equal(repaired.silentSince, null);
      assert.equal(repaired.checkinSentAt, null);
      const live = exchange.subscriptions(email).filter((s) => s.state === 'active');
      assert.equal(live.length, 1);
      assert.notEqual(live[0]!.id, original.id);

      // Mail flows again, and the new subscription's pings keep it active.
      const mail = await exchange.deliver(
        email,
        { subject: 'Back online', from: { address: 'it@contoso.example' } },
        { wait: true },
      );
      await waitFor(
        () => peers.apns.received({ token }).some((p) => heraldOf(p).itemId === mail.itemId),
        'the push for the mail after the repair',
      );
      for (let i = 0; i < 4; i++) await step(STATUS_FREQUENCY_MIN * MIN);
      assert.equal((await registration(registrationId)).state, 'active');
      assert.equal(
        peers.apns.received({ token }).filter((p) => heraldOf(p).type === 'checkin').length,
        1,
        'one checkin push: the repeat interval had not passed',
      );
    });

    test('a subscription that calls again after all is active again without a check-in', async () => {
      const { email, registrationId } = await registered();
      const [subscription] = exchange.subscriptions(email);
      // Herald's view of time jumps past the silence window (as after a network partition):
      // Exchange is still there, but its pings did not get through.
      await herald.service.store.registrations.update(registrationId, {
        lastSeenAt: exchange.now() - 3 * STATUS_FREQUENCY_MIN * MIN,
      });
      await herald.service.watchdog.run();
      assert.equal((await registration(registrationId)).state, 'silent');
      await step(STATUS_FREQUENCY_MIN * MIN); // the next ping arrives
      assert.equal(exchange.subscription(subscription!.id).state, 'active');
      const revived = await registration(registrationId);
      assert.equal(revived.state, 'active');
      assert.equal(revived.silentSince, null);
    });

    test('events lost at Exchange are a watermark gap: the badge is refreshed and the gap counted', async () => {
      const { email, token, registrationId } = await registered();
      const [subscription] = exchange.subscriptions(email);
      const gapsBefore = await gapCount();
      // The three events of one mail are lost; Exchange's watermark moves past them.
      exchange.loseEvents(subscription!.id, 3);
      const lost = await exchange.deliver(
        email,
        { subject: 'Lost', from: { address: 'a@contoso.example' } },
        { wait: true },
      );
      assert.deepEqual(lost.outcomes, [{ subscriptionId: subscription!.id, result: 'lost' }]);
      assert.equal(peers.apns.received({ token }).length, 0);

      // The next status ping names a watermark Herald never saw: a gap, so the badge is made true.
      await step(STATUS_FREQUENCY_MIN * MIN);
      await waitFor(() => peers.apns.received({ token }).length === 1, 'the badge refresh push');
      assert.deepEqual(peers.apns.received({ token })[0]!.payload, { aps: { badge: 1 } });
      assert.equal(await gapCount(), gapsBefore + 1);

      // From then on the watermarks line up again: no more gaps, and mail flows normally.
      const next = await exchange.deliver(
        email,
        { subject: 'Found', from: { address: 'a@contoso.example' } },
        { wait: true },
      );
      await waitFor(
        () => peers.apns.received({ token }).some((p) => heraldOf(p).itemId === next.itemId),
        'the next mail',
      );
      await step(STATUS_FREQUENCY_MIN * MIN);
      assert.equal(await gapCount(), gapsBefore + 1);
      assert.equal((await registration(registrationId)).state, 'active');
    });

    async function gapCount(): Promise<number> {
      const text = await herald.service.metrics.text();
      const match = /^herald_watermark_gaps_total (\d+)$/m.exec(text);
      return Number(match?.[1] ?? Number.NaN);
    }
  });
}
