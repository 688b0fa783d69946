import assert from 'node:assert/strict';
import { createLogger } from '../log/index.ts';
import { Metrics } from '../metrics/index.ts';
import type { Store } from '../store/index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase, type ManualClock } from '../store/testing.ts';
import { WATCHDOG_LEASE, Watchdog, type WatchdogSettings } from './watchdog.ts';

const MIN = 60_000;
const settings: WatchdogSettings = {
  intervalSeconds: 30,
  silentAfterPeriods: 2,
  checkinRepeatMinutes: 60,
  deadAfterHours: 72,
  batchSize: 2,
};
const logger = createLogger({ level: 'silent' });

function watchdog(
  store: Store,
  clock: ManualClock,
  extra: Partial<ConstructorParameters<typeof Watchdog>[0]> = {},
) {
  return new Watchdog({ store, logger, settings, owner: 'node-a', now: clock.now, ...extra });
}

async function seed(
  store: Store,
  clock: ManualClock,
  count: number,
  statusFrequencyMinutes = 5,
): Promise<string[]> {
  await store.tenants.create(exampleTenant());
  const ids = Array.from({ length: count }, (_, i) => `r${i}`);
  for (const id of ids) {
    await store.registrations.insert(
      exampleRegistration({ id, pushToken: id, statusFrequencyMinutes, lastSeenAt: clock.now() }),
    );
  }
  return ids;
}

const checkins = async (store: Store, id: string) =>
  (await store.outbox.listForRegistration(id)).filter((e) => e.kind === 'checkin');

forEachDatabase(
  'watchdog/silent after 2 × StatusFrequency, in batches, with one checkin push each',
  async (store, { clock }) => {
    const ids = await seed(store, clock, 5);
    const metrics = new Metrics({ processMetrics: false });
    let woken = 0;
    const dog = watchdog(store, clock, { metrics, onEnqueued: () => woken++ });

    clock.advance(10 * MIN); // exactly 2 periods: not yet
    assert.deepEqual(await dog.run(), { silent: 0, checkinsQueued: 0, dead: 0, stalePendingDeleted: 0 });
    await store.registrations.touchLastSeen(['r4'], clock.now()); // r4 keeps pinging

    clock.advance(1000);
    const pass = await dog.run();
    // Five registrations, batches of two: every silent one is found in one pass all the same.
    assert.deepEqual(pass, { silent: 4, checkinsQueued: 4, dead: 0, stalePendingDeleted: 0 });
    assert.equal(woken, 1, 'the delivery workers are woken once per pass');
    for (const id of ids.slice(0, 4)) {
      const registration = await store.registrations.get(id);
      assert.equal(registration?.state, 'silent');
      assert.equal(registration?.silentSince, clock.now());
      assert.equal(registration?.checkinSentAt, clock.now());
      assert.equal((await checkins(store, id)).length, 1);
    }
    assert.equal((await store.registrations.get('r4'))?.state, 'active');
    assert.equal((await checkins(store, 'r4')).length, 0);

    // The next pass changes nothing: the request is repeated only after checkinRepeatMinutes.
    clock.advance(30 * MIN);
    await store.registrations.touchLastSeen(['r4'], clock.now());
    assert.deepEqual(await dog.run(), { silent: 0, checkinsQueued: 0, dead: 0, stalePendingDeleted: 0 });
    clock.advance(30 * MIN + 1);
    await store.registrations.touchLastSeen(['r4'], clock.now());
    assert.equal((await dog.run())?.checkinsQueued, 4);
    assert.equal((await checkins(store, 'r0')).length, 2, 'a repeated request is a new push');

    const text = await metrics.text();
    assert.match(text, /herald_subscription_transitions_total\{to="silent"\} 4/);
    assert.match(text, /herald_checkin_pushes_queued_total\{reason="silent"\} 8/);
    assert.match(text, /herald_watchdog_runs_total 4/);
  },
);

forEachDatabase(
  'watchdog/a callback after all brings a silent subscription back',
  async (store, { clock }) => {
    await seed(store, clock, 2);
    const dog = watchdog(store, clock);
    clock.advance(11 * MIN);
    assert.equal((await dog.run())?.silent, 2);
    await store.registrations.touchLastSeen(['r0'], clock.now());
    const r0 = await store.registrations.get('r0');
    assert.equal(r0?.state, 'active');
    assert.equal(r0?.silentSince, null);
    clock.advance(MIN);
    assert.equal((await dog.run())?.silent, 0, 'r0 pinged a minute ago');
  },
);

forEachDatabase(
  'watchdog/dead after deadAfterHours without check-in; needs_credentials is only reminded',
  async (store, { clock }) => {
    await seed(store, clock, 2);
    await store.registrations.update('r1', { state: 'needs_credentials', checkinSentAt: clock.now() });
    const dog = watchdog(store, clock);
    clock.advance(11 * MIN);
    assert.equal((await dog.run())?.silent, 1);
    await store.registrations.update('r0', { state: 'repairing' });
    clock.advance(72 * 60 * MIN + 1);
    const pass = await dog.run();
    assert.equal(pass?.dead, 1);
    const r0 = await store.registrations.get('r0');
    assert.equal(r0?.state, 'dead');
    assert.match(r0?.deactivatedReason ?? '', /^no_checkin: /);
    const r1 = await store.registrations.get('r1');
    assert.equal(r1?.state, 'needs_credentials', 'Exchange still calls: not dead, only reminded');
    assert.equal(r1?.checkinSentAt, clock.now());
  },
);

forEachDatabase('watchdog/one node at a time, through the lease', async (store, { clock }) => {
  await seed(store, clock, 1);
  const a = watchdog(store, clock);
  const b = watchdog(store, clock, { owner: 'node-b' });
  assert.ok(await a.run());
  assert.equal(await b.run(), undefined, 'node-b waits while node-a holds the lease');
  clock.advance(60_000);
  assert.ok(await a.run(), 'node-a renews its lease');
  assert.equal(await b.run(), undefined);
  // node-a dies (no release): its lease lapses after three intervals, then node-b takes over.
  clock.advance(3 * settings.intervalSeconds * 1000);
  assert.ok(await b.run());
  assert.equal((await store.leases.get(WATCHDOG_LEASE))?.owner, 'node-b');
  // A clean stop hands the lease over at once.
  await b.stop();
  assert.ok(await a.run());
});

forEachDatabase(
  'watchdog/a registration interrupted before Exchange answered is removed',
  async (store, { clock }) => {
    await seed(store, clock, 1);
    await store.registrations.insert(
      exampleRegistration({ id: 'half', pushToken: 'half', state: 'pending' }),
    );
    const dog = watchdog(store, clock);
    clock.advance(14 * MIN);
    assert.equal((await dog.run())?.stalePendingDeleted, 0);
    clock.advance(2 * MIN);
    assert.equal((await dog.run())?.stalePendingDeleted, 1);
    assert.equal(await store.registrations.get('half'), undefined);
  },
);

forEachDatabase('watchdog/start runs passes by itself; beforePass runs first', async (store, { clock }) => {
  await seed(store, clock, 1);
  const order: string[] = [];
  const metrics = new Metrics({ processMetrics: false });
  const dog = watchdog(store, clock, {
    settings: { ...settings, intervalSeconds: 1 },
    metrics,
    beforePass: async () => {
      order.push('beforePass');
    },
  });
  clock.advance(11 * MIN);
  dog.start();
  // The first pass starts at once; stop() waits for it to end.
  await dog.stop();
  assert.deepEqual(order, ['beforePass']);
  assert.equal((await store.registrations.get('r0'))?.state, 'silent');
  assert.equal(await store.leases.get(WATCHDOG_LEASE).then((l) => l?.owner ?? null), null, 'released');
});
