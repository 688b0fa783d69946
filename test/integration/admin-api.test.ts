/**
 * The admin API (docs/admin-api.md) over real HTTP against a real Herald, on both databases:
 * the bearer token (generated into the data directory, or from the configuration), listing with
 * filters and pages, one registration's health, counts, and that no secret (push token, mailbox
 * address, password, hashes) ever appears in an answer or in the logs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases, exampleRegistration } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startHeraldWithPush } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const TENANT_TOKEN = 'fabrikam-admin-test-token-0123456789';
const ERIN = { email: 'erin@fabrikam.example', password: 'erin-secret-password' };
const FRANK = { email: 'frank@fabrikam.example', password: 'frank-secret-password' };
const STATES = ['pending', 'active', 'silent', 'repairing', 'needs_credentials', 'dead', 'inactive'];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function get(baseUrl: string, path: string, token?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}/api/admin/v1${path}`, {
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  } satisfies Answer;
}

const code = (answer: Answer) => (answer.json.error as { code?: string } | undefined)?.code;
const ids = (answer: Answer) => (answer.json.registrations as Array<{ id: string }>).map((r) => r.id).sort();

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`admin API [${database.name}]`, { skip: skip ?? false }, () => {
    let sim: ExchangeSimulator;
    let herald: RunningHerald;
    let peers: PushPeers | undefined;
    let drop: () => Promise<void> = async () => {};
    let adminToken: string;
    let key: PublicKeyAnswer;
    /** Every admin answer, scanned for secrets at the end. */
    const answers: string[] = [];
    const admin = async (path: string, token: string | undefined = adminToken) => {
      const answer = await get(herald.url, path, token);
      answers.push(answer.text);
      return answer;
    };
    const devices: Record<string, { id: string; pushToken: string }> = {};

    before(async () => {
      sim = await startExchangeSimulator({ clock: { mode: 'manual' }, mailboxes: [ERIN, FRANK] });
      const target = await database.forServer();
      drop = target.drop;
      ({ herald, peers } = await startHeraldWithPush({
        ...(target.url ? { database: target.url } : {}),
        tenantId: 'fabrikam',
        apiToken: TENANT_TOKEN,
        config: { push: { pollMilliseconds: 20 } },
      }));
      adminToken = readFileSync(join(herald.dataDir, 'admin.token'), 'utf8').trim();
      const api = deviceClient(herald.url, TENANT_TOKEN);
      key = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
      const register = async (
        name: string,
        mailbox: typeof ERIN,
        platform: 'ios' | 'android',
        seed: number,
      ) => {
        const pushToken = platform === 'ios' ? apnsToken(seed) : `fcm-token-${seed}-${'y'.repeat(120)}`;
        const created = await api('POST', '/v1/registrations', {
          device: { platform, pushToken, appId: 'com.example.mail' },
          account: {
            email: mailbox.email,
            ewsUrl: sim.ewsUrl,
            credentials: await encryptCredentials(key, {
              type: 'basic',
              username: mailbox.email,
              password: mailbox.password,
            }),
          },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        devices[name] = { id: String(created.body?.registrationId), pushToken };
      };
      await register('erinIos', ERIN, 'ios', 101);
      await register('erinAndroid', ERIN, 'android', 102);
      await register('frankIos', FRANK, 'ios', 103);
      // States the watchdog and the push workers would set, written straight into the store.
      const store = herald.service.store;
      const now = Date.now();
      for (const [id, state, extra] of [
        ['zz-silent', 'silent', {}],
        ['zz-inactive', 'inactive', { deactivatedReason: 'push_unregistered: Unregistered' }],
        ['zz-dead', 'dead', { deactivatedReason: 'no check-in' }],
      ] as const) {
        await store.registrations.insert(
          exampleRegistration({
            id,
            tenantId: 'fabrikam',
            pushToken: `stored-token-${id}-0123456789`,
            state,
            ...extra,
          }),
        );
        devices[id] = { id, pushToken: `stored-token-${id}-0123456789` };
      }
      await store.registrations.update('zz-silent', {
        silentSince: now - 40 * 60_000,
        checkinSentAt: now - 60_000,
      });
    });

    after(async () => {
      await herald?.stop();
      await peers?.close();
      await sim?.close();
      await drop();
    });

    test('the admin token is generated into <dataDir>/admin.token, mode 0600; the log names the file only', () => {
      const file = join(herald.dataDir, 'admin.token');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(adminToken, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(herald.service.adminTokenFile, file);
      const generated = herald.logs.lines.find((line) => line.includes('generated the admin API token'));
      assert.ok(generated?.includes(file), 'the log says where the token is');
      assert.equal(herald.logs.text().includes(adminToken), false, 'never the token itself');
    });

    test('error/no token, a wrong token, a tenant token, Basic: 401 admin_unauthorized with WWW-Authenticate', async () => {
      for (const path of ['/registrations', `/registrations/${devices.erinIos!.id}`, '/health']) {
        const variants: Array<Record<string, string>> = [
          {},
          { authorization: `Bearer ${adminToken}x` },
          { authorization: `Bearer ${adminToken.slice(0, -1)}` },
          { authorization: `Bearer ${TENANT_TOKEN}` },
          { authorization: `Basic ${Buffer.from(`admin:${adminToken}`).toString('base64')}` },
          { authorization: 'Bearer' },
        ];
        for (const headers of variants) {
          const answer = await get(herald.url, path, undefined, headers);
          answers.push(answer.text);
          assert.equal(answer.status, 401, `${path} ${JSON.stringify(headers).slice(0, 30)}`);
          assert.equal(code(answer), 'admin_unauthorized');
          assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer/);
        }
      }
      assert.equal((await admin('/health')).status, 200);
    });

    test('list: every registration, masked, with filters by state, tenant, email and platform', async () => {
      const all = await admin('/registrations');
      assert.equal(all.status, 200);
      assert.equal(all.json.next, null);
      assert.deepEqual(
        ids(all),
        Object.values(devices)
          .map((d) => d.id)
          .sort(),
      );
      const erin = (all.json.registrations as Array<Record<string, unknown>>).find(
        (r) => r.id === devices.erinIos!.id,
      )!;
      assert.equal(erin.tenantId, 'fabrikam');
      assert.equal(erin.platform, 'ios');
      assert.equal(erin.state, 'active');
      assert.equal(erin.pushToken, `…${devices.erinIos!.pushToken.slice(-6)}`);
      assert.equal(erin.statusFrequencyMinutes, 15);
      assert.match(String(erin.lastSeenAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(erin.silentSince, null);

      assert.deepEqual(ids(await admin('/registrations?state=silent')), ['zz-silent']);
      assert.deepEqual(ids(await admin('/registrations?state=inactive')), ['zz-inactive']);
      assert.equal(ids(await admin('/registrations?tenant=fabrikam')).length, 6);
      assert.deepEqual(ids(await admin('/registrations?tenant=nobody')), []);
      const byEmail = await admin(`/registrations?email=${encodeURIComponent('Erin@Fabrikam.example')}`);
      assert.deepEqual(ids(byEmail), [devices.erinIos!.id, devices.erinAndroid!.id].sort());
      assert.deepEqual(
        ids(await admin(`/registrations?email=${encodeURIComponent(ERIN.email)}&platform=android`)),
        [devices.erinAndroid!.id],
      );
      assert.deepEqual(ids(await admin('/registrations?platform=android')), [devices.erinAndroid!.id]);
      // The address was in a query string: the request log hides it.
      const logs = herald.logs.text().toLowerCase();
      assert.equal(logs.includes('erin@fabrikam') || logs.includes('erin%40fabrikam'), false);
    });

    test('list: pages by keyset until next is null', async () => {
      const all = (await admin('/registrations')).json.registrations as Array<{ id: string }>;
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const page = await admin(
          `/registrations?limit=4${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        );
        assert.equal(page.status, 200);
        const rows = page.json.registrations as Array<{ id: string }>;
        assert.ok(rows.length <= 4);
        seen.push(...rows.map((r) => r.id));
        after = page.json.next as string | null;
      } while (after !== null);
      assert.deepEqual(
        seen,
        all.map((r) => r.id),
      );
      assert.equal((await admin('/registrations?limit=6')).json.next, null, 'a full last page has no next');
    });

    test('error/bad query parameters: 400 invalid_request naming the parameter and the states', async () => {
      const bad = await admin('/registrations?state=sleeping');
      assert.equal(bad.status, 400);
      assert.equal(code(bad), 'invalid_request');
      const message = String((bad.json.error as { message: string }).message);
      assert.match(message, /state/);
      for (const state of STATES) assert.ok(message.includes(state), `the message lists ${state}`);
      for (const query of ['limit=0', 'limit=501', 'limit=ten', 'platform=windows', 'stat=silent']) {
        const answer = await admin(`/registrations?${query}`);
        assert.equal(answer.status, 400, query);
        assert.equal(code(answer), 'invalid_request', query);
      }
    });

    test('show: health explained, outbox counts and the last deliveries; 404 for an unknown id', async () => {
      const mail = await sim.deliver(
        ERIN.email,
        { subject: 'Board minutes', from: { address: 'cfo@fabrikam.example' } },
        {
          wait: true,
        },
      );
      for (const device of [devices.erinIos!, devices.erinAndroid!]) {
        await waitFor(async () => {
          const rows = await herald.service.store.deliveries.listForRegistration(device.id);
          return rows.length > 0;
        }, `a delivery for ${device.id}`);
      }
      const shown = await admin(`/registrations/${devices.erinIos!.id}`);
      assert.equal(shown.status, 200);
      const detail = shown.json as Record<string, unknown> & {
        outbox: Record<string, number>;
        deliveries: Array<Record<string, unknown>>;
      };
      assert.equal(detail.id, devices.erinIos!.id);
      assert.equal(detail.state, 'active');
      assert.match(String(detail.health), /^Exchange last called .* ago; it pings every 15 minutes\.$/);
      assert.ok(detail.subscriptionId, 'the EWS subscription id');
      assert.deepEqual(detail.outbox, { pending: 0, processing: 0, done: 1, failed: 0 });
      assert.equal(detail.deliveries.length, 1);
      const [delivery] = detail.deliveries;
      assert.equal(delivery!.status, 'sent');
      assert.equal(delivery!.provider, 'apns');
      assert.equal(typeof delivery!.latencyMs, 'number');
      assert.equal(delivery!.error, null);
      assert.ok(String(delivery!.itemId).includes('…'), 'item ids are shortened');
      assert.notEqual(delivery!.itemId, mail.itemId);
      assert.equal(shown.text.includes('Board minutes'), false, 'no mail content');

      const silent = (await admin('/registrations/zz-silent')).json;
      assert.match(
        String(silent.health),
        /^Silent since .*: no callback from Exchange for 2 × StatusFrequency .*; the device was asked to check in at /,
      );
      assert.match(
        String((await admin('/registrations/zz-inactive')).json.health),
        /^The push service no longer knows this device token \(Unregistered\)/,
      );

      const missing = await admin('/registrations/no-such-registration');
      assert.equal(missing.status, 404);
      assert.equal(code(missing), 'registration_not_found');
    });

    test('health: registrations per state, outbox events per status', async () => {
      const health = await admin('/health');
      assert.equal(health.status, 200);
      assert.deepEqual(health.json, {
        registrations: {
          pending: 0,
          active: 3,
          silent: 1,
          repairing: 0,
          needs_credentials: 0,
          dead: 1,
          inactive: 1,
        },
        outbox: { pending: 0, processing: 0, done: 2, failed: 0 },
      });
    });

    test('the device API OpenAPI document does not describe the admin API', async () => {
      const doc = (await (await fetch(`${herald.url}/api/ens/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      assert.ok(doc.paths['/v1/registrations']);
      assert.deepEqual(
        Object.keys(doc.paths).filter((path) => path.includes('admin') || path.includes('health')),
        [],
      );
    });

    test('nothing secret in any admin answer or in the logs', async () => {
      assert.ok(answers.length > 20);
      const text = answers.join('\n');
      const hashes = await herald.service.store.registrations.list({}, { limit: 100 });
      const secrets = [
        ...Object.values(devices).map((d) => d.pushToken),
        ERIN.email,
        FRANK.email,
        ERIN.password,
        FRANK.password,
        TENANT_TOKEN,
        adminToken,
        herald.service.registrations.emailHash(ERIN.email),
        ...hashes.flatMap((r) => [r.keyHash, r.accountEnc, r.mailboxEnc]),
      ];
      for (const secret of secrets) {
        assert.equal(text.includes(secret), false, `${secret.slice(0, 10)}… appears in an admin answer`);
      }
      assert.equal(herald.logs.text().includes(adminToken), false, 'the admin token is not logged');
    });
  });
}

describe('admin token sources', () => {
  const heralds: RunningHerald[] = [];
  after(async () => {
    for (const h of heralds) await h.stop().catch(() => {});
  });

  test('a generated token is read again on the next start, not replaced', async () => {
    const first = await startHerald();
    heralds.push(first);
    const file = join(first.dataDir, 'admin.token');
    const token = readFileSync(file, 'utf8').trim();
    assert.equal((await get(first.url, '/health', token)).status, 200);
    await first.stop();
    heralds.pop();
    const second = await startHerald({ dataDir: first.dataDir });
    heralds.push(second);
    assert.equal(readFileSync(file, 'utf8').trim(), token);
    assert.equal((await get(second.url, '/health', token)).status, 200);
    assert.equal(second.logs.text().includes('generated the admin API token'), false);
  });

  test('admin.apiToken from the configuration wins: no file is written and only that token works', async () => {
    const configured = 'configured-admin-token-0123456789abcdef';
    const herald = await startHerald({ config: { admin: { apiToken: configured } } });
    heralds.push(herald);
    assert.equal(existsSync(join(herald.dataDir, 'admin.token')), false);
    assert.equal(herald.service.adminTokenFile, undefined);
    assert.equal((await get(herald.url, '/health', configured)).status, 200);
    assert.equal((await get(herald.url, '/health', `${configured}-not`)).status, 401);
    assert.equal(herald.logs.text().includes(configured), false);
  });
});
