/**
 * The core path of issue 2, end to end on both databases: a device registers against the Exchange
 * simulator, a mail arrives, Herald makes exactly one outbox event for it; wrong keys and deleted
 * registrations are answered Unsubscribe; every answer Herald gives Exchange is schema-valid; and
 * after the run neither the database nor the logs hold the password, the token or the address.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { type ExchangeSimulator, startExchangeSimulator } from '../../src/sim/exchange/index.ts';
import { databases } from '../../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../support/device.ts';
import { soapBodyChild, validateEwsBody } from '../support/ews-schema.ts';
import { deviceClient, type RunningHerald } from '../support/herald.ts';
import { type PushPeers, startHeraldWithPush } from '../support/push.ts';

const ALICE = { email: 'alice.mailbox@contoso.example', password: 'Pa55-word-that-must-not-leak' };
const BOB = { email: 'bob.mailbox@contoso.example', token: 'oauth-token-that-must-not-leak-0123456789' };

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`notification core [${database.name}]`, { skip: skip ?? false }, () => {
    let sim: ExchangeSimulator;
    let herald: RunningHerald;
    let api: ReturnType<typeof deviceClient>;
    let publicKey: PublicKeyAnswer;
    let dropDatabase: () => Promise<void> = async () => {};
    let peers: PushPeers | undefined;

    before(async () => {
      sim = await startExchangeSimulator({
        clock: { mode: 'manual' },
        mailboxes: [
          { email: ALICE.email, password: ALICE.password },
          { email: BOB.email, tokens: [BOB.token] },
        ],
      });
      const target = await database.forServer();
      dropDatabase = target.drop;
      const apiToken = 'contoso-core-test-token-0123456789';
      ({ herald, peers } = await startHeraldWithPush({
        ...(target.url ? { database: target.url } : {}),
        tenantId: 'contoso',
        apiToken,
      }));
      api = deviceClient(herald.url, apiToken);
      const key = await api('GET', '/v1/publickey');
      assert.equal(key.status, 200);
      publicKey = key.body as unknown as PublicKeyAnswer;
    });

    after(async () => {
      await herald?.stop();
      await peers?.close();
      await sim?.close();
      await dropDatabase();
    });

    async function register(
      seed: number,
      account: { email: string; credentials: unknown },
    ): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
      return api('POST', '/v1/registrations', {
        device: { platform: 'ios', pushToken: apnsToken(seed), appId: 'com.example.mail' },
        account: {
          email: account.email,
          ewsUrl: sim.ewsUrl,
          credentials: await encryptCredentials(publicKey, account.credentials),
        },
      });
    }

    const outboxFor = (registrationId: string) =>
      herald.service.store.outbox.listForRegistration(registrationId);

    test('a registered device gets exactly one outbox event per delivered mail, Basic auth', async () => {
      const created = await register(1, {
        email: ALICE.email,
        credentials: { type: 'basic', username: ALICE.email, password: ALICE.password },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body?.state, 'active');
      assert.equal(created.body?.statusFrequencyMinutes, 15);
      const registrationId = created.body?.registrationId as string;

      const [subscription] = sim.subscriptions(ALICE.email).filter((s) => s.state === 'active');
      assert.ok(subscription, 'Herald subscribed at Exchange');
      assert.equal(subscription.statusFrequencyMinutes, 15);
      assert.ok(
        subscription.callbackUrl.startsWith(`${herald.url}/api/ens/v1/ews/notify/${registrationId}.`),
      );
      assert.deepEqual([...subscription.eventTypes].sort(), [
        'CreatedEvent',
        'ModifiedEvent',
        'NewMailEvent',
      ]);

      const delivered = await sim.deliver(
        ALICE.email,
        { subject: 'Quarterly numbers', from: { name: 'Carol', address: 'carol@contoso.example' } },
        { wait: true },
      );
      assert.deepEqual(
        delivered.outcomes?.map((o) => [o.result, o.subscriptionStatus]),
        [['ok', 'OK']],
      );
      const rows = await outboxFor(registrationId);
      assert.equal(rows.length, 1, 'one outbox event for one mail');
      assert.equal(rows[0]!.kind, 'new_mail');
      assert.equal(rows[0]!.itemId, delivered.itemId);

      // Exchange resends a notification when it did not see the answer: still one event.
      const sent = sim.log({ kind: 'callback' }).at(-1);
      assert.ok(sent?.requestBody, 'the simulator logs the SendNotification it sent');
      // Herald's answer, as Exchange received it, is schema-valid.
      assert.deepEqual((await validateEwsBody(soapBodyChild(sent.responseBody!))).errors, []);
      const resend = await fetch(subscription.callbackUrl, {
        method: 'POST',
        headers: { 'content-type': 'text/xml; charset=utf-8' },
        body: sent.requestBody,
      });
      assert.equal(resend.status, 200);
      assert.match(await resend.text(), /SubscriptionStatus>OK</);
      assert.equal((await outboxFor(registrationId)).length, 1);

      // A second mail is a second event; the registration remembers the unread count.
      await sim.deliver(
        ALICE.email,
        { subject: 'Second', from: { address: 'dave@contoso.example' } },
        { wait: true },
      );
      assert.equal((await outboxFor(registrationId)).length, 2);
      const stored = await herald.service.store.registrations.get(registrationId);
      assert.equal(stored?.unreadCount, 2);
      assert.equal(stored?.state, 'active');
    });

    test('a status ping from Exchange refreshes the last-seen time (batched)', async () => {
      const created = await register(5, {
        email: ALICE.email,
        credentials: { type: 'basic', username: ALICE.email, password: ALICE.password },
      });
      const id = created.body?.registrationId as string;
      await herald.service.store.registrations.update(id, { lastSeenAt: 1 });
      const rowsBefore = (await outboxFor(id)).length;
      await sim.advance(15 * 60_000); // StatusFrequency: Exchange sends a StatusEvent
      const sub = sim.subscriptions(ALICE.email).find((s) => s.callbackUrl.includes(id))!;
      assert.equal(sub.lastCallback?.subscriptionStatus, 'OK', 'the status ping was answered OK');
      assert.match(sim.log({ kind: 'callback' }).at(-1)?.requestBody ?? '', /StatusEvent/);
      await herald.service.lastSeen.flush();
      const stored = await herald.service.store.registrations.get(id);
      assert.ok((stored?.lastSeenAt ?? 0) > 1, 'last-seen moved');
      assert.equal((await outboxFor(id)).length, rowsBefore, 'a status ping is no outbox event');
    });

    test('OAuth registration; a wrong key and a deleted registration are answered Unsubscribe', async () => {
      const created = await register(2, {
        email: BOB.email,
        credentials: { type: 'oauth', accessToken: BOB.token },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const registrationId = created.body?.registrationId as string;
      const subscription = sim.subscriptions(BOB.email).find((s) => s.state === 'active')!;

      const sample = await sim.deliver(
        BOB.email,
        { subject: 'Hi', from: { address: 'e@contoso.example' } },
        { wait: true },
      );
      assert.equal(sample.outcomes?.[0]?.subscriptionStatus, 'OK');
      const body = sim.log({ kind: 'callback' }).at(-1)!.requestBody!;

      const wrongKey = subscription.callbackUrl.replace(/\.[^.]+$/, `.${'A'.repeat(43)}`);
      const refused = await fetch(wrongKey, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body,
      });
      const refusedText = await refused.text();
      assert.equal(refused.status, 200);
      assert.match(refusedText, /SubscriptionStatus>Unsubscribe</);
      assert.deepEqual((await validateEwsBody(soapBodyChild(refusedText))).errors, []);

      const deleted = await api('DELETE', `/v1/registrations/${registrationId}`);
      assert.equal(deleted.status, 204);
      const afterDelete = await sim.deliver(
        BOB.email,
        { subject: 'Gone', from: { address: 'f@contoso.example' } },
        { wait: true },
      );
      assert.equal(afterDelete.outcomes?.[0]?.subscriptionStatus, 'Unsubscribe');
      assert.equal(
        sim.subscription(subscription.id).state === 'active',
        false,
        'Exchange dropped the subscription',
      );
      assert.equal(await herald.service.store.registrations.get(registrationId), undefined);
    });

    test('error/Exchange refuses the credentials: 502 exchange_auth_failed, nothing kept', async () => {
      const before = await herald.service.store.registrations.count();
      const refused = await register(3, {
        email: ALICE.email,
        credentials: { type: 'basic', username: ALICE.email, password: 'wrong' },
      });
      assert.equal(refused.status, 502);
      assert.deepEqual(errorCode(refused.body), 'exchange_auth_failed');
      assert.equal(await herald.service.store.registrations.count(), before);
    });

    test('error/malformed notification for a live registration gets a 400 SOAP fault', async () => {
      const created = await register(4, {
        email: ALICE.email,
        credentials: { type: 'basic', username: ALICE.email, password: ALICE.password },
      });
      const subscription = sim
        .subscriptions(ALICE.email)
        .find((s) => s.state === 'active' && s.callbackUrl.includes(created.body?.registrationId as string))!;
      for (const body of [
        '<not-xml',
        '<?xml version="1.0"?><a xmlns="urn:x"/>',
        '<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>',
      ]) {
        const response = await fetch(subscription.callbackUrl, {
          method: 'POST',
          headers: { 'content-type': 'text/xml' },
          body,
        });
        const text = await response.text();
        assert.equal(response.status, 400, body);
        assert.match(text, /<(\w+:)?Fault>/);
        assert.match(text, /faultcode>soap:Client</);
      }
    });

    test('no password, token or mailbox address in the database or the logs', async () => {
      await herald.service.store.registrations.count(); // the store is open and used
      const secrets = [ALICE.password, BOB.token, ALICE.email, BOB.email];
      const dump = await dumpDatabase(herald);
      const logs = herald.logs.text();
      assert.ok(herald.logs.lines.length > 20, 'the run produced logs to scan');
      assert.ok(dump.length > 1000, 'the database has content to scan');
      for (const secret of secrets) {
        assert.equal(dump.includes(secret), false, `database contains ${secret.slice(0, 5)}…`);
        assert.equal(logs.includes(secret), false, `logs contain ${secret.slice(0, 5)}…`);
      }
      if (database.name === 'sqlite') {
        // The files themselves, WAL included, not just what SQL returns.
        for (const file of readdirSync(herald.dataDir)) {
          const bytes = readFileSync(join(herald.dataDir, file)).toString('latin1');
          for (const secret of secrets)
            assert.equal(bytes.includes(secret), false, `${file} contains a secret`);
        }
      }
    });
  });
}

function errorCode(body: Record<string, unknown> | undefined): string | undefined {
  return (body?.error as { code?: string } | undefined)?.code;
}

/** Every row of every table as JSON text. */
async function dumpDatabase(herald: RunningHerald): Promise<string> {
  const { db, dialect } = herald.service.store;
  const tables =
    dialect === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows
      : (
          await sql<{
            name: string;
          }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(
            db,
          )
        ).rows;
  const parts: string[] = [];
  for (const { name } of tables) {
    const rows = await sql`select * from ${sql.table(name)}`.execute(db);
    parts.push(JSON.stringify(rows.rows));
  }
  return parts.join('\n');
}
