/**
 * `npm run bench:gateway`: what the gateway costs. Against one upstream (an HTTPS server on
 * 127.0.0.1 standing where Exchange stands), in the same run:
 *
 * - requests/s and latency (p50, p99) of N requests at concurrency C, direct to the upstream and
 *   through a real `herald gateway` process with a client certificate; rounds alternate and the
 *   median round of each is reported, with the ratio (the machines here are noisy);
 * - added latency of one request at a time (p50 through the gateway minus p50 direct);
 * - memory per idle long poll: 5,000 ActiveSync Pings held open by the upstream, the gateway's
 *   RSS before and while they hang, divided by 5,000.
 *
 * Bounded: rounds × 2 × N requests, then the long polls, then it stops. JSON on stdout.
 *
 *   npm run bench:gateway -- --requests 4000 --concurrency 32 --rounds 3 --long-polls 5000
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { type GatewayProcess, startGatewayProcess } from '../test/support/gateway-process.ts';
import { type RecordingUpstream, startRecordingUpstream } from '../test/support/upstream.ts';
import { waitFor } from '../test/support/wait.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    sequential: { type: 'string', default: '500' },
    'long-polls': { type: 'string', default: '5000' },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const SEQUENTIAL = Number(values.sequential);
const LONG_POLLS = Number(values['long-polls']);
const WAVE = 250;
const PATH = '/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=BENCH01&DeviceType=iPhone';

interface Run {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests that failed (connection reset, non-200): reported, not hidden. */
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function load(pool: Pool, requests: number, concurrency: number): Promise<Run> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < requests) {
      next += 1;
      const t0 = performance.now();
      try {
        const { statusCode, body } = await pool.request({
          path: PATH,
          method: 'POST',
          body: 'x'.repeat(256),
        });
        await body.dump();
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        if (errors <= 3) process.stderr.write(`bench: request failed: ${(error as Error).message}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    requestsPerSecond: Math.round(requests / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    errors,
  };
}

function median(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(runs.length / 2)]!;
}

async function longPolls(gateway: GatewayProcess, upstream: RecordingUpstream) {
  const pool = new Pool(gateway.url, {
    connections: LONG_POLLS,
    connect: {
      ca: gateway.ca.certPem,
      cert: gateway.device.certPem,
      key: gateway.device.keyPem,
      timeout: 60_000,
    },
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  // Settle: a few requests so pools and JIT are warm, then the baseline.
  await load(pool, 200, 20);
  const before = gateway.rss();
  // Devices connect in waves (as after a network change), not all in the same millisecond: a
  // wave of WAVE handshakes at a time, the next once the previous are held at the upstream.
  const pending: Promise<number | string>[] = [];
  let failed = 0;
  const started = performance.now();
  for (let i = 0; i < LONG_POLLS; i++) {
    pending.push(
      pool
        .request({
          path: `/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=P${i}&DeviceType=iPhone`,
          method: 'POST',
          headers: { 'x-test-hold': 'release' },
          body: 'ping',
        })
        .then(
          async ({ statusCode, body }) => {
            await body.dump();
            return statusCode;
          },
          (error: Error) => {
            failed += 1;
            return error.message;
          },
        ),
    );
    if ((i + 1) % WAVE === 0 || i + 1 === LONG_POLLS) {
      const opened = i + 1;
      await waitFor(
        () => upstream.held + failed >= opened,
        `${opened} long polls held at the upstream`,
        120_000,
      );
    }
  }
  const openSeconds = (performance.now() - started) / 1000;
  const held = upstream.held;
  const during = gateway.rss();
  upstream.release();
  const statuses = await Promise.all(pending);
  await pool.close();
  return {
    open: held,
    secondsToOpen: Math.round(openSeconds * 10) / 10,
    rssBeforeMiB: Math.round((before / 1048576) * 10) / 10,
    rssWhileOpenMiB: Math.round((during / 1048576) * 10) / 10,
    bytesPerLongPoll: Math.round((during - before) / Math.max(1, held)),
    allAnswered200: statuses.every((s) => s === 200),
    failures: statuses.filter((s) => s !== 200).slice(0, 5),
  };
}

const upstream = await startRecordingUpstream();
const gateway = await startGatewayProcess({ upstreamUrl: upstream.url, upstreamCa: upstream.ca });
try {
  const direct = new Pool(upstream.url, { connections: CONCURRENCY, connect: { ca: upstream.ca } });
  const through = new Pool(gateway.url, {
    connections: CONCURRENCY,
    connect: { ca: gateway.ca.certPem, cert: gateway.device.certPem, key: gateway.device.keyPem },
  });
  await load(direct, 300, CONCURRENCY);
  await load(through, 300, CONCURRENCY);
  const runs = { direct: [] as Run[], gateway: [] as Run[] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.direct.push(await load(direct, REQUESTS, CONCURRENCY));
    runs.gateway.push(await load(through, REQUESTS, CONCURRENCY));
  }
  const single = { direct: await load(direct, SEQUENTIAL, 1), gateway: await load(through, SEQUENTIAL, 1) };
  await Promise.all([direct.close(), through.close()]);
  upstream.requests.length = 0;
  const polls = await longPolls(gateway, upstream);
  const d = median(runs.direct);
  const g = median(runs.gateway);
  const result = {
    bench: 'gateway',
    requests: REQUESTS,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    underLoad: {
      direct: d,
      gateway: g,
      throughputRatio: Math.round((g.requestsPerSecond / d.requestsPerSecond) * 100) / 100,
    },
    oneAtATime: {
      directP50Ms: single.direct.p50Ms,
      gatewayP50Ms: single.gateway.p50Ms,
      addedLatencyMs: Math.round((single.gateway.p50Ms - single.direct.p50Ms) * 1000) / 1000,
    },
    longPolls: polls,
    allRounds: runs,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await gateway.close();
  await upstream.close();
}
