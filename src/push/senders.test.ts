/**
 * createPushSenders: routing (tenant, app, platform) to a sender from the configuration, key
 * files checked at start with errors that name the file and the config key, and what is shared
 * (one APNs token and connection per team across tenants and apps).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configSchema, type HeraldConfig } from '../config/index.ts';
import { startApnsSimulator } from '../sim/apns/index.ts';
import { startFcmSimulator } from '../sim/fcm/index.ts';
import { type ConfiguredTenantApps, createPushSenders, PushCredentialError } from './senders.ts';
import { captureLogger, deviceToken, makeApnsCertificate } from './testkit.ts';

const dir = mkdtempSync(join(tmpdir(), 'herald-push-senders-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const { logger } = captureLogger();
const RELAY_SECRET = 'r'.repeat(32);

function p8(): string {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

test('senders/routes: apns → ios, fcm → android, relay → both; undefined without credentials', async () => {
  const fcm = await startFcmSimulator();
  try {
    const keyFile = file('AuthKey_ABC123DEFG.p8', p8());
    const serviceAccountFile = file('sa.json', JSON.stringify(fcm.createServiceAccount()));
    const tenants: ConfiguredTenantApps[] = [
      {
        id: 'acme',
        apps: [
          {
            appId: 'com.example.mail',
            apns: { token: { keyFile, keyId: 'ABC123DEFG', teamId: 'TEAM123456' } },
            fcm: { serviceAccountFile, endpoint: fcm.url },
          },
          {
            appId: 'com.example.relayed',
            relay: { url: 'https://relay.example/push', secret: RELAY_SECRET },
          },
          { appId: 'com.example.droid', fcm: { serviceAccountFile } },
        ],
      },
      { id: 'globex', apps: [] },
    ];
    const senders = createPushSenders({ tenants, logger });
    try {
      const ios = senders.senderFor('acme', 'com.example.mail', 'ios');
      const android = senders.senderFor('acme', 'com.example.mail', 'android');
      assert.ok(ios && android && ios !== android);
      const relayIos = senders.senderFor('acme', 'com.example.relayed', 'ios');
      assert.ok(relayIos);
      assert.equal(senders.senderFor('acme', 'com.example.relayed', 'android'), relayIos);
      assert.ok(senders.senderFor('acme', 'com.example.droid', 'android'));
      assert.equal(senders.senderFor('acme', 'com.example.droid', 'ios'), undefined);
      assert.equal(senders.senderFor('globex', 'com.example.mail', 'ios'), undefined, 'apps are per tenant');
      assert.equal(senders.senderFor('acme', 'com.example.unknown', 'ios'), undefined);
      const sent = await android.send(
        {
          platform: 'android',
          token: 'fcm-token-0123456789:APA91b',
          appId: 'com.example.mail',
          environment: 'production',
        },
        { type: 'badge', registrationId: 'r', badge: 1 },
      );
      assert.equal(sent.status, 'sent');
    } finally {
      await senders.close();
    }
  } finally {
    await fcm.close();
  }
});

test('senders/shared: two tenants’ apps of one team use one token and one connection', async () => {
  const sim = await startApnsSimulator();
  try {
    const key = sim.generateKey();
    const keyFile = file(`AuthKey_${key.keyId}.p8`, key.privateKey);
    const apns = { token: { keyFile, keyId: key.keyId, teamId: key.teamId }, endpoint: sim.url };
    const senders = createPushSenders({
      tenants: [
        { id: 'acme', apps: [{ appId: 'com.example.mail', apns }] },
        { id: 'globex', apps: [{ appId: 'com.example.calendar', apns }] },
      ],
      ca: [sim.ca],
      logger,
    });
    try {
      const token = deviceToken();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          senders
            .senderFor(i % 2 ? 'acme' : 'globex', i % 2 ? 'com.example.mail' : 'com.example.calendar', 'ios')!
            .send(
              {
                platform: 'ios',
                token,
                appId: i % 2 ? 'com.example.mail' : 'com.example.calendar',
                environment: 'production',
              },
              { type: 'badge', registrationId: `r${i}`, badge: i },
            ),
        ),
      );
      assert.ok(results.every((r) => r.status === 'sent'));
      const received = sim.received({ token });
      assert.equal(new Set(received.map((r) => (r.auth.kind === 'token' ? r.auth.issuedAt : -1))).size, 1);
      assert.equal(sim.stats().connections, 1);
    } finally {
      await senders.close();
    }
    assert.equal(sim.stats().openConnections, 0, 'close() closed the connection');
  } finally {
    await sim.close();
  }
});

test('senders/certificate: a p12File with its passphrase is loaded at start', async () => {
  const cert = await makeApnsCertificate(dir, 'com.example.mail', 'p12-pass');
  const senders = createPushSenders({
    tenants: [
      {
        id: 'acme',
        apps: [
          {
            appId: 'com.example.mail',
            apns: { certificate: { p12File: cert.p12File, passphrase: 'p12-pass' } },
          },
        ],
      },
    ],
    logger,
  });
  assert.ok(senders.senderFor('acme', 'com.example.mail', 'ios'));
  await senders.close();
});

function startError(tenants: ConfiguredTenantApps[]): PushCredentialError {
  try {
    createPushSenders({ tenants, logger });
  } catch (error) {
    assert.ok(error instanceof PushCredentialError, String(error));
    return error;
  }
  assert.fail('createPushSenders should have thrown');
}

test('senders/errors: missing or broken key files name the file and the config key', async () => {
  const good = file('good.p8', p8());
  const missing = join(dir, 'AuthKey_MISSING.p8');
  const token = (keyFile: string) => ({ token: { keyFile, keyId: 'ABC123DEFG', teamId: 'TEAM123456' } });
  const rsa = file(
    'rsa.p8',
    generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString(),
  );
  const cert = await makeApnsCertificate(dir, 'com.example.err', 'right');
  const cases: Array<[ConfiguredTenantApps[], RegExp]> = [
    [
      [
        {
          id: 'a',
          apps: [
            { appId: 'x', apns: token(good) },
            { appId: 'y', apns: token(missing) },
          ],
        },
      ],
      /^tenants\[0\]\.apps\[1\]\.apns\.token\.keyFile: file not found \(file ".*AuthKey_MISSING\.p8"\)$/,
    ],
    [
      [{ id: 'a', apps: [{ appId: 'x', apns: token(file('junk.p8', 'hello')) }] }],
      /keyFile: not a PEM private key/,
    ],
    [[{ id: 'a', apps: [{ appId: 'x', apns: token(rsa) }] }], /keyFile: not a P-256 \(ES256\) key/],
    [
      [
        { id: 'a', apps: [] },
        {
          id: 'b',
          apps: [{ appId: 'x', apns: { certificate: { p12File: cert.p12File, passphrase: 'wrong' } } }],
        },
      ],
      /^tenants\[1\]\.apps\[0\]\.apns\.certificate\.p12File: not a PKCS#12 file, or the passphrase is wrong/,
    ],
    [
      [{ id: 'a', apps: [{ appId: 'x', fcm: { serviceAccountFile: file('sa-bad.json', '{') } }] }],
      /^tenants\[0\]\.apps\[0\]\.fcm\.serviceAccountFile: not JSON/,
    ],
    [
      [
        {
          id: 'a',
          apps: [
            {
              appId: 'x',
              fcm: {
                serviceAccountFile: file('sa-partial.json', '{"type":"service_account","project_id":"p"}'),
              },
            },
          ],
        },
      ],
      /fcm\.serviceAccountFile: not a usable service-account key: private_key is missing/,
    ],
  ];
  for (const [tenants, message] of cases) {
    const error = startError(tenants);
    assert.match(error.message, message);
    assert.ok(error.file.length > 0 && error.message.includes(error.file));
  }
  // The PEM text never leaks into the message.
  assert.equal(
    startError([{ id: 'a', apps: [{ appId: 'x', apns: token(rsa) }] }]).message.includes('PRIVATE KEY'),
    false,
  );
});

test('senders/config: the loaded configuration’s tenants are accepted as they are', async () => {
  const keyFile = file('AuthKey_CFG.p8', p8());
  const config: HeraldConfig = configSchema.parse({
    tenants: [
      {
        id: 'acme',
        apiToken: 'a'.repeat(20),
        apps: [
          {
            appId: 'com.example.mail',
            apns: { token: { keyFile, keyId: 'ABC123DEFG', teamId: 'TEAM123456' } },
          },
          {
            appId: 'com.example.relayed',
            relay: { url: 'https://relay.example/push', secret: RELAY_SECRET },
          },
        ],
      },
    ],
  });
  const senders = createPushSenders({ tenants: config.tenants, logger });
  assert.ok(senders.senderFor('acme', 'com.example.mail', 'ios'));
  assert.ok(senders.senderFor('acme', 'com.example.relayed', 'android'));
  await senders.close();
  await senders.close(); // idempotent
});
