/**
 * Herald as a real child process (`node src/cli/main.ts serve --config FILE`), for tests about
 * what only a process can show: SIGKILL in the middle of work, SIGTERM and a graceful exit, a
 * restart on the same port, data directory and database.
 *
 * The configuration is written as YAML into the data directory; the port is fixed at creation, so
 * the callback URLs Herald gave Exchange stay valid across restarts, and the master key stays in
 * the data directory. Readiness is `GET /api/ens/alive` answering 200 (polled, never a sleep).
 * Everything the process writes (stdout and stderr, every start appended) goes to
 * `<dataDir>/herald.log`; `tail()` shows the end of it for a failure message.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './net.ts';
import { waitFor } from './wait.ts';

const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

export interface HeraldProcessOptions {
  /**
   * The configuration (tenants, push, exchange, log, ...). `listen` (127.0.0.1 and the fixed
   * port), `publicUrl` and `dataDir` are filled in unless given; `database` defaults to Herald's
   * own (SQLite in the data directory).
   */
  config?: Record<string, unknown>;
  /** Database URL (e.g. a PostgreSQL URL with `?schema=`); undefined: SQLite in the data dir. */
  database?: string | undefined;
  /** Default: a fresh temporary directory. */
  dataDir?: string;
  /** Default: a free port, chosen once and kept for every restart. */
  port?: number;
  /** Extra environment. Inherited `HERALD_*` variables (but `HERALD_TEST_*`) are dropped. */
  env?: Record<string, string>;
  /** How long a start may take until alive answers (default 30 s). */
  readyTimeoutMs?: number;
}

export interface HeraldExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface HeraldProcess {
  /** http://127.0.0.1:PORT: the same for every start. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly configFile: string;
  /** stdout + stderr of every start. */
  readonly logFile: string;
  /** Of the running process; undefined when none runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** How often it was started. */
  readonly starts: number;
  /** How every earlier run ended, oldest first. */
  readonly exits: readonly HeraldExit[];
  /** Start again (same port, data dir, config, database); resolves when alive answers. */
  start(): Promise<void>;
  /** Send `signal` (default SIGKILL) and wait for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<HeraldExit>;
  /** SIGTERM, then wait for the exit (a graceful shutdown); SIGKILL and an error after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<HeraldExit>;
  /** The whole log file. */
  output(): string;
  /** Its last `lines` lines. */
  tail(lines?: number): string;
  /** For after() hooks: end the process if it still runs (SIGKILL), never throws. */
  close(): Promise<void>;
}

/** Every child still running, killed when the test process exits, so none outlives a failed test. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // The test's own HERALD_* overrides would silently change the child's configuration.
    if (name.startsWith('HERALD_') && !name.startsWith('HERALD_TEST_')) continue;
    // The test runner's marker is for node:test processes, not for Herald.
    if (name === 'NODE_TEST_CONTEXT') continue;
    env[name] = value;
  }
  // Tests stay on loopback: no Autodiscover lookups of test domains unless a test asks for them.
  return { ...env, HERALD_EXCHANGE_AUTODISCOVER_ENABLED: 'false', ...extra };
}

export async function startHeraldProcess(options: HeraldProcessOptions = {}): Promise<HeraldProcess> {
  const herald = await createHeraldProcess(options);
  await herald.start();
  return herald;
}

/** The process, configured but not started: call start(). */
export async function createHeraldProcess(options: HeraldProcessOptions = {}): Promise<HeraldProcess> {
  installExitHook();
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'herald-proc-'));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(dataDir, 'herald.yaml');
  const logFile = join(dataDir, 'herald.log');
  const given = options.config ?? {};
  const config = {
    ...given,
    listen: { host: '127.0.0.1', port, ...(given.listen as Record<string, unknown> | undefined) },
    publicUrl: given.publicUrl ?? url,
    dataDir: given.dataDir ?? dataDir,
    ...(options.database ? { database: options.database } : {}),
  };
  writeFileSync(configFile, stringify(config), { mode: 0o600 });
  const env = childEnv(options.env);
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;

  let child: ChildProcess | undefined;
  let exited: Promise<HeraldExit> | undefined;
  let starts = 0;
  const exits: HeraldExit[] = [];

  const output = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const tail = (lines = 60) => output().split('\n').slice(-lines).join('\n');

  async function waitExit(timeoutMs: number | undefined): Promise<HeraldExit | undefined> {
    if (!exited) return undefined;
    if (timeoutMs === undefined) return exited;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((done) => {
      timer = setTimeout(() => done(undefined), timeoutMs);
    });
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    return result;
  }

  const herald: HeraldProcess = {
    url,
    port,
    dataDir,
    configFile,
    logFile,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined;
    },
    get starts() {
      return starts;
    },
    exits,

    async start() {
      if (child) throw new Error(`Herald already runs (pid ${child.pid})`);
      starts++;
      const fd = openSync(logFile, 'a');
      writeSync(fd, `\n===== herald-process: start #${starts} at ${new Date().toISOString()} =====\n`);
      let proc: ChildProcess;
      try {
        proc = spawn(process.execPath, [MAIN, 'serve', '--config', configFile], {
          cwd: dataDir,
          env,
          stdio: ['ignore', fd, fd],
        });
      } finally {
        closeSync(fd);
      }
      child = proc;
      live.add(proc);
      let ended: HeraldExit | undefined;
      exited = new Promise<HeraldExit>((done) => {
        proc.once('exit', (code, signal) => {
          ended = { code, signal };
          exits.push(ended);
          live.delete(proc);
          if (child === proc) child = undefined;
          done(ended);
        });
        proc.once('error', (error) => {
          ended = { code: null, signal: null };
          live.delete(proc);
          if (child === proc) child = undefined;
          writeFileSync(logFile, `herald-process: spawn failed: ${error.message}\n`, { flag: 'a' });
          done(ended);
        });
      });
      try {
        await waitFor(
          async () => {
            if (ended) {
              throw new Error(
                `Herald exited during start (code ${ended.code}, signal ${ended.signal}); its output:\n${tail()}`,
              );
            }
            try {
              const response = await fetch(`${url}/api/ens/alive`, { signal: AbortSignal.timeout(2000) });
              await response.arrayBuffer();
              return response.status === 200;
            } catch {
              return false;
            }
          },
          `Herald (start #${starts}) to answer ${url}/api/ens/alive`,
          readyTimeoutMs,
        );
      } catch (error) {
        if (child === proc) {
          proc.kill('SIGKILL');
          await exited;
        }
        if (error instanceof Error && !error.message.includes('its output')) {
          error.message += `; its output:\n${tail()}`;
        }
        throw error;
      }
    },

    async kill(signal = 'SIGKILL') {
      const proc = child;
      if (!proc) throw new Error('Herald is not running');
      proc.kill(signal);
      return (await waitExit(undefined))!;
    },

    async stop(timeoutMs = 30_000) {
      const proc = child;
      if (!proc) throw new Error('Herald is not running');
      proc.kill('SIGTERM');
      const result = await waitExit(timeoutMs);
      if (result) return result;
      proc.kill('SIGKILL');
      await waitExit(undefined);
      throw new Error(`Herald did not exit within ${timeoutMs} ms of SIGTERM; its output:\n${tail()}`);
    },

    output,
    tail,

    async close() {
      const proc = child;
      if (!proc) return;
      proc.kill('SIGKILL');
      await waitExit(undefined);
    },
  };
  return herald;
}
