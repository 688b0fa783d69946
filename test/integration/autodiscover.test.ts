/**
 * Registrations without `account.ewsUrl` (issue 8, part 4: "Graph for mailboxes whose
 * Autodiscover or domain points to Exchange Online, else EWS"), on both databases, against the
 * Exchange simulator's Autodiscover v2, EWS and Graph:
 * - a tenant without Graph: the URL Autodiscover finds is the one subscribed, and a mail arrives;
 * - a tenant with Graph: a mailbox Autodiscover places in Exchange Online (here the simulator's
 *   host, listed in graph.exchangeOnlineHosts) is served through Graph; one it places on another
 *   server (a hybrid organisation's on-premises mailbox) through EWS at that server;
 * - an address no endpoint knows: 422 autodiscover_failed, what each endpoint answered in the log
 *   (not in the answer), nothing stored, the address in no log line;
 * - the order of the rules (provider, given ewsUrl, Graph domains, Autodiscover), and no lookup for
 *   a registration refused anyway.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openMailbox } from '../../src/notify/account.ts';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startPushPeers } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP_ID = 'com.example.mail';
const GRAPH_APP = { clientId: randomUUID(), secret: 'autodiscover-test-graph-secret' };
const EWS_TENANT = { id: 'contoso', token: 'contoso-autodiscover-token-0123456789' };
const GRAPH_TENANT = { id: 'fabrikam', token: 'fabrikam-autodiscover-token-0123456789' };
const FROM = { name: 'Dana Sender', address: 'dana@partner.example' };

let seq = 0;

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`registrations without an EWS URL [${database.name}]`, { skip: skip ?? false }, () => {
    let sim: ExchangeSimulator;
    let peers: PushPeers;
    let herald: RunningHerald;
    let dropDatabase: () => Promise<void> = async () => {};
    /** The simulator under another name: "the on-premises server" of the hybrid case. */
    let onPremisesEwsUrl: string;

    before(async () => {
      sim = await startExchangeSimulator({ graph: { apps: [GRAPH_APP] } });
      onPremisesEwsUrl = sim.ewsUrl.replace('127.0.0.1', 'localhost');
      const dir = mkdtempSync(join(tmpdir(), 'herald-autodiscover-'));
      peers = await startPushPeers(dir);
      const target = await database.forServer();
      dropDatabase = target.drop;
      const closed = 'http://127.0.0.1:1'; // nothing listens on port 1
      herald = await startHerald({
        ...(target.url ? { database: target.url } : {}),
        dataDir: dir,
        // The test helper turns Autodiscover off; this test is about it.
        env: { HERALD_EXCHANGE_AUTODISCOVER_ENABLED: 'true' },
        config: {
          tenants: [
            { id: EWS_TENANT.id, apiToken: EWS_TENANT.token, apps: [peers.app(APP_ID)] },
            {
              id: GRAPH_TENANT.id,
              apiToken: GRAPH_TENANT.token,
              apps: [peers.app(APP_ID)],
              graph: {
                tenantId: sim.graph.tenantId,
                domains: ['graph-listed.example'],
                app: { clientId: GRAPH_APP.clientId, clientSecret: GRAPH_APP.secret },
              },
            },
          ],
          trust: { caFiles: [peers.caFile] },
          push: { retryBaseSeconds: 0, pollMilliseconds: 20 },
          // A dead endpoint first: the lookup goes on to the next.
          exchange: { autodiscover: { endpoints: [closed, sim.url], timeoutSeconds: 5 } },
          graph: {
            authorityHost: sim.url,
            graphUrl: sim.graph.graphUrl,
            jwksUrl: `${sim.url}/common/discovery/v2.0/keys`,
            exchangeOnlineHosts: ['127.0.0.1'],
            renewal: { intervalSeconds: 3600 },
          },
        },
      });
    });

    after(async () => {
      await herald?.stop();
      await peers?.close();
      await sim?.close();
      await dropDatabase();
    });

    async function register(
      tenant: typeof EWS_TENANT,
      email: string,
      password: string,
      account: { provider?: 'ews' | 'graph'; ewsUrl?: string } = {},
    ) {
      const api = deviceClient(herald.url, tenant.token);
      const key = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
      const pushToken = apnsToken(0xad000 + ++seq);
      const answer = await api('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken, appId: APP_ID },
        account: {
          email,
          ...account,
          credentials: await encryptCredentials(key, { type: 'basic', username: email, password }),
        },
      });
      return { answer, pushToken };
    }

    async function stored(registrationId: string) {
      const registration = await herald.service.store.registrations.get(registrationId);
      assert.ok(registration, 'the registration is stored');
      return { provider: registration.provider, mailbox: openMailbox(herald.service.master, registration) };
    }

    async function arrives(email: string, pushToken: string, subject: string) {
      await sim.deliver(email, { subject, from: FROM }, { wait: true });
      const [push] = await waitFor(() => {
        const p = peers.apns.received({ token: pushToken });
        return p.length > 0 && p;
      }, `the push for "${subject}"`);
      assert.deepEqual((push!.payload as { aps: { alert: unknown } }).aps.alert, {
        title: FROM.name,
        body: subject,
      });
    }

    test('a tenant without Graph: the EWS URL Autodiscover finds is subscribed, and mail arrives', async () => {
      const email = `ews${++seq}@contoso.example`;
      sim.createMailbox({ email, password: 'pw-ews' });
      const { answer, pushToken } = await register(EWS_TENANT, email, 'pw-ews');
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      const { provider, mailbox } = await stored(answer.body?.registrationId as string);
      assert.equal(provider, 'ews');
      assert.equal(mailbox.ewsUrl, sim.ewsUrl);
      await arrives(email, pushToken, 'Found by Autodiscover');
    });

    test('a tenant with Graph: Exchange Online mailboxes through Graph, on-premises ones through EWS at their server', async () => {
      const online = `cloud${++seq}@fabrikam.example`;
      sim.createMailbox({ email: online });
      const cloud = await register(GRAPH_TENANT, online, 'unused');
      assert.equal(cloud.answer.status, 201, JSON.stringify(cloud.answer.body));
      const cloudId = cloud.answer.body?.registrationId as string;
      assert.equal((await stored(cloudId)).provider, 'graph');
      assert.ok((await herald.service.store.graphSubscriptions.get(cloudId))?.subscriptionId);
      await arrives(online, cloud.pushToken, 'From the cloud');

      const local = `local${++seq}@fabrikam.example`;
      sim.createMailbox({ email: local, password: 'pw-local', autodiscoverEwsUrl: onPremisesEwsUrl });
      const onPremises = await register(GRAPH_TENANT, local, 'pw-local');
      assert.equal(onPremises.answer.status, 201, JSON.stringify(onPremises.answer.body));
      const { provider, mailbox } = await stored(onPremises.answer.body?.registrationId as string);
      assert.equal(provider, 'ews');
      assert.equal(mailbox.ewsUrl, onPremisesEwsUrl);
      await arrives(local, onPremises.pushToken, 'From the basement');
    });

    test('an address no endpoint knows: 422 autodiscover_failed, the answers in the log, nothing stored', async () => {
      const email = `nobody${++seq}@contoso.example`;
      const before = await herald.service.store.registrations.countByState();
      const { answer } = await register(EWS_TENANT, email, 'pw');
      assert.equal(answer.status, 422);
      const error = answer.body?.error as { code: string; message: string; details?: unknown };
      assert.equal(error.code, 'autodiscover_failed');
      assert.match(error.message, /give account\.ewsUrl/);
      // What each endpoint said is for the operator, not for the caller.
      assert.doesNotMatch(JSON.stringify(answer.body), /127\.0\.0\.1|HTTP 404|network/);
      const logged = herald.logs
        .text()
        .split('\n')
        .find((line) => line.includes('autodiscover found no EWS URL'));
      assert.ok(logged, 'the lookup is logged');
      assert.deepEqual(JSON.parse(logged).attempts, [
        { endpoint: 'http://127.0.0.1:1', outcome: 'network' },
        { endpoint: sim.url, outcome: 'HTTP 404' },
      ]);
      assert.deepEqual(await herald.service.store.registrations.countByState(), before);
      assert.doesNotMatch(herald.logs.text(), new RegExp(email.replaceAll('.', '\\.')));
    });

    test('the order of the rules: provider, then the given ewsUrl, then the Graph domains, then Autodiscover', async () => {
      const lookups = () => sim.log({ kind: 'autodiscover' }).length;
      const asked = lookups();
      // A listed Graph domain with an on-premises ewsUrl: the URL decides, EWS.
      const listed = `listed${++seq}@graph-listed.example`;
      sim.createMailbox({ email: listed, password: 'pw-listed' });
      const viaUrl = await register(GRAPH_TENANT, listed, 'pw-listed', { ewsUrl: onPremisesEwsUrl });
      assert.equal(viaUrl.answer.status, 201, JSON.stringify(viaUrl.answer.body));
      assert.equal((await stored(viaUrl.answer.body?.registrationId as string)).provider, 'ews');
      // The same domain without a URL: Graph, and no lookup.
      const other = `listed${++seq}@graph-listed.example`;
      sim.createMailbox({ email: other });
      const viaDomain = await register(GRAPH_TENANT, other, 'unused');
      assert.equal(viaDomain.answer.status, 201, JSON.stringify(viaDomain.answer.body));
      assert.equal((await stored(viaDomain.answer.body?.registrationId as string)).provider, 'graph');
      // provider "ews" wins over an Exchange Online URL.
      const forced = `forced${++seq}@fabrikam.example`;
      sim.createMailbox({ email: forced, password: 'pw-forced' });
      const ews = await register(GRAPH_TENANT, forced, 'pw-forced', { provider: 'ews', ewsUrl: sim.ewsUrl });
      assert.equal(ews.answer.status, 201, JSON.stringify(ews.answer.body));
      const { provider, mailbox } = await stored(ews.answer.body?.registrationId as string);
      assert.equal(provider, 'ews');
      assert.equal(mailbox.ewsUrl, sim.ewsUrl);
      assert.equal(lookups(), asked, 'none of these asked Autodiscover');
    });

    test('an EWS registration without credentials is refused before any lookup', async () => {
      const asked = sim.log({ kind: 'autodiscover' }).length;
      const api = deviceClient(herald.url, EWS_TENANT.token);
      const answer = await api('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken: apnsToken(0xad999), appId: APP_ID },
        account: { email: `nocreds${++seq}@contoso.example` },
      });
      assert.equal(answer.status, 422);
      assert.equal((answer.body?.error as { code?: string } | undefined)?.code, 'credentials_required');
      assert.equal(sim.log({ kind: 'autodiscover' }).length, asked);
    });
  });
}
