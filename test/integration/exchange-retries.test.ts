/**
 * Issue 4, part 3: Exchange's retries, on SQLite and on PostgreSQL. When Herald is down or
 * answers an error, the Exchange simulator retries the same notification as Exchange does (after
 * 30 s, then doubling); once Herald is back, each retried mail is pushed exactly once and the
 * subscription is `active` again.
 *
 * (a) Herald down: a real process stopped with SIGTERM, started again on the same port.
 * (b) Herald answers an error: its database really fails (the `outbox` table renamed from a
 *     second connection, no mock); Herald answers HTTP 500 with a SOAP fault, Exchange retries.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import pg from 'pg';
import type { ApnsSimulator } from '../../src/sim/apns/index.ts';
import {
  type ExchangeSimulator,
  type SubscriptionInfo,
  startExchangeSimulator,
} from '../../src/sim/exchange/index.ts';
import { child, NS, parseXml, textOf } from '../../src/sim/exchange/xml.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { databases, POSTGRES_TEST_URL } from '../../src/store/testing.ts';
import { apnsToken, registerDevice } from '../support/device.ts';
import { deviceClient } from '../support/herald.ts';
import { type HeraldProcess, startHeraldProcess } from '../support/herald-process.ts';
import { startCertificateApns, startHeraldWithPush } from '../support/push.ts';
import { waitFor } from '../support/wait.ts';

const APP = 'com.example.mail';
const TOKEN = 'exchange-retries-tenant-token-0123456789';
const SENDER = { name: 'Retry Test', address: 'retry@contoso.example' };
const FIRST_RETRY_MS = 30_000;

interface Device {
  email: string;
  token: string;
  registrationId: string;
}

interface PushData {
  type?: string;
  registrationId?: string;
  itemId?: string;
}

let seq = 0;

/** A mailbox at the Exchange simulator and an iOS device registered for it through the device API. */
async function register(
  api: ReturnType<typeof deviceClient>,
  exchange: ExchangeSimulator,
  label: string,
): Promise<Device> {
  const n = ++seq;
  return registerDevice(api, exchange, {
    email: `${label}${n}@contoso.example`,
    password: `pw-${n}-secret`,
    token: apnsToken(0x30000 + n),
    appId: APP,
  });
}

function subscriptionOf(exchange: ExchangeSimulator, email: string): SubscriptionInfo {
  const subs = exchange.subscriptions(email);
  assert.equal(subs.length, 1, `one subscription for ${email}`);
  return subs[0]!;
}

/** The itemIds of the new-mail pushes a device received, in order. */
function pushedItems(apns: ApnsSimulator, token: string): string[] {
  return apns
    .received({ token })
    .map((p) => (p.payload as { herald?: PushData } | undefined)?.herald)
    .filter((h) => h?.type === 'new_mail')
    .map((h) => h?.itemId ?? '(no itemId)');
}

/** Herald has nothing pending or in hand in its outbox. */
function drained(store: Store, what: string) {
  return waitFor(async () => {
    const counts = await store.outbox.countByStatus();
    return counts.pending === 0 && counts.processing === 0 ? counts : false;
  }, what);
}

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`Exchange's retries [${database.name}]`, { skip: skip ?? false }, () => {
    test('Herald down: the callbacks fail and are retried (30 s, then 60 s); once it is back each mail is pushed exactly once and the subscription is active', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'herald-retries-'));
      const { apns, caFile, app } = await startCertificateApns(dir, APP);
      const exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
      const target = await database.forServer();
      let herald: HeraldProcess | undefined;
      let observer: Store | undefined;
      t.after(async () => {
        await herald?.close();
        await observer?.close();
        await exchange.close();
        await apns.close();
        await target.drop();
      });
      herald = await startHeraldProcess({
        dataDir: dir,
        database: target.url,
        config: {
          tenants: [{ id: 'contoso', apiToken: TOKEN, apps: [app] }],
          trust: { caFiles: [caFile] },
          exchange: { statusFrequencyMinutes: 15 },
          push: { leaseSeconds: 2, pollMilliseconds: 50 },
          log: { level: 'warn' },
        },
      });
      try {
        observer = await openStore(target.url ?? `sqlite:${join(dir, 'herald.db')}`, { poolSize: 2 });
        const api = deviceClient(herald.url, TOKEN);
        const devices = [
          await register(api, exchange, 'down'),
          await register(api, exchange, 'down'),
          await register(api, exchange, 'down'),
        ];

        // While Herald is up, one mail each is pushed once.
        const first = new Map<string, string>();
        for (const d of devices) {
          const mail = await exchange.deliver(d.email, { subject: 'Before', from: SENDER }, { wait: true });
          assert.deepEqual(
            mail.outcomes?.map((o) => o.result),
            ['ok'],
          );
          first.set(d.email, mail.itemId);
        }
        await drained(observer, 'the first pushes');

        const exit = await herald.stop();
        assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: a clean exit');

        // Herald is down: the callback for mail A fails; Exchange schedules a retry in 30 s.
        const mailA = new Map<string, string>();
        for (const d of devices) {
          const mail = await exchange.deliver(d.email, { subject: 'A', from: SENDER }, { wait: true });
          const [outcome] = mail.outcomes ?? [];
          assert.equal(outcome?.result, 'failed', JSON.stringify(outcome));
          assert.match(outcome?.error ?? '', /connection/);
          assert.ok(outcome?.nextRetryAt, 'a retry is scheduled');
          assert.equal(outcome?.gaveUp, undefined);
          mailA.set(d.email, mail.itemId);
          const sub = subscriptionOf(exchange, d.email);
          assert.equal(sub.state, 'retrying');
          assert.deepEqual(sub.retry && { attempt: sub.retry.attempt, intervalMs: sub.retry.intervalMs }, {
            attempt: 2,
            intervalMs: FIRST_RETRY_MS,
          });
        }
        // Still down when Exchange retries: the second try fails too, the next waits twice as long.
        await exchange.advance(FIRST_RETRY_MS);
        for (const d of devices) {
          const sub = subscriptionOf(exchange, d.email);
          assert.equal(sub.state, 'retrying');
          assert.equal(sub.lastCallback?.attempt, 2);
          assert.equal(sub.lastCallback?.ok, false);
          assert.deepEqual(sub.retry && { attempt: sub.retry.attempt, intervalMs: sub.retry.intervalMs }, {
            attempt: 3,
            intervalMs: 2 * FIRST_RETRY_MS,
          });
        }
        // Mail B arrives meanwhile: Exchange queues it behind the notification being retried.
        const mailB = new Map<string, string>();
        for (const d of devices) {
          const mail = await exchange.deliver(d.email, { subject: 'B', from: SENDER }, { wait: true });
          assert.deepEqual(
            mail.outcomes?.map((o) => o.result),
            ['queued'],
          );
          mailB.set(d.email, mail.itemId);
        }
        assert.equal(apns.stats().accepted, devices.length, 'nothing pushed while Herald was down');

        // Back on the same port: the retry comes, then the queued mail.
        await herald.start();
        await exchange.advance(2 * FIRST_RETRY_MS);
        for (const d of devices) {
          const sub = subscriptionOf(exchange, d.email);
          assert.equal(sub.state, 'active', JSON.stringify(sub));
          assert.equal(sub.queuedEvents, 0);
          assert.equal(sub.retry, undefined);
          assert.equal(sub.lastCallback?.ok, true);
        }
        const counts = await drained(observer, 'the retried mails to be pushed');
        assert.equal(counts.failed, 0);
        for (const d of devices) {
          assert.deepEqual(
            pushedItems(apns, d.token),
            [first.get(d.email), mailA.get(d.email), mailB.get(d.email)],
            `${d.email}: each mail pushed exactly once, in order`,
          );
          const collapseIds = apns.received({ token: d.token }).map((p) => p.collapseId);
          assert.equal(new Set(collapseIds).size, 3, 'three notifications, three collapse ids');
        }
      } catch (error) {
        if (error instanceof Error) error.message += `\n--- Herald's output:\n${herald.tail(40)}`;
        throw error;
      }
    });

    test('Herald answers an error (its database fails): HTTP 500 with a SOAP fault, Exchange retries after 30 s, the mail is pushed exactly once', async (t) => {
      const target = await database.forServer();
      const { herald, peers } = await startHeraldWithPush({
        ...(target.url ? { database: target.url } : {}),
        tenantId: 'contoso',
        apiToken: TOKEN,
        appId: APP,
        config: { push: { pollMilliseconds: 20, retryBaseSeconds: 0 } },
      });
      const exchange = await startExchangeSimulator({ clock: { mode: 'manual' } });
      const outbox = await outboxSwitch(target.url, join(herald.dataDir, 'herald.db'));
      t.after(async () => {
        await outbox.close();
        await herald.stop();
        await peers.close();
        await exchange.close();
        await target.drop();
      });
      const store = herald.service.store;
      const api = deviceClient(herald.url, TOKEN);
      const device = await register(api, exchange, 'error');

      const before = await exchange.deliver(
        device.email,
        { subject: 'Before', from: SENDER },
        { wait: true },
      );
      assert.deepEqual(
        before.outcomes?.map((o) => o.result),
        ['ok'],
      );
      await drained(store, 'the first push');

      await outbox.rename('outbox', 'outbox_off');
      const mail = await exchange.deliver(device.email, { subject: 'During', from: SENDER }, { wait: true });
      const [outcome] = mail.outcomes ?? [];
      assert.equal(outcome?.result, 'failed', JSON.stringify(outcome));
      assert.equal(outcome?.httpStatus, 500);
      assert.ok(outcome?.nextRetryAt, 'a retry is scheduled');
      const sub = subscriptionOf(exchange, device.email);
      assert.equal(sub.state, 'retrying');
      assert.equal(sub.lastCallback?.httpStatus, 500);
      assert.equal(sub.retry?.intervalMs, FIRST_RETRY_MS);
      // What Herald answered: a SOAP 1.1 fault, soap:Server (Herald's side, try again).
      const [answer] = exchange.log({ kind: 'callback' }).slice(-1);
      assert.equal(answer?.status, 500);
      const fault = child(child(parseXml(answer?.responseBody ?? ''), NS.soap, 'Body'), NS.soap, 'Fault');
      assert.ok(fault, `a SOAP fault: ${answer?.responseBody}`);
      assert.equal(textOf(child(fault, '', 'faultcode')), 'soap:Server');
      assert.deepEqual(pushedItems(peers.apns, device.token), [before.itemId], 'nothing pushed yet');

      await outbox.rename('outbox_off', 'outbox');
      await exchange.advance(FIRST_RETRY_MS);
      const after = subscriptionOf(exchange, device.email);
      assert.equal(after.state, 'active', JSON.stringify(after));
      assert.equal(after.lastCallback?.ok, true);
      assert.equal(after.lastCallback?.attempt, 2);
      assert.equal(after.queuedEvents, 0);
      const counts = await drained(store, 'the retried mail to be pushed');
      assert.equal(counts.failed, 0);
      assert.deepEqual(
        pushedItems(peers.apns, device.token),
        [before.itemId, mail.itemId],
        'the retried mail is pushed exactly once',
      );
    });
  });
}

/**
 * Renames a table of Herald's database from a second connection: a real failure of the database
 * as Herald sees it (no mock). PostgreSQL: in the run's own schema; SQLite: the same file.
 */
async function outboxSwitch(
  postgresUrl: string | undefined,
  sqliteFile: string,
): Promise<{ rename(from: string, to: string): Promise<void>; close(): Promise<void> }> {
  if (postgresUrl) {
    const schema = new URL(postgresUrl).searchParams.get('schema');
    assert.ok(schema, 'a per-run schema');
    const client = new pg.Client({ connectionString: POSTGRES_TEST_URL });
    await client.connect();
    return {
      async rename(from, to) {
        await client.query(`alter table "${schema}"."${from}" rename to "${to}"`);
      },
      close: () => client.end(),
    };
  }
  const db = new DatabaseSync(sqliteFile);
  db.exec('pragma busy_timeout = 5000');
  return {
    async rename(from, to) {
      db.exec(`alter table "${from}" rename to "${to}"`);
    },
    async close() {
      db.close();
    },
  };
}
