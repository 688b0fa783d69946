/**
 * `npm run bench:graph`: how long a mail takes from the mailbox to the phone, through Microsoft
 * Graph (app-only and delegated) and, for comparison, through EWS, in one run against the Exchange
 * simulator and the APNs simulator (both on 127.0.0.1). For each source: M mailboxes, one device
 * each, K mails delivered with one in flight per mailbox; latency is from the delivery in the
 * simulator to the push answered by the APNs simulator, so it covers Exchange's (or Graph's)
 * callback, Herald's checks and outbox write, the fetch (app-only and EWS read subject, sender and
 * unread count; delegated decrypts them from the notification) and the push. `idle` is one mail
 * at a time (each push awaited first); the rest is the loaded run. Prints one JSON line
 * per database (SQLite; PostgreSQL when reachable). Bounded: K mails per source, then it stops.
 *
 *   npm run bench:graph -- --mailboxes 20 --mails 400
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startExchangeSimulator } from '../src/sim/exchange/index.ts';
import { databases } from '../src/store/testing.ts';
import { apnsToken, encryptCredentials, type PublicKeyAnswer } from '../test/support/device.ts';
import { deviceClient, startHerald } from '../test/support/herald.ts';
import { startPushPeers } from '../test/support/push.ts';
import { waitFor } from '../test/support/wait.ts';

const { values } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '20' },
    mails: { type: 'string', default: '400' },
  },
});
const MAILBOXES = Number(values.mailboxes);
const MAILS = Number(values.mails);
const APP_ID = 'com.example.bench';
const GRAPH_APP = { clientId: randomUUID(), secret: 'bench-graph-app-secret' };
const FROM = { name: 'Bench Sender', address: 'sender@partner.example' };
type Source = 'graph-app' | 'graph-delegated' | 'ews';
const TENANTS: Record<Source, { id: string; token: string; domain: string }> = {
  'graph-app': { id: 'fabrikam', token: 'bench-fabrikam-token-0123456789abcdef', domain: 'fabrikam.example' },
  'graph-delegated': {
    id: 'tailspin',
    token: 'bench-tailspin-token-0123456789abcdef',
    domain: 'tailspin.example',
  },
  ews: { id: 'contoso', token: 'bench-contoso-token-0123456789abcdef', domain: 'contoso.example' },
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

for (const database of databases()) {
  const unavailable = await database.unavailable().catch((error: unknown) => String(error));
  if (unavailable) {
    process.stdout.write(
      `${JSON.stringify({ benchmark: 'graph', database: database.name, skipped: unavailable })}\n`,
    );
    continue;
  }
  const sim = await startExchangeSimulator({ graph: { apps: [GRAPH_APP] } });
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-graph-'));
  const peers = await startPushPeers(dir);
  const target = await database.forServer();
  const herald = await startHerald({
    ...(target.url ? { database: target.url } : {}),
    dataDir: dir,
    config: {
      tenants: [
        {
          id: TENANTS['graph-app'].id,
          apiToken: TENANTS['graph-app'].token,
          apps: [peers.app(APP_ID)],
          graph: {
            tenantId: sim.graph.tenantId,
            domains: [TENANTS['graph-app'].domain],
            app: { clientId: GRAPH_APP.clientId, clientSecret: GRAPH_APP.secret },
          },
        },
        {
          id: TENANTS['graph-delegated'].id,
          apiToken: TENANTS['graph-delegated'].token,
          apps: [peers.app(APP_ID)],
          graph: { tenantId: sim.graph.tenantId, domains: [TENANTS['graph-delegated'].domain] },
        },
        { id: TENANTS.ews.id, apiToken: TENANTS.ews.token, apps: [peers.app(APP_ID)] },
      ],
      trust: { caFiles: [peers.caFile] },
      push: { retryBaseSeconds: 0, pollMilliseconds: 20 },
      graph: {
        authorityHost: sim.url,
        graphUrl: sim.graph.graphUrl,
        jwksUrl: `${sim.url}/common/discovery/v2.0/keys`,
      },
      log: { level: 'warn' },
    },
  });
  try {
    const results: Record<string, unknown> = {};
    let seq = 0;
    for (const source of Object.keys(TENANTS) as Source[]) {
      const tenant = TENANTS[source];
      const api = deviceClient(herald.url, tenant.token);
      const key = (await api('GET', '/v1/publickey')).body as unknown as PublicKeyAnswer;
      const devices: Array<{ email: string; token: string }> = [];
      for (let i = 0; i < MAILBOXES; i++) {
        const email = `user${i}@${tenant.domain}`;
        const password = `pw-${i}`;
        sim.createMailbox({ email, password });
        const token = apnsToken(0xbe0000 + ++seq);
        const credentials =
          source === 'ews'
            ? await encryptCredentials(key, { type: 'basic', username: email, password })
            : source === 'graph-delegated'
              ? await encryptCredentials(key, {
                  type: 'oauth',
                  accessToken: (await sim.graph.delegatedToken(email)).access_token,
                })
              : undefined;
        const created = await api('POST', '/v1/registrations', {
          device: { platform: 'ios', pushToken: token, appId: APP_ID },
          account: {
            email,
            ...(source === 'ews' ? { ewsUrl: sim.ewsUrl } : {}),
            ...(credentials ? { credentials } : {}),
          },
        });
        if (created.status !== 201) throw new Error(`${source}: registration answered ${created.status}`);
        devices.push({ email, token });
      }
      // One mail at a time, each push awaited: the latency of an idle Herald.
      const idle: number[] = [];
      for (let i = 0; i < Math.min(MAILBOXES, 20); i++) {
        peers.apns.clear();
        const t0 = Date.now();
        await sim.deliver(devices[i]!.email, { subject: `${source} idle ${i}`, from: FROM }, { wait: true });
        const [push] = await waitFor(() => {
          const got = peers.apns.received();
          return got.length > 0 && got;
        }, `the idle push ${i} for ${source}`);
        idle.push(push!.at - t0);
      }
      idle.sort((a, b) => a - b);
      peers.apns.clear();
      const sentAt = new Map<string, number>();
      let next = 0;
      const started = Date.now();
      await Promise.all(
        devices.map(async (device, lane) => {
          for (;;) {
            const i = next++;
            if (i >= MAILS) return;
            const subject = `${source} mail ${i} (lane ${lane})`;
            sentAt.set(subject, Date.now());
            await sim.deliver(device.email, { subject, from: FROM }, { wait: true });
          }
        }),
      );
      const arrivals = await waitFor(
        () => {
          const got = peers.apns.received();
          return got.length >= MAILS && got;
        },
        `${MAILS} pushes for ${source}`,
        120_000,
      );
      const seconds = (Math.max(...arrivals.map((a) => a.at)) - started) / 1000;
      const latencies = arrivals
        .map((a) => {
          const body = (a.payload as { aps?: { alert?: { body?: string } } }).aps?.alert?.body ?? '';
          const at = sentAt.get(body);
          if (at === undefined) throw new Error(`${source}: a push for an unknown mail: ${body}`);
          return a.at - at;
        })
        .sort((a, b) => a - b);
      if (new Set(arrivals.map((a) => a.apnsId)).size !== MAILS)
        throw new Error(`${source}: duplicate pushes`);
      results[source] = {
        idle: { mails: idle.length, p50Ms: percentile(idle, 50), maxMs: idle.at(-1) },
        mailboxes: MAILBOXES,
        mails: MAILS,
        pushes: arrivals.length,
        seconds: Number(seconds.toFixed(3)),
        mailsPerSecond: Math.round(MAILS / seconds),
        p50Ms: percentile(latencies, 50),
        p95Ms: percentile(latencies, 95),
        p99Ms: percentile(latencies, 99),
        maxMs: latencies.at(-1),
      };
    }
    process.stdout.write(`${JSON.stringify({ benchmark: 'graph', database: database.name, ...results })}\n`);
  } finally {
    await herald.stop();
    await peers.close();
    await sim.close();
    await target.drop();
  }
}
