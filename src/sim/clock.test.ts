import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SimClock } from './clock.ts';

describe('SimClock, manual mode', () => {
  test('time moves only on advance, and due timers fire in order at their own due time', async () => {
    const clock = new SimClock({ mode: 'manual', start: 1_000_000 });
    const fired: Array<[string, number]> = [];
    clock.setTimer(300, () => fired.push(['c', clock.now()]), 'c');
    clock.setTimer(100, () => fired.push(['a', clock.now()]), 'a');
    clock.setTimer(100, () => fired.push(['b', clock.now()]), 'b');
    const cancelled = clock.setTimer(200, () => fired.push(['x', clock.now()]));
    clock.clearTimer(cancelled);
    assert.equal(clock.now(), 1_000_000);
    await clock.advance(250);
    assert.deepEqual(fired, [
      ['a', 1_000_100],
      ['b', 1_000_100],
    ]);
    assert.equal(clock.now(), 1_000_250);
    assert.deepEqual(
      clock.state().timers.map((t) => [t.label, t.inMs]),
      [['c', 50]],
    );
  });

  test('advance awaits async callbacks, and timers they schedule inside the window fire too', async () => {
    const clock = new SimClock({ mode: 'manual', start: 0 });
    const log: string[] = [];
    const step = async (n: number): Promise<void> => {
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`step ${n} at ${clock.now()}`);
      if (n < 3) clock.setTimer(1000 * 2 ** n, () => step(n + 1));
    };
    clock.setTimer(500, () => step(0));
    await clock.advance(4000);
    assert.deepEqual(log, ['step 0 at 500', 'step 1 at 1500', 'step 2 at 3500']);
    await clock.advance(4000);
    assert.deepEqual(log.at(-1), 'step 3 at 7500');
  });

  test('advance settles tracked background work before firing timers', async () => {
    const clock = new SimClock({ mode: 'manual', start: 0 });
    let scheduledAt: number | undefined;
    const work = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      clock.setTimer(10, () => {
        scheduledAt = clock.now();
      });
    })();
    void clock.track(work);
    await clock.advance(10);
    assert.equal(scheduledAt, 10);
  });

  test('a failing timer is reported and does not stop the others', async () => {
    const errors: string[] = [];
    const clock = new SimClock({ mode: 'manual', start: 0 }, (error, label) =>
      errors.push(`${label}: ${error}`),
    );
    let ran = false;
    clock.setTimer(
      1,
      () => {
        throw new Error('boom');
      },
      'bad',
    );
    clock.setTimer(2, () => {
      ran = true;
    });
    await clock.advance(5);
    assert.deepEqual(errors, ['bad: Error: boom']);
    assert.equal(ran, true);
    await assert.rejects(clock.advance(-1), RangeError);
  });
});

describe('SimClock, speed mode', () => {
  test('virtual time runs factor times faster and timers fire on their own', async () => {
    const clock = new SimClock({ mode: 'speed', factor: 100_000, start: 0 });
    const realStart = performance.now();
    const firedAt = await new Promise<number>((resolve) => {
      clock.setTimer(60_000, () => resolve(clock.now()));
    });
    const realElapsed = performance.now() - realStart;
    assert.ok(firedAt >= 60_000, `fired at ${firedAt}`);
    assert.ok(realElapsed < 1000, `a virtual minute took ${realElapsed} ms`);
    clock.close();
  });

  test('advance jumps ahead and fires what fell due', async () => {
    const clock = new SimClock({ mode: 'speed', factor: 1, start: 0 });
    let fired = false;
    clock.setTimer(3_600_000, () => {
      fired = true;
    });
    await clock.advance(3_600_000);
    assert.equal(fired, true);
    assert.ok(clock.now() >= 3_600_000);
    clock.close();
    assert.throws(() => new SimClock({ mode: 'speed', factor: 0 }), RangeError);
  });
});
