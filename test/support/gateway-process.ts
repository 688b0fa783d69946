/**
 * `herald gateway` as a real child process, for what only a process shows: its memory (RSS read
 * from /proc) while bodies stream through it, and its behaviour under load from another process.
 * The device CA, the gateway's certificate and the configuration are written to a temporary
 * directory; ports are chosen by the kernel and read from the start-up lines the gateway prints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN } from './gateway.ts';
import {
  createTestCa,
  type IssuedCertificate,
  issueClientCertificate,
  issueServerCertificate,
  type TestCa,
} from './pki.ts';

/** Started the way operators start it (bin/herald adds the gateway's V8 flags). */
const HERALD = resolve(import.meta.dirname, '../../bin/herald');

export interface GatewayProcess {
  readonly url: string;
  readonly adminUrl: string;
  readonly pid: number;
  readonly ca: TestCa;
  /** A device certificate (UPN and email SANs) the gateway accepts. */
  readonly device: IssuedCertificate;
  /** Resident set size now, bytes (VmRSS). */
  rss(): number;
  /** Peak resident set size since start or the last resetPeak(), bytes (VmHWM). */
  peakRss(): number;
  /** Resets VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs). */
  resetPeak(): void;
  close(): Promise<void>;
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(/(\d+)\s*kB/.exec(line)![1]) * 1024;
}

export async function startGatewayProcess(options: {
  upstreamUrl: string;
  upstreamCa: string;
  gateway?: Record<string, unknown>;
  logLevel?: string;
  /** Extra environment for the process (e.g. NODE_OPTIONS=--cpu-prof to profile it). */
  env?: Record<string, string>;
}): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-gateway-process-'));
  const ca = await createTestCa('CN=Herald Gateway Process Test Devices');
  const server = await issueServerCertificate(ca);
  const device = await issueClientCertificate(ca, {
    cn: 'device-1',
    upn: 'alice@corp.example',
    email: 'alice@example.com',
  });
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const configFile = file(
    'herald.yaml',
    stringify({
      dataDir: dir,
      log: { level: options.logLevel ?? 'warn' },
      admin: { apiToken: ADMIN_TOKEN },
      gateway: {
        listen: { host: '127.0.0.1', port: 0 },
        adminListen: { host: '127.0.0.1', port: 0 },
        tls: { certFile: file('gateway.pem', server.certPem), keyFile: file('gateway.key', server.keyPem) },
        trustedCaFiles: [file('ca.pem', ca.certPem)],
        // No CRL distribution point in these certificates: nothing to check against.
        crl: { onUnavailable: 'fail-open' },
        upstreams: { activesync: options.upstreamUrl },
        upstreamCaFiles: [file('upstream-ca.pem', options.upstreamCa)],
        ...options.gateway,
      },
    }),
  );
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_'))),
    ...options.env,
  };
  const child: ChildProcess = spawn(HERALD, ['gateway', '--config', configFile], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  const urls = await new Promise<{ url: string; adminUrl: string }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald gateway did not start:\n${output}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const url = /listening on (https:\/\/\S+)/.exec(output)?.[1];
      const adminUrl = /metrics and health: (http:\/\/\S+?)\/metrics/.exec(output)?.[1];
      if (url && adminUrl) {
        clearTimeout(timer);
        resolvePromise({ url, adminUrl });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`herald gateway exited with ${code}:\n${output}`));
    });
  });
  child.stderr!.resume();
  const pid = child.pid!;
  return {
    ...urls,
    pid,
    ca,
    device,
    rss: () => status(pid, 'VmRSS'),
    peakRss: () => status(pid, 'VmHWM'),
    resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, '5'),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
