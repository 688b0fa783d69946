import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GatewayMetrics } from './metrics.ts';

test('gateway metrics/docs/metrics.md documents every series the gateway defines', async () => {
  const docs = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const names = (await new GatewayMetrics().registry.getMetricsAsJSON())
    .map((m) => m.name)
    // prom-client's process and Node.js series are documented as a family.
    .filter((name) => !/^herald_gateway_(process|nodejs)_/.test(name));
  assert.ok(names.length >= 8);
  assert.deepEqual(
    names.filter((name) => !docs.includes(`\`${name}\``)),
    [],
  );
});
