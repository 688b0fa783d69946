/**
 * The device API contract (../shared/api/device-api.md) over real HTTP, against the Exchange
 * simulator: authentication, validation with stable error codes, OpenAPI, replacement of a
 * registration, check-in with and without fresh credentials, token and key rotation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { deviceClient, type RunningHerald } from '../support/herald.ts';
import { type PushPeers, startHeraldWithPush } from '../support/push.ts';

const MAILBOX = { email: 'erin@fabrikam.example', password: 'erin-secret-password' };

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`device API [${database.name}]`, { skip: skip ?? false }, () => {
    let sim: ExchangeSimulator;
    let herald: RunningHerald;
    let token: string;
    let api: ReturnType<typeof deviceClient>;
    let key: PublicKeyAnswer;
    let drop: () => Promise<void> = async () => {};
    let peers: PushPeers | undefined;

    before(async () => {
      sim = await startExchangeSimulator({ clock: { mode: 'manual' }, mailboxes: [MAILBOX] });
      const target = await database.forServer();
      drop = target.drop;
      token = 'fabrikam-device-api-token-0123456789';
      ({ herald, peers } = await startHeraldWithPush({
        ...(target.url ? { database: target.url } : {}),
        tenantId: 'fabrikam',
        apiToken: token,
      }));
      api = deviceClient(herald.url, token);
      key = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
    });
    after(async () => {
      await herald?.stop();
      await peers?.close();
      await sim?.close();
      await drop();
    });

    const basic = (password = MAILBOX.password) => ({ type: 'basic', username: MAILBOX.email, password });
    const body = async (
      seed: number,
      credentials: unknown = basic(),
      extra: Record<string, unknown> = {},
    ) => ({
      device: { platform: 'ios', pushToken: apnsToken(seed), appId: 'com.example.mail' },
      account: {
        email: MAILBOX.email,
        ewsUrl: sim.ewsUrl,
        credentials: await encryptCredentials(key, credentials),
      },
      ...extra,
    });
    const raw = (path: string, init: RequestInit = {}) => fetch(`${herald.url}/api/ens${path}`, init);
    const code = (b: Record<string, unknown> | undefined) =>
      (b?.error as { code?: string } | undefined)?.code;

    test('alive needs no token and names the version; request ids are echoed', async () => {
      const response = await raw('/alive', { headers: { 'x-request-id': 'probe-42' } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-request-id'), 'probe-42');
      const json = (await response.json()) as { status: string; version: string };
      assert.equal(json.status, 'ok');
      assert.match(json.version, /^\d+\.\d+\.\d+/);
    });

    test('error/no token, a wrong token: 401 unauthorized with a JSON body', async () => {
      for (const headers of [
        {},
        { authorization: 'Bearer hrd_not-a-real-token-at-all' },
        { apitoken: 'x'.repeat(40) },
      ]) {
        const response = await raw('/v1/publickey', { headers });
        assert.equal(response.status, 401);
        assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.equal(code((await response.json()) as Record<string, unknown>), 'unauthorized');
      }
    });

    test('the ENS2 ApiToken header is accepted; the public key is an RSA JWK with its id', async () => {
      const response = await raw('/v1/publickey', { headers: { apitoken: token } });
      assert.equal(response.status, 200);
      const json = (await response.json()) as PublicKeyAnswer & { alg: string; enc: string };
      assert.equal(json.alg, 'RSA-OAEP-256');
      assert.equal(json.enc, 'A256GCM');
      assert.equal(json.jwk.kty, 'RSA');
      assert.equal(json.keyId, key.keyId);
      assert.equal('d' in json.jwk, false, 'never the private part');
    });

    test('error/invalid bodies get 400 invalid_request naming the field', async () => {
      const cases: Array<[string, unknown, RegExp]> = [
        ['missing device', { account: (await body(1)).account }, /device/],
        [
          'non-hex APNs token',
          { ...(await body(1)), device: { platform: 'ios', pushToken: 'zz'.repeat(32), appId: 'a.b' } },
          /device\.pushToken/,
        ],
        ['unknown key', { ...(await body(1)), surprise: true }, /surprise|unrecognized/i],
        [
          'bad email',
          { ...(await body(1)), account: { ...(await body(1)).account, email: 'not-an-address' } },
          /account\.email/,
        ],
        [
          'bad content policy',
          await body(1, basic(), { notification: { content: 'loud' } }),
          /notification\.content/,
        ],
      ];
      for (const [name, payload, pattern] of cases) {
        const response = await api('POST', '/v1/registrations', payload);
        assert.equal(response.status, 400, name);
        assert.equal(code(response.body), 'invalid_request', name);
        assert.match(
          String((response.body?.error as { message?: string } | undefined)?.message),
          pattern,
          name,
        );
      }
    });

    test('error/not JSON, wrong media type, too large, unknown route', async () => {
      const auth = { authorization: `Bearer ${token}` };
      const notJson = await raw('/v1/registrations', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: '{"device":',
      });
      assert.equal(notJson.status, 400);
      assert.equal(code((await notJson.json()) as Record<string, unknown>), 'invalid_request');
      const xml = await raw('/v1/registrations', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'text/xml' },
        body: '<a/>',
      });
      assert.equal(xml.status, 415);
      assert.equal(code((await xml.json()) as Record<string, unknown>), 'unsupported_media_type');
      const big = await raw('/v1/registrations', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }),
      });
      assert.equal(big.status, 413);
      assert.equal(code((await big.json()) as Record<string, unknown>), 'payload_too_large');
      const missing = await raw('/v1/nothing-here', { headers: auth });
      assert.equal(missing.status, 404);
      assert.equal(code((await missing.json()) as Record<string, unknown>), 'not_found');
    });

    test('error/credentials that do not decrypt or do not match a form; unsupported provider; no EWS URL', async () => {
      const garbage = await body(2);
      garbage.account.credentials = 'eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.a.b.c.d';
      assert.equal(
        code((await api('POST', '/v1/registrations', garbage)).body),
        'invalid_credentials_payload',
      );
      const wrongShape = await api(
        'POST',
        '/v1/registrations',
        await body(2, { type: 'kerberos', ticket: 'x' }),
      );
      assert.equal(wrongShape.status, 400);
      assert.equal(code(wrongShape.body), 'invalid_credentials_payload');
      assert.doesNotMatch(JSON.stringify(wrongShape.body), /ticket.*x"/, 'no secret values echoed');
      const graph = await body(2);
      (graph.account as Record<string, unknown>).provider = 'graph';
      const graphAnswer = await api('POST', '/v1/registrations', graph);
      assert.equal(graphAnswer.status, 422);
      assert.equal(code(graphAnswer.body), 'graph_not_configured');
      assert.match(JSON.stringify(graphAnswer.body), /tenants\[\]\.graph/);
      const noCredentials = await body(2);
      delete (noCredentials.account as Record<string, unknown>).credentials;
      assert.equal(
        code((await api('POST', '/v1/registrations', noCredentials)).body),
        'credentials_required',
      );
      const noUrl = await body(2);
      delete (noUrl.account as Record<string, unknown>).ewsUrl;
      assert.equal(code((await api('POST', '/v1/registrations', noUrl)).body), 'ews_url_required');
    });

    test('the OpenAPI document describes the device API', async () => {
      const response = await raw('/openapi.json');
      assert.equal(response.status, 200);
      const doc = (await response.json()) as {
        openapi: string;
        paths: Record<string, Record<string, unknown>>;
      };
      assert.match(doc.openapi, /^3\./);
      assert.ok(doc.paths['/alive']?.get);
      assert.ok(doc.paths['/v1/publickey']?.get);
      const create = doc.paths['/v1/registrations']?.post as {
        requestBody?: unknown;
        responses?: Record<string, unknown>;
      };
      assert.ok(create?.requestBody, 'request body schema');
      assert.ok(create.responses?.['201'] && create.responses['502'], 'success and error responses');
      assert.ok(doc.paths['/v1/registrations/{id}/checkin']?.post);
      assert.ok(doc.paths['/v1/registrations/{id}']?.delete);
    });

    test('a second registration for the same device and mailbox replaces the first', async () => {
      const first = await api('POST', '/v1/registrations', await body(10));
      const second = await api('POST', '/v1/registrations', await body(10));
      assert.equal(first.status, 201);
      assert.equal(second.status, 201);
      assert.notEqual(first.body?.registrationId, second.body?.registrationId);
      const gone = await api('POST', `/v1/registrations/${first.body?.registrationId}/checkin`);
      assert.equal(gone.status, 404);
      assert.equal(code(gone.body), 'registration_not_found');
      // Push subscriptions end when a notification is answered Unsubscribe: the next mail ends the
      // replaced one, while the new one keeps going.
      const subs = sim.subscriptions(MAILBOX.email);
      const oldSub = subs.find((s) => s.callbackUrl.includes(String(first.body?.registrationId)))!;
      const newSub = subs.find((s) => s.callbackUrl.includes(String(second.body?.registrationId)))!;
      const mail = await sim.deliver(
        MAILBOX.email,
        { subject: 'r', from: { address: 'y@fabrikam.example' } },
        { wait: true },
      );
      const outcome = (id: string) => mail.outcomes?.find((o) => o.subscriptionId === id)?.subscriptionStatus;
      assert.equal(outcome(oldSub.id), 'Unsubscribe');
      assert.equal(outcome(newSub.id), 'OK');
      assert.notEqual(sim.subscription(oldSub.id).state, 'active');
      assert.equal(sim.subscription(newSub.id).state, 'active');
    });

    test('check-in: active without credentials, resubscribed with fresh ones, needs_credentials when refused', async () => {
      const created = await api('POST', '/v1/registrations', await body(20));
      const id = String(created.body?.registrationId);
      assert.deepEqual((await api('POST', `/v1/registrations/${id}/checkin`)).body, { state: 'active' });

      const oldSub = sim
        .subscriptions(MAILBOX.email)
        .find((s) => s.state === 'active' && s.callbackUrl.includes(id))!;
      const fresh = await api('POST', `/v1/registrations/${id}/checkin`, {
        account: { credentials: await encryptCredentials(key, basic()) },
      });
      assert.deepEqual(fresh.body, { state: 'resubscribed' });
      const newSub = sim
        .subscriptions(MAILBOX.email)
        .find((s) => s.state === 'active' && s.callbackUrl.includes(id) && s.id !== oldSub.id)!;
      assert.ok(newSub, 'a new subscription with a new callback key');
      const mail = await sim.deliver(
        MAILBOX.email,
        { subject: 's', from: { address: 'x@fabrikam.example' } },
        { wait: true },
      );
      const outcome = (subId: string) =>
        mail.outcomes?.find((o) => o.subscriptionId === subId)?.subscriptionStatus;
      assert.equal(outcome(newSub.id), 'OK');
      assert.equal(
        outcome(oldSub.id),
        'Unsubscribe',
        'the superseded subscription is ended at its next callback',
      );
      const rows = await herald.service.store.outbox.listForRegistration(id);
      assert.deepEqual(
        rows.map((r) => r.itemId),
        [mail.itemId],
      );

      const refused = await api('POST', `/v1/registrations/${id}/checkin`, {
        account: { credentials: await encryptCredentials(key, basic('expired-password')) },
      });
      assert.deepEqual(refused.body, { state: 'needs_credentials' });
      assert.deepEqual((await api('POST', `/v1/registrations/${id}/checkin`)).body, {
        state: 'needs_credentials',
      });
    });

    test('token rotation locks out the old token; key rotation keeps old keys decrypting', async () => {
      const rotated = await herald.service.tenants.rotateToken('fabrikam');
      assert.equal((await api('GET', '/v1/publickey')).status, 401);
      api = deviceClient(herald.url, rotated.apiToken);
      token = rotated.apiToken;
      const oldKey = key;
      await herald.service.tenants.rotateKey('fabrikam');
      key = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
      assert.notEqual(key.keyId, oldKey.keyId);
      const withOld = await api('POST', '/v1/registrations', {
        ...(await body(30)),
        account: {
          email: MAILBOX.email,
          ewsUrl: sim.ewsUrl,
          credentials: await encryptCredentials(oldKey, basic()),
        },
      });
      assert.equal(withOld.status, 201, JSON.stringify(withOld.body));
    });

    test('error/alive answers 503 when the database does not', async () => {
      await herald.service.store.close();
      const response = await raw('/alive');
      assert.equal(response.status, 503);
      assert.equal(code((await response.json()) as Record<string, unknown>), 'unavailable');
    });
  });
}
