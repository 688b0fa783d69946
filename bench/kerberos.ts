/**
 * `npm run bench:kerberos`: what the gateway's per-user ticket cache saves, against the real
 * Samba KDC of scripts/setup-samba-kdc.sh. For U users, the first token of each (service TGT
 * once, S4U2Self, S4U2Proxy: KDC round trips) and then R cached tokens of each (a new
 * authenticator, no KDC), through the same KerberosDelegate the gateway uses; KDC round trips are
 * counted by a TCP relay in front of the KDC. Bounded: U × (R + 1) tokens. JSON on stdout.
 *
 *   npm run bench:kerberos -- --users 2 --repeats 200
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { configSchema } from '../src/config/index.ts';
import { createKerberosDelegate } from '../src/gateway/index.ts';
import { startKdcCounter } from '../test/support/kdc.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '200' },
    kdc: { type: 'string', default: process.env.HERALD_TEST_KDC ?? '/var/lib/herald-test-kdc/kdc.json' },
  },
});
const users = ['alice', 'bob'].slice(0, Math.max(1, Math.min(2, Number(values.users))));
const repeats = Math.max(1, Math.min(10_000, Number(values.repeats)));
const kdc = JSON.parse(readFileSync(values.kdc, 'utf8')) as {
  realm: string;
  kdc: string;
  servicePrincipal: string;
  serviceKeytab: string;
  targetSpn: string;
};

function percentile(sorted: number[], p: number): number {
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(3));
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
}

const counter = await startKdcCounter(kdc.kdc);
const dataDir = mkdtempSync(join(tmpdir(), 'herald-bench-kcd-'));
try {
  const config = configSchema.parse({
    dataDir,
    gateway: {
      kerberos: {
        enabled: true,
        servicePrincipal: kdc.servicePrincipal,
        keytabFile: kdc.serviceKeytab,
        targetSpn: kdc.targetSpn,
        realm: kdc.realm,
        kdcs: [counter.address],
      },
    },
  });
  const delegate = createKerberosDelegate(config.gateway.kerberos, {
    logger: pino({ level: 'silent' }),
    dataDir,
  });
  const upstream = new URL('https://exchange.herald.test/EWS');
  const identity = (user: string) => ({
    upn: `${user}@${kdc.realm.toLowerCase()}`,
    subject: `CN=${user}`,
    issuer: 'CN=bench',
    serialNumber: '01',
    fingerprint256: user,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const time = async (user: string) => {
    const started = performance.now();
    await delegate.authorization(identity(user), upstream);
    return performance.now() - started;
  };
  const first: number[] = [];
  const cached: number[] = [];
  for (const user of users) first.push(await time(user));
  const kdcAfterFirst = counter.connections;
  for (let i = 0; i < repeats; i++) for (const user of users) cached.push(await time(user));
  const kdcAfterCached = counter.connections;
  await delegate.close();
  const firstSummary = summary(first);
  const cachedSummary = summary(cached);
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'kerberos',
        users: users.length,
        repeats,
        firstToken: { ...firstSummary, kdcRoundTrips: kdcAfterFirst },
        cachedToken: { ...cachedSummary, kdcRoundTrips: kdcAfterCached - kdcAfterFirst },
        speedup:
          cachedSummary.p50Ms > 0 ? Number((firstSummary.p50Ms / cachedSummary.p50Ms).toFixed(1)) : null,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await counter.close();
  rmSync(dataDir, { recursive: true, force: true });
}
