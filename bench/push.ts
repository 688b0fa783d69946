/**
 * `npm run bench:push`: N pushes to the APNs simulator (in its own process, on 127.0.0.1) with
 * Herald's APNs sender, and the same workload with @parse/node-apn against the same simulator in
 * the same run. Reports pushes/s and p50/p99 latency per client as JSON, and their ratios: the
 * machines here are noisy, so the ratio is what matters. Rounds alternate between the clients;
 * the median round is reported. Bounded: N × rounds × 2 pushes, then it stops.
 *
 *   npm run bench:push -- --pushes 5000 --concurrency 200 --rounds 3
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createApnsSender, type PushNotification } from '../src/push/index.ts';

const { values } = parseArgs({
  options: {
    pushes: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '300' },
  },
});
const PUSHES = Number(values.pushes);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const WARMUP = Number(values.warmup);
const TOPIC = 'com.example.bench';

interface SimInfo {
  url: string;
  ca: string;
  key: { keyId: string; teamId: string; privateKey: string };
}

async function startSimulator(): Promise<{ info: SimInfo; child: ChildProcess }> {
  const child = spawn(process.execPath, [new URL('./apns-simulator-process.ts', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)));
  });
  return { info: JSON.parse(first) as SimInfo, child };
}

/** Send `count` pushes with at most `concurrency` in flight; per-push latency in ms. */
async function drive(
  count: number,
  concurrency: number,
  send: (i: number) => Promise<boolean>,
): Promise<{ seconds: number; latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const started = performance.now();
  async function lane(): Promise<void> {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      const ok = await send(i);
      latencies.push(performance.now() - t0);
      if (!ok) failures++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { seconds: (performance.now() - started) / 1000, latencies, failures };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(run: { seconds: number; latencies: number[]; failures: number }) {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return {
    pushes: run.latencies.length,
    failures: run.failures,
    seconds: Number(run.seconds.toFixed(3)),
    pushesPerSecond: Math.round(run.latencies.length / run.seconds),
    p50Ms: Number(percentile(sorted, 50).toFixed(2)),
    p99Ms: Number(percentile(sorted, 99).toFixed(2)),
  };
}

function token(i: number): string {
  return (i % 997).toString(16).padStart(8, '0').repeat(8);
}

const notification = (i: number): PushNotification => ({
  type: 'new_mail',
  registrationId: 'bench-registration',
  itemId: `item-${i}`,
  alert: { title: 'Carol Finance', body: `Quarterly numbers, part ${i}` },
  badge: i % 50,
  collapseId: `bench-${i}`,
});

async function heraldClient(info: SimInfo) {
  const sender = createApnsSender({
    auth: {
      kind: 'token',
      key: {
        keyId: info.key.keyId,
        teamId: info.key.teamId,
        privateKey: createPrivateKey(info.key.privateKey),
      },
    },
    endpoint: info.url,
    ca: [info.ca],
  });
  return {
    send: async (i: number) =>
      (
        await sender.send(
          { platform: 'ios', token: token(i), appId: TOPIC, environment: 'production' },
          notification(i),
        )
      ).status === 'sent',
    close: () => sender.close(),
  };
}

async function nodeApnClient(info: SimInfo, dir: string) {
  const apn = createRequire(import.meta.url)('@parse/node-apn');
  const keyFile = join(dir, `AuthKey_${info.key.keyId}.p8`);
  writeFileSync(keyFile, info.key.privateKey);
  const url = new URL(info.url);
  const provider = new apn.Provider({
    token: { key: keyFile, keyId: info.key.keyId, teamId: info.key.teamId },
    production: true,
    address: url.hostname,
    port: Number(url.port),
    ca: info.ca,
  });
  return {
    send: async (i: number) => {
      const n = notification(i);
      const note = new apn.Notification();
      note.topic = TOPIC;
      note.pushType = 'alert';
      note.priority = 10;
      note.alert = n.alert;
      note.badge = n.badge;
      note.sound = 'default';
      note.mutableContent = 1;
      note.collapseId = n.collapseId;
      note.payload = { herald: { type: n.type, registrationId: n.registrationId, itemId: n.itemId } };
      const result = await provider.send(note, token(i));
      return result.sent.length === 1;
    },
    close: async () => {
      await provider.shutdown();
    },
  };
}

function median<T>(runs: T[], by: (run: T) => number): T {
  return [...runs].sort((a, b) => by(a) - by(b))[Math.floor(runs.length / 2)]!;
}

const { info, child } = await startSimulator();
const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
try {
  const clients = { herald: await heraldClient(info), nodeApn: await nodeApnClient(info, dir) };
  for (const client of Object.values(clients)) await drive(WARMUP, CONCURRENCY, client.send);
  const runs: Record<keyof typeof clients, ReturnType<typeof summary>[]> = { herald: [], nodeApn: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first so neither always meets a warmer or colder machine.
    const order = round % 2 === 0 ? (['herald', 'nodeApn'] as const) : (['nodeApn', 'herald'] as const);
    for (const name of order) runs[name].push(summary(await drive(PUSHES, CONCURRENCY, clients[name].send)));
  }
  for (const client of Object.values(clients)) await client.close();
  const herald = median(runs.herald, (r) => r.pushesPerSecond);
  const nodeApn = median(runs.nodeApn, (r) => r.pushesPerSecond);
  const result = {
    benchmark: 'push/apns',
    workload: { pushes: PUSHES, concurrency: CONCURRENCY, rounds: ROUNDS, warmup: WARMUP, target: info.url },
    herald,
    nodeApn: { library: '@parse/node-apn 8', ...nodeApn },
    ratio: {
      throughput: Number((herald.pushesPerSecond / nodeApn.pushesPerSecond).toFixed(2)),
      p50: Number((herald.p50Ms / nodeApn.p50Ms).toFixed(2)),
      p99: Number((herald.p99Ms / nodeApn.p99Ms).toFixed(2)),
    },
    rounds: runs,
    machine: { node: process.version, cpus: cpus().length },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (herald.failures > 0 || nodeApn.failures > 0) process.exitCode = 1;
} finally {
  child.stdin!.end();
}
