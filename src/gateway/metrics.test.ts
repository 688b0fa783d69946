import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import pino from 'pino';
import { KerberosDelegate } from './kerberos/index.ts';
import { GatewayMetrics } from './metrics.ts';

test('gateway metrics/docs/metrics.md documents every series the gateway defines', async () => {
  const docs = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const metrics = new GatewayMetrics();
  // The Kerberos series join the registry when delegation is on.
  new KerberosDelegate({
    gss: {
      acquireServiceCredential: () => Promise.reject(new Error('unused')),
      impersonate: () => Promise.reject(new Error('unused')),
      initSecContext: () => Promise.reject(new Error('unused')),
    },
    servicePrincipal: 'svc@EXAMPLE',
    keytabFile: 'unused',
    realmMap: {},
    cacheSeconds: 60,
    cacheUsers: 1,
    logger: pino({ level: 'silent' }),
  }).registerMetrics(metrics.registry);
  const names = (await metrics.registry.getMetricsAsJSON())
    .map((m) => m.name)
    // prom-client's process and Node.js series are documented as a family.
    .filter((name) => !/^herald_gateway_(process|nodejs)_/.test(name));
  assert.ok(names.length >= 12);
  assert.deepEqual(
    names.filter((name) => !docs.includes(`\`${name}\``)),
    [],
  );
});
