/**
 * Issue 4, part 7: secrets and personal data never reach the logs. One full run of Herald at
 * `trace` level (everything it can log) goes through every path that handles a secret:
 * registrations on both platforms with a password and with an OAuth token, refused credentials,
 * wrong and missing API tokens, Exchange callbacks with good and wrong keys and a malformed body,
 * pushes through APNs (token auth) and FCM, an expired OAuth token (needs_credentials and the
 * checkin push), a check-in with fresh credentials, the admin API searched by mailbox address,
 * /metrics, deletion, and shutdown. Then the whole log is searched for every secret the run used:
 * API and admin tokens, passwords, OAuth tokens, the JWEs, callback keys, device tokens, mailbox
 * addresses, mail subjects and senders, and the push key material. None may appear.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import { type PushPeers, startPushPeers } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP = 'com.example.secretmail';
const TENANT_TOKEN = 'log-secrets-tenant-token-9f8e7d6c5b4a';
const ADMIN_TOKEN = 'log-secrets-admin-token-0a1b2c3d4e5f60718293';
const ALICE = { email: 'alice.secret@contoso.example', password: 'Al1ce-pa55word-never-logged' };
const BOB = { email: 'bob.secret@contoso.example', token: 'bob-oauth-access-token-never-logged-123' };
const BOB_NEW_TOKEN = 'bob-fresh-oauth-token-never-logged-456';
const SUBJECT = 'Confidential merger plans for Fabrikam';
const SENDER = { name: 'Dana Secretive', address: 'dana.secretive@fabrikam.example' };

let exchange: ExchangeSimulator;
let peers: PushPeers;
let herald: RunningHerald;
let dir: string;
/** Everything secret this run handed to Herald or Herald handed out. */
const secrets = new Map<string, string>();

before(async () => {
  exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
  dir = mkdtempSync(join(tmpdir(), 'herald-secrets-'));
  peers = await startPushPeers(dir);
  herald = await startHerald({
    dataDir: dir,
    config: {
      tenants: [{ id: 'contoso', apiToken: TENANT_TOKEN, apps: [peers.app(APP)] }],
      trust: { caFiles: [peers.caFile] },
      push: { pollMilliseconds: 20, retryBaseSeconds: 0, maxAttempts: 2 },
      admin: { apiToken: ADMIN_TOKEN },
      log: { level: 'trace' },
    },
  });
});

after(async () => {
  // The test stopped Herald already: a second stop must wait for the first, not throw.
  await herald?.stop();
  await peers?.close();
  await exchange?.close();
});

test('a full run at trace level logs none of the secrets it handled', async () => {
  const api = deviceClient(herald.url, TENANT_TOKEN);
  const publicKey = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
  exchange.createMailbox({ email: ALICE.email, password: ALICE.password });
  exchange.createMailbox({ email: BOB.email, tokens: [BOB.token, BOB_NEW_TOKEN] });

  const aliceJwe = await encryptCredentials(publicKey, {
    type: 'basic',
    username: ALICE.email,
    password: ALICE.password,
  });
  const bobJwe = await encryptCredentials(publicKey, { type: 'oauth', accessToken: BOB.token });
  const wrongJwe = await encryptCredentials(publicKey, {
    type: 'basic',
    username: ALICE.email,
    password: 'Wr0ng-pa55word-never-logged',
  });
  const iosToken = apnsToken(0x5ec2e7);
  const androidToken = `fcm-secret-device-token-${'z'.repeat(120)}`;

  // Refused credentials, a wrong API token, a missing one, a malformed body.
  const refused = await api('POST', '/v1/registrations', {
    device: { platform: 'ios', pushToken: iosToken, appId: APP },
    account: { email: ALICE.email, ewsUrl: exchange.ewsUrl, credentials: wrongJwe },
  });
  assert.equal(refused.status, 502);
  assert.equal(
    (await deviceClient(herald.url, 'not-the-token-but-close-0123')('GET', '/v1/publickey')).status,
    401,
  );
  assert.equal((await fetch(`${herald.url}/api/ens/v1/publickey`)).status, 401);
  const garbage = await api('POST', '/v1/registrations', {
    device: { platform: 'ios', pushToken: iosToken, appId: APP },
    account: { email: ALICE.email, ewsUrl: exchange.ewsUrl, credentials: `${aliceJwe.slice(0, 40)}garbage` },
  });
  assert.equal(garbage.status, 400);

  // Two registrations that work.
  const alice = await api('POST', '/v1/registrations', {
    device: { platform: 'ios', pushToken: iosToken, appId: APP },
    account: { email: ALICE.email, ewsUrl: exchange.ewsUrl, credentials: aliceJwe },
  });
  assert.equal(alice.status, 201, JSON.stringify(alice.body));
  const bob = await api('POST', '/v1/registrations', {
    device: { platform: 'android', pushToken: androidToken, appId: APP },
    account: { email: BOB.email, ewsUrl: exchange.ewsUrl, credentials: bobJwe },
  });
  assert.equal(bob.status, 201, JSON.stringify(bob.body));
  const bobId = bob.body?.registrationId as string;

  // Mail for both: pushes through APNs and FCM with the subject and the sender.
  for (const email of [ALICE.email, BOB.email]) {
    await exchange.deliver(email, { subject: SUBJECT, from: SENDER }, { wait: true });
  }
  await waitFor(() => peers.apns.received({ token: iosToken }).length === 1, 'the APNs push');
  await waitFor(() => peers.fcm.received({ token: androidToken }).length === 1, 'the FCM push');

  // Bob's token expires: pushed without fields, needs_credentials, a checkin push.
  exchange.revokeToken(BOB.token);
  await exchange.deliver(BOB.email, { subject: `${SUBJECT} (2)`, from: SENDER }, { wait: true });
  await waitFor(
    async () => (await herald.service.store.registrations.get(bobId))?.state === 'needs_credentials',
    'needs_credentials',
  );
  const fresh = await api('POST', `/v1/registrations/${bobId}/checkin`, {
    account: {
      credentials: await encryptCredentials(publicKey, { type: 'oauth', accessToken: BOB_NEW_TOKEN }),
    },
  });
  assert.deepEqual(fresh.body, { state: 'resubscribed' });

  // Callbacks with a wrong key and with a malformed body.
  const [aliceSubscription] = exchange.subscriptions(ALICE.email);
  const callbackUrl = aliceSubscription!.callbackUrl;
  const key = callbackUrl.slice(callbackUrl.lastIndexOf('.') + 1);
  const wrongKeyUrl = `${callbackUrl.slice(0, callbackUrl.lastIndexOf('.') + 1)}${'A'.repeat(key.length)}`;
  assert.equal(
    (await fetch(wrongKeyUrl, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<x/>' }))
      .status,
    200,
  );
  assert.equal(
    (await fetch(callbackUrl, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<x/>' }))
      .status,
    400,
  );

  // The admin API, searched by mailbox address; and /metrics.
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const search = await fetch(
    `${herald.url}/api/admin/v1/registrations?email=${encodeURIComponent(ALICE.email)}`,
    {
      headers: admin,
    },
  );
  assert.equal(search.status, 200);
  assert.equal(((await search.json()) as { registrations: unknown[] }).registrations.length, 1);
  assert.equal((await fetch(`${herald.url}/metrics`, { headers: admin })).status, 200);
  assert.equal(
    (await fetch(`${herald.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status,
    401,
  );

  // Deletion, then shutdown: everything Herald logs for this run is in.
  assert.equal(
    (await api('DELETE', `/v1/registrations/${alice.body?.registrationId as string}`)).status,
    204,
  );
  const bobSubscription = exchange.subscriptions(BOB.email).find((s) => s.state === 'active');
  await herald.stop();

  Object.entries({
    'tenant API token': TENANT_TOKEN,
    'admin token': ADMIN_TOKEN,
    'Alice password': ALICE.password,
    'wrong password': 'Wr0ng-pa55word-never-logged',
    'Bob OAuth token': BOB.token,
    'Bob new OAuth token': BOB_NEW_TOKEN,
    'Alice JWE': aliceJwe,
    'Bob JWE': bobJwe,
    'Alice callback key': key,
    'Bob callback key': bobSubscription!.callbackUrl.slice(bobSubscription!.callbackUrl.lastIndexOf('.') + 1),
    'APNs device token': iosToken,
    'FCM device token': androidToken,
    'Alice address': ALICE.email,
    'Bob address': BOB.email,
    'mail subject': SUBJECT,
    'sender address': SENDER.address,
    'sender name': SENDER.name,
  }).forEach(([name, value]) => {
    secrets.set(name, value);
  });
  // Push key material: the .p8 key and the service account's private key, by a distinctive line.
  const p8 = readFileSync(
    (peers.app(APP) as { apns: { token: { keyFile: string } } }).apns.token.keyFile,
    'utf8',
  ).split('\n')[1]!;
  secrets.set('APNs .p8 key', p8);
  const serviceAccount = JSON.parse(readFileSync(join(dir, 'service-account.json'), 'utf8')) as {
    private_key: string;
  };
  secrets.set('FCM private key', serviceAccount.private_key.split('\n')[1]!);

  const logs = herald.logs.text();
  assert.ok(
    herald.logs.lines.length > 40,
    `the run logged enough to mean something (${herald.logs.lines.length} lines)`,
  );
  for (const expected of [
    'registration created',
    'push sent',
    'Exchange refused the credentials',
    'registration resubscribed',
  ]) {
    assert.ok(logs.includes(expected), `the run went through "${expected}"`);
  }
  const leaked = [...secrets].filter(([, value]) => logs.includes(value)).map(([name]) => name);
  assert.deepEqual(leaked, [], 'secrets found in the logs');
  // Case-insensitive and URL-encoded forms of the addresses too.
  for (const address of [ALICE.email, BOB.email, SENDER.address]) {
    assert.equal(logs.toLowerCase().includes(address.toLowerCase()), false);
    assert.equal(logs.includes(encodeURIComponent(address)), false, `${address} URL-encoded`);
  }
});
