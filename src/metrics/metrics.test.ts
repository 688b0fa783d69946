import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Metrics } from './index.ts';

const sources = {
  registrationStates: ['pending', 'active', 'silent', 'dead'],
  registrationsByState: async () => ({ active: 3, silent: 1 }),
  outboxByStatus: async () => ({ pending: 2, processing: 0, done: 7, failed: 1 }),
};

test('metrics/the database gauges list every state, zeros included, read at scrape time', async () => {
  const metrics = new Metrics({ sources, processMetrics: false });
  const text = await metrics.text();
  assert.match(text, /^herald_registrations\{state="active"\} 3$/m);
  assert.match(text, /^herald_registrations\{state="silent"\} 1$/m);
  assert.match(text, /^herald_registrations\{state="dead"\} 0$/m);
  assert.match(text, /^herald_outbox_events\{status="failed"\} 1$/m);
  assert.match(metrics.contentType, /^text\/plain/);
});

test('metrics/each service has its own registry', async () => {
  const a = new Metrics({ processMetrics: false });
  const b = new Metrics({ processMetrics: false });
  a.watermarkGaps.inc();
  assert.match(await a.text(), /^herald_watermark_gaps_total 1$/m);
  assert.match(await b.text(), /^herald_watermark_gaps_total 0$/m);
});

test('metrics/docs/metrics.md documents every series Herald defines', async () => {
  const docs = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const metrics = new Metrics({ sources, processMetrics: false });
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.length >= 12);
  assert.deepEqual(
    names.filter((name) => !docs.includes(`\`${name}\``)),
    [],
  );
});
