/**
 * Herald behind its own gateway (the ENS2 "EWS proxy"): the notification service sends its EWS
 * calls through `herald gateway`, so the gateway's compliance rules apply to it. A blocked user's
 * registration is refused and their new mail is not pushed; after the rule is removed, pushes
 * resume. Real TLS between Herald and the gateway, the Exchange simulator behind it, the APNs
 * simulator in front; the rules in the database both share.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { adminGet, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startPushPeers } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP = 'com.example.mail';
const TOKEN = 'gateway-proxy-tenant-token-0123456789';
const HEIDI = { name: 'Heidi Legal', address: 'heidi@contoso.example' };

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`Herald's EWS calls through the gateway [${database.name}]`, { skip: skip ?? false }, () => {
    let exchange: ExchangeSimulator;
    let peers: PushPeers;
    let gw: TestGateway;
    let gatewayStore: Store;
    let herald: RunningHerald;
    let api: ReturnType<typeof deviceClient>;
    let publicKey: PublicKeyAnswer;
    let drop: () => Promise<void> = async () => {};

    before(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'herald-ews-proxy-'));
      exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
      peers = await startPushPeers(dir);
      const target = await database.forServer();
      drop = target.drop;
      const url = target.url ?? `sqlite:${join(dir, 'herald.db')}`;
      herald = await startHerald({
        database: url,
        dataDir: dir,
        config: {
          tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app(APP)] }],
          push: { pollMilliseconds: 20, retryBaseSeconds: 0, maxAttempts: 2 },
        },
      });
      // The gateway reads its rules from the same database (migrated by Herald above).
      gatewayStore = await openStore(url);
      gw = await startTestGateway({
        store: gatewayStore,
        gateway: { clientCertificates: 'optional', upstreams: { ews: new URL(exchange.ewsUrl).origin } },
      });
      const gatewayCa = join(dir, 'gateway-ca.pem');
      writeFileSync(gatewayCa, gw.ca.certPem);
      // Herald again, now with its EWS calls aimed at the gateway and trusting its certificate.
      await herald.stop();
      herald = await startHerald({
        database: url,
        dataDir: dir,
        config: {
          tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [peers.app(APP)] }],
          trust: { caFiles: [peers.caFile, gatewayCa] },
          exchange: { gateway: { url: gw.url } },
          push: { pollMilliseconds: 20, retryBaseSeconds: 0, maxAttempts: 2 },
        },
      });
      api = deviceClient(herald.url, TOKEN);
      publicKey = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
    });

    after(async () => {
      await herald?.stop();
      await gw?.close();
      await gatewayStore?.close();
      await peers?.close();
      await exchange?.close();
      await drop();
    });

    let seq = 0;
    const passwords = new Map<string, string>();
    async function register(email: string) {
      seq += 1;
      let password = passwords.get(email);
      if (!password) {
        password = `pw-${seq}`;
        passwords.set(email, password);
        exchange.createMailbox({ email, password });
      }
      const token = apnsToken(7000 + seq);
      const created = await api('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken: token, appId: APP },
        account: {
          email,
          ewsUrl: exchange.ewsUrl,
          credentials: await encryptCredentials(publicKey, { type: 'basic', username: email, password }),
        },
      });
      return { created, token };
    }

    async function settled(registrationId: string) {
      return waitFor(async () => {
        const rows = await herald.service.store.outbox.listForRegistration(registrationId);
        return rows.length > 0 && rows.every((r) => r.status === 'done' || r.status === 'failed') && rows;
      }, 'the outbox to settle');
    }

    test('subscribe and fetch go through the gateway; a blocked user gets no push until the rule is removed', async () => {
      const { created, token } = await register('grace@contoso.example');
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const registrationId = created.body?.registrationId as string;
      let metrics = (await adminGet(gw, '/metrics')).text;
      assert.match(
        metrics,
        /herald_gateway_requests_total\{route="ews",command="Subscribe",status="200"\} 1/,
      );

      await exchange.deliver(
        'grace@contoso.example',
        { subject: 'Before the block', from: HEIDI },
        { wait: true },
      );
      await settled(registrationId);
      assert.equal(peers.apns.received({ token }).length, 1);
      metrics = (await adminGet(gw, '/metrics')).text;
      assert.match(metrics, /herald_gateway_requests_total\{route="ews",command="GetItem",status="200"\} 1/);

      const rule = await gatewayStore.gatewayRules.add({
        action: 'block',
        user: 'grace@contoso.example',
        reason: 'account under investigation',
      });
      await gw.gateway.rules.reload();
      await exchange.deliver(
        'grace@contoso.example',
        { subject: 'During the block', from: HEIDI },
        { wait: true },
      );
      const rows = await settled(registrationId);
      assert.equal(peers.apns.received({ token }).length, 1, 'no push while blocked');
      const failed = rows.filter((r) => r.status === 'failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.lastError, 'mailbox_blocked');
      metrics = (await adminGet(gw, '/metrics')).text;
      assert.match(metrics, /herald_gateway_blocked_total\{route="ews",by="rule"\} [1-9]/);

      // A new registration for the blocked mailbox is refused with the gateway's verdict.
      const refused = await register('grace@contoso.example');
      assert.equal(refused.created.status, 403);
      assert.equal((refused.created.body as { error: { code: string } }).error.code, 'mailbox_blocked');

      await gatewayStore.gatewayRules.remove(rule.id);
      await gw.gateway.rules.reload();
      await exchange.deliver(
        'grace@contoso.example',
        { subject: 'After the block', from: HEIDI },
        { wait: true },
      );
      await settled(registrationId);
      const pushes = peers.apns.received({ token });
      assert.equal(pushes.length, 2);
      assert.equal(
        (pushes[1]!.payload as { aps: { alert: { body: string } } }).aps.alert.body,
        'After the block',
      );
    });
  });
}
