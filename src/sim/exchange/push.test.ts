import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from './index.ts';
import { ALICE, eventNames, startReceiver, subscribe, tText } from './testkit.ts';
import { child, NS } from './xml.ts';

const MIN = 60_000;
const mail = { subject: 'Quarterly report', from: { name: 'Bob Example', address: 'bob@example.com' } };

let sim: ExchangeSimulator;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeEach(async () => {
  sim = await startExchangeSimulator({ clock: { mode: 'manual' }, mailboxes: [ALICE] });
  receiver = await startReceiver(() => sim);
});
afterEach(async () => {
  await sim.close();
  await receiver.close();
});

describe('push notifications', () => {
  test('a delivered mail sends exactly one SendNotification with Created, NewMail and the Inbox Modified', async () => {
    const { subscriptionId, watermark } = await subscribe(sim, receiver.url);
    const { itemId, outcomes } = await sim.deliver(ALICE.email, mail, { wait: true });

    assert.equal(receiver.received.length, 1);
    assert.deepEqual(outcomes, [{ subscriptionId, result: 'ok', httpStatus: 200, subscriptionStatus: 'OK' }]);
    const { notification, headers } = receiver.received[0]!;
    assert.equal(headers['content-type'], 'text/xml; charset=utf-8');
    assert.equal(tText(notification, 'SubscriptionId'), subscriptionId);
    assert.equal(tText(notification, 'PreviousWatermark'), watermark);
    assert.equal(tText(notification, 'MoreEvents'), 'false');
    assert.deepEqual(eventNames(notification), ['CreatedEvent', 'NewMailEvent', 'ModifiedEvent']);

    const [created, newMail, modified] = notification.children.filter((e) => e.local.endsWith('Event'));
    const inboxId = sim.mailboxes()[0]!.inbox.folderId;
    for (const event of [created!, newMail!]) {
      assert.equal(child(event, NS.t, 'ItemId')?.attrs.Id, itemId);
      assert.equal(child(event, NS.t, 'ParentFolderId')?.attrs.Id, inboxId);
      assert.match(tText(event, 'TimeStamp')!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    assert.equal(child(modified, NS.t, 'FolderId')?.attrs.Id, inboxId);
    assert.equal(tText(modified, 'UnreadCount'), '1');
    const watermarks = [created, newMail, modified].map((e) => tText(e, 'Watermark'));
    assert.equal(new Set([...watermarks, watermark]).size, 4, 'each event has its own watermark');

    // The acknowledged watermark moves to the last event; the next notification starts there.
    assert.equal(sim.subscription(subscriptionId).watermark, watermarks[2]);
    await sim.deliver(ALICE.email, { ...mail, subject: 'second' }, { wait: true });
    assert.equal(receiver.received.length, 2);
    assert.equal(tText(receiver.received[1]!.notification, 'PreviousWatermark'), watermarks[2]);
    assert.equal(tText(child(receiver.received[1]!.notification, NS.t, 'ModifiedEvent'), 'UnreadCount'), '2');
  });

  test('only the subscribed event types are sent', async () => {
    await subscribe(sim, receiver.url, { eventTypes: ['NewMailEvent'] });
    await sim.deliver(ALICE.email, mail, { wait: true });
    assert.deepEqual(eventNames(receiver.received[0]!.notification), ['NewMailEvent']);
  });

  test('answering Unsubscribe ends the subscription', async () => {
    const { subscriptionId } = await subscribe(sim, receiver.url);
    receiver.answerWith(() => 'unsubscribe');
    const first = await sim.deliver(ALICE.email, mail, { wait: true });
    assert.equal(first.outcomes![0]!.result, 'unsubscribed');
    assert.equal(sim.subscription(subscriptionId).state, 'unsubscribed');

    const second = await sim.deliver(ALICE.email, mail, { wait: true });
    assert.deepEqual(second.outcomes, []);
    await sim.advance(60 * MIN);
    assert.equal(receiver.received.length, 1, 'no notification or status ping after Unsubscribe');
  });

  test('a failing callback is retried after 30 s, doubling, until the next interval exceeds StatusFrequency', async () => {
    const { subscriptionId } = await subscribe(sim, receiver.url, { statusFrequency: 5 });
    receiver.answerWith(() => ({ status: 500, body: 'boom' }));
    const start = sim.now();
    const { outcomes } = await sim.deliver(ALICE.email, mail, { wait: true });
    assert.equal(outcomes![0]!.result, 'failed');
    assert.equal(outcomes![0]!.httpStatus, 500);
    assert.equal(outcomes![0]!.nextRetryAt, new Date(start + 30_000).toISOString().replace(/\.\d+Z$/, 'Z'));
    const info = sim.subscription(subscriptionId);
    assert.equal(info.state, 'retrying');
    assert.deepEqual(info.retry, { attempt: 2, nextRetryAt: outcomes![0]!.nextRetryAt, intervalMs: 30_000 });

    await sim.advance(30 * MIN);
    const offsets = receiver.received.map((r) => (r.at - start) / 1000);
    // Intervals 30, 60, 120, 240 s fit in 5 minutes; the next (480 s) does not: give up.
    assert.deepEqual(offsets, [0, 30, 90, 210, 450]);
    assert.ok(
      receiver.received.every((r) => r.body === receiver.received[0]!.body),
      'every retry carries the same notification',
    );
    const dead = sim.subscription(subscriptionId);
    assert.equal(dead.state, 'dead');
    assert.equal(dead.lastCallback?.httpStatus, 500);
    assert.equal(dead.endedAt, new Date(start + 450_000).toISOString().replace(/\.\d+Z$/, 'Z'));

    receiver.answerWith(() => 'ok');
    assert.deepEqual((await sim.deliver(ALICE.email, mail, { wait: true })).outcomes, []);
    assert.equal(receiver.received.length, 5, 'a dead subscription receives nothing');
  });

  test('StatusFrequency 1 gives up after the retries at 30 s and 90 s', async () => {
    const { subscriptionId } = await subscribe(sim, receiver.url, { statusFrequency: 1 });
    receiver.answerWith(() => 'destroy');
    const start = sim.now();
    const { outcomes } = await sim.deliver(ALICE.email, mail, { wait: true });
    assert.match(outcomes![0]!.error ?? '', /connection/);
    await sim.advance(10 * MIN);
    assert.deepEqual(
      receiver.received.map((r) => (r.at - start) / 1000),
      [0, 30, 90],
    );
    assert.equal(sim.subscription(subscriptionId).state, 'dead');
  });

  test('events during a pending retry are queued and sent in order after it succeeds', async () => {
    const { subscriptionId } = await subscribe(sim, receiver.url);
    receiver.answerWith((n) => (n === 1 ? { status: 200, body: 'not xml' } : 'ok'));
    const first = await sim.deliver(ALICE.email, mail, { wait: true });
    assert.equal(first.outcomes![0]!.result, 'failed');
    assert.match(first.outcomes![0]!.error ?? '', /unparseable/);
    const second = await sim.deliver(ALICE.email, { ...mail, subject: 'second' }, { wait: true });
    assert.equal(second.outcomes![0]!.result, 'queued');
    assert.equal(receiver.received.length, 1);

    await sim.advance(30_000);
    assert.equal(receiver.received.length, 3);
    const [, retried, next] = receiver.received;
    assert.equal(retried!.body, receiver.received[0]!.body);
    assert.equal(child(retried!.notification, NS.t, 'NewMailEvent') !== undefined, true);
    const retriedIds = retried!.notification.children.map((e) => child(e, NS.t, 'ItemId')?.attrs.Id);
    assert.ok(retriedIds.includes(first.itemId) && !retriedIds.includes(second.itemId));
    assert.equal(child(next!.notification, NS.t, 'NewMailEvent')?.children[2]?.attrs.Id, second.itemId);
    const lastOfRetried = retried!.notification.children.filter((e) => e.local.endsWith('Event')).at(-1);
    assert.equal(tText(next!.notification, 'PreviousWatermark'), tText(lastOfRetried, 'Watermark'));
    assert.equal(sim.subscription(subscriptionId).state, 'active');
  });

  test('a StatusEvent is sent every StatusFrequency minutes without other traffic', async () => {
    const { subscriptionId, watermark } = await subscribe(sim, receiver.url, { statusFrequency: 1 });
    const start = sim.now();
    await sim.advance(59_999);
    assert.equal(receiver.received.length, 0);
    await sim.advance(1);
    assert.equal(receiver.received.length, 1);
    const ping = receiver.received[0]!.notification;
    assert.deepEqual(eventNames(ping), ['StatusEvent']);
    assert.equal(tText(child(ping, NS.t, 'StatusEvent'), 'Watermark'), watermark);
    assert.equal(tText(ping, 'PreviousWatermark'), watermark);

    // A notification is traffic: the next ping comes a full StatusFrequency after it.
    await sim.advance(30_000);
    await sim.deliver(ALICE.email, mail, { wait: true });
    await sim.advance(110_000);
    assert.deepEqual(
      receiver.received.map((r) => [(r.at - start) / 1000, eventNames(r.notification).join()]),
      [
        [60, 'StatusEvent'],
        [90, 'CreatedEvent,NewMailEvent,ModifiedEvent'],
        [150, 'StatusEvent'],
      ],
    );
    assert.equal(
      sim.subscription(subscriptionId).nextStatusAt,
      new Date(start + 210_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    );
  });

  test('marking an item read sends ModifiedEvent on the item and on the Inbox', async () => {
    const { itemId } = await sim.deliver(ALICE.email, mail);
    await subscribe(sim, receiver.url);
    const result = await sim.markRead(ALICE.email, itemId, true, { wait: true });
    assert.equal(result.changed, true);
    const notification = receiver.received[0]!.notification;
    assert.deepEqual(eventNames(notification), ['ModifiedEvent', 'ModifiedEvent']);
    const [onItem, onFolder] = notification.children.filter((e) => e.local === 'ModifiedEvent');
    assert.equal(child(onItem, NS.t, 'ItemId')?.attrs.Id, itemId);
    assert.equal(child(onItem, NS.t, 'ItemId')?.attrs.ChangeKey, result.changeKey);
    assert.equal(tText(onItem, 'UnreadCount'), undefined);
    assert.equal(tText(onFolder, 'UnreadCount'), '0');
    assert.equal((await sim.markRead(ALICE.email, itemId, true, { wait: true })).changed, false);
    assert.equal(receiver.received.length, 1, 'no event when nothing changed');
  });

  test('a killed subscription receives nothing more', async () => {
    const { subscriptionId } = await subscribe(sim, receiver.url, { statusFrequency: 1 });
    assert.equal(sim.killSubscription(subscriptionId).state, 'killed');
    await sim.deliver(ALICE.email, mail, { wait: true });
    await sim.advance(10 * MIN);
    assert.equal(receiver.received.length, 0);
  });

  test('lost events (fault) leave a gap: the next PreviousWatermark is one the subscriber never saw', async () => {
    const { subscriptionId, watermark } = await subscribe(sim, receiver.url);
    assert.equal(sim.loseEvents(subscriptionId, 3).eventsToLose, 3);
    const lost = await sim.deliver(ALICE.email, mail, { wait: true });
    assert.deepEqual(lost.outcomes, [{ subscriptionId, result: 'lost' }]);
    assert.equal(receiver.received.length, 0, 'the three events of the first mail are gone');
    const skipped = sim.subscription(subscriptionId).watermark;
    assert.notEqual(skipped, watermark, "Exchange's watermark moved past the lost events");
    await sim.deliver(ALICE.email, { ...mail, subject: 'second' }, { wait: true });
    assert.equal(receiver.received.length, 1);
    assert.equal(tText(receiver.received[0]!.notification, 'PreviousWatermark'), skipped);
    assert.equal(sim.subscription(subscriptionId).eventsToLose, 0);
    assert.throws(() => sim.loseEvents(subscriptionId, 0), /count must be an integer/);
  });

  test('Subscribe with an earlier watermark replays the events after it', async () => {
    const { watermark, subscriptionId: old } = await subscribe(sim, receiver.url);
    sim.killSubscription(old);
    const { itemId } = await sim.deliver(ALICE.email, mail);
    const { subscriptionId } = await subscribe(sim, receiver.url, {
      watermark,
      eventTypes: ['NewMailEvent'],
    });
    await sim.advance(0); // lets the replay, started after the Subscribe answer, finish
    assert.equal(receiver.received.length, 1);
    const notification = receiver.received[0]!.notification;
    assert.equal(tText(notification, 'SubscriptionId'), subscriptionId);
    assert.equal(tText(notification, 'PreviousWatermark'), watermark);
    assert.equal(child(child(notification, NS.t, 'NewMailEvent'), NS.t, 'ItemId')?.attrs.Id, itemId);
  });

  test('with a speed clock, status pings arrive on their own', async () => {
    const fast = await startExchangeSimulator({
      clock: { mode: 'speed', factor: 60_000 },
      mailboxes: [ALICE],
    });
    const fastReceiver = await startReceiver(() => fast);
    try {
      const start = fast.now();
      await subscribe(fast, fastReceiver.url, { statusFrequency: 1 });
      await fastReceiver.until(2); // a virtual minute is a real millisecond
      assert.deepEqual(eventNames(fastReceiver.received[1]!.notification), ['StatusEvent']);
      assert.ok(fastReceiver.received[1]!.at - start >= 2 * MIN);
    } finally {
      await fast.close();
      await fastReceiver.close();
    }
  });
});
