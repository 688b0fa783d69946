/**
 * Issue 4, part 8: graceful shutdown of a real `herald serve` process, on SQLite and PostgreSQL.
 * A push is in flight to an APNs that takes a minute to answer; SIGTERM stops Herald within its
 * bound (shutdown.graceSeconds plus a few seconds), exit code 0, and the unfinished push is handed
 * back to the outbox at once (not left leased for leaseSeconds): the next start delivers it
 * immediately, exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { makeApnsCertificate } from '../../src/push/testkit.ts';
import { startApnsSimulator } from '../../src/sim/apns/index.ts';
import { startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, registerDevice } from '../support/device.ts';
import { deviceClient } from '../support/herald.ts';
import { type HeraldProcess, startHeraldProcess } from '../support/herald-process.ts';
import { certificateApnsApp } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP = 'com.example.mail';
const TOKEN = 'shutdown-test-tenant-token-0123456789';
const GRACE_SECONDS = 2;
/** The serve command's slack after the grace period (src/cli/serve.ts). */
const SLACK_MS = 5000;

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`graceful shutdown [${database.name}]`, { skip: skip ?? false }, () => {
    test('SIGTERM with a push in flight: bounded exit, the push handed back and delivered once after the restart', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'herald-shutdown-'));
      const certificate = await makeApnsCertificate(dir, APP, 'shutdown-p12');
      // An APNs that holds every push for a minute, and one that answers at once.
      const slow = await startApnsSimulator({ clientCa: certificate.caPem, responseDelayMs: 60_000 });
      const fast = await startApnsSimulator({ clientCa: certificate.caPem });
      const caFile = join(dir, 'apns-ca.pem');
      writeFileSync(caFile, `${slow.ca}\n${fast.ca}`);
      const exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
      const target = await database.forServer();
      let herald: HeraldProcess | undefined;
      let observer: Store | undefined;
      t.after(async () => {
        await herald?.close();
        await observer?.close();
        await exchange.close();
        await slow.close();
        await fast.close();
        await target.drop();
      });
      const app = (endpoint: string) => certificateApnsApp(APP, certificate, endpoint);
      herald = await startHeraldProcess({
        dataDir: dir,
        database: target.url,
        config: {
          tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [app(slow.url)] }],
          trust: { caFiles: [caFile] },
          push: { pollMilliseconds: 50 }, // leaseSeconds stays 120: the hand-back must not wait for it
          shutdown: { graceSeconds: GRACE_SECONDS },
        },
      });
      observer = await openStore(target.url ?? `sqlite:${join(dir, 'herald.db')}`, { poolSize: 2 });

      const api = deviceClient(herald.url, TOKEN);
      const { email, token, registrationId } = await registerDevice(api, exchange, {
        email: 'shutdown@contoso.example',
        password: 'pw-shutdown-secret',
        token: apnsToken(0x50000),
        appId: APP,
      });
      const mail = await exchange.deliver(
        email,
        { subject: 'In flight', from: { address: 'a@contoso.example' } },
        { wait: true },
      );
      assert.deepEqual(
        mail.outcomes?.map((o) => o.result),
        ['ok'],
        'the callback was durable before the shutdown',
      );
      await waitFor(
        async () => (await observer!.outbox.countByStatus()).processing === 1,
        'the push to be in flight',
      );

      const started = performance.now();
      const exit = await herald.stop(30_000);
      const tookMs = performance.now() - started;
      assert.deepEqual(exit, { code: 0, signal: null }, `clean exit; log:\n${herald.tail(20)}`);
      assert.ok(
        tookMs < GRACE_SECONDS * 1000 + SLACK_MS,
        `stopped in ${Math.round(tookMs)} ms, within the bound (the push would have taken 60 s)`,
      );
      assert.match(herald.output(), /handed back to the outbox/);

      // Handed back: pending, no lease, the interrupted try not counted.
      const [row] = (await observer.outbox.listForRegistration(registrationId)).filter(
        (e) => e.kind === 'new_mail',
      );
      assert.equal(row?.status, 'pending');
      assert.equal(row?.leaseOwner, null);
      assert.equal(row?.attempts, 0);

      // Started again (towards the answering APNs): delivered at once, not after leaseSeconds.
      const config = parse(readFileSync(herald.configFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(
        herald.configFile,
        stringify({ ...config, tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [app(fast.url)] }] }),
      );
      await herald.start();
      const pushes = await waitFor(
        () => {
          const received = fast.received({ token });
          return received.length > 0 ? received : false;
        },
        'the handed-back push',
        20_000,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${herald?.tail(15)}`);
      });
      await waitFor(async () => (await observer!.outbox.countByStatus()).done === 1, 'the event done');
      assert.equal(pushes.length, 1);
      assert.equal((pushes[0]!.payload as { herald?: { itemId?: string } }).herald?.itemId, mail.itemId);
    });
  });
}
