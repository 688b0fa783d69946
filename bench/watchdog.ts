/**
 * `npm run bench:watchdog`: how long one watchdog pass takes with many registrations, on SQLite
 * and on PostgreSQL (127.0.0.1 only; skipped with a note if it is not reachable). N registrations,
 * a tenth of them silent: the pass marks them silent and queues one checkin push each, in batches.
 * A second pass (nothing to do) shows the steady-state cost. Prints one JSON line per database.
 * Bounded: N inserts and two passes per database, then it stops.
 *
 *   npm run bench:watchdog -- --registrations 10000
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log/index.ts';
import { Watchdog } from '../src/notify/index.ts';
import type { NewRegistration } from '../src/store/index.ts';
import { databases, exampleRegistration, exampleTenant } from '../src/store/testing.ts';

const { values } = parseArgs({
  options: {
    registrations: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '500' },
  },
});
const COUNT = Number(values.registrations);
const BATCH = Number(values.batch);
const MIN = 60_000;

for (const database of databases()) {
  const unavailable = await database.unavailable().catch((error: unknown) => String(error));
  if (unavailable) {
    process.stdout.write(
      `${JSON.stringify({ benchmark: 'watchdog', database: database.name, skipped: unavailable })}\n`,
    );
    continue;
  }
  let now = Date.now();
  const store = await database.open({ now: () => now });
  try {
    await store.tenants.create(exampleTenant());
    const rows: NewRegistration[] = Array.from({ length: COUNT }, (_, i) =>
      exampleRegistration({
        id: `r${String(i).padStart(7, '0')}`,
        pushToken: `t${i}`,
        statusFrequencyMinutes: 15,
        // Every tenth has been silent for 40 minutes; the rest pinged a minute ago.
        lastSeenAt: now - (i % 10 === 0 ? 40 : 1) * MIN,
      }),
    );
    const insertStarted = performance.now();
    for (let i = 0; i < rows.length; i += 1000) {
      await store.transaction(async (tx) => {
        for (const row of rows.slice(i, i + 1000)) await tx.registrations.insert(row);
      });
    }
    const insertMs = performance.now() - insertStarted;
    const watchdog = new Watchdog({
      store,
      logger: createLogger({ level: 'silent' }),
      settings: {
        intervalSeconds: 30,
        silentAfterPeriods: 2,
        checkinRepeatMinutes: 60,
        deadAfterHours: 72,
        batchSize: BATCH,
      },
      owner: 'bench',
      now: () => now,
    });
    now += 1000;
    const t1 = performance.now();
    const first = await watchdog.run();
    const firstMs = performance.now() - t1;
    now += 30_000;
    const t2 = performance.now();
    const second = await watchdog.run();
    const secondMs = performance.now() - t2;
    const outbox = await store.outbox.countByStatus();
    process.stdout.write(
      `${JSON.stringify({
        benchmark: 'watchdog',
        database: database.name,
        registrations: COUNT,
        batchSize: BATCH,
        insertSeconds: Math.round(insertMs) / 1000,
        firstPass: { ms: Math.round(firstMs), ...first },
        steadyPass: { ms: Math.round(secondMs), ...second },
        checkinEventsQueued: outbox.pending,
      })}\n`,
    );
    if (first?.silent !== COUNT / 10 || first.checkinsQueued !== COUNT / 10) {
      throw new Error(`expected ${COUNT / 10} silent registrations, got ${JSON.stringify(first)}`);
    }
  } finally {
    await store.close();
  }
}
