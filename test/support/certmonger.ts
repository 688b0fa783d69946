/**
 * Debian's certmonger as a real SCEP client for integration tests (`getcert add-scep-ca`,
 * `getcert request -L <challenge>`, `getcert list`, `getcert resubmit`).
 *
 * certmonger runs as a child with a private listening socket (`-L -P`, no D-Bus needed; getcert
 * finds it through CERTMONGER_PVT_ADDRESS) and keeps its state in a temporary directory
 * (CERTMONGER_REQUESTS_DIR, _CAS_DIR, _TMPDIR, _LOCAL_CA_DIR), so a test leaves nothing on the
 * machine. `certmongerMissing()` says why a test must be skipped (not installed;
 * scripts/install-system-packages.sh installs it); under CI `requireCertmongerUnderCi()` turns
 * that into a failing test instead.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from './wait.ts';

const run = promisify(execFile);
/** certmonger answers within a second or two; this bounds a hung helper or a lost request. */
export const STATE_TIMEOUT_MS = 60_000;

export function certmongerMissing(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v certmonger && command -v getcert'], { encoding: 'utf8' });
  if (found.status === 0) return undefined;
  return 'certmonger is not installed (scripts/install-system-packages.sh scep installs it)';
}

/** Under CI a missing certmonger is a failure, not a skip. */
export function requireCertmongerUnderCi(missing: string | undefined): void {
  if (missing && process.env.CI) {
    test('certmonger is installed for the SCEP interoperability test', () => {
      assert.fail(`${missing}; CI is set, so this test must run`);
    });
  }
}

/** The last lines certmonger wrote, for failure messages. */
class Tail {
  #lines: string[] = [];
  push(chunk: Buffer): void {
    this.#lines.push(...chunk.toString('utf8').split('\n'));
    if (this.#lines.length > 200) this.#lines.splice(0, this.#lines.length - 200);
  }
  text(): string {
    return this.#lines.join('\n');
  }
}

export type CertmongerState = 'MONITORING' | 'CA_REJECTED';

export interface CertmongerStatus {
  state: string;
  stuck: boolean;
  /** `getcert list -i ID` as printed. */
  listing: string;
}

export interface CertmongerRequest {
  ca: string;
  id: string;
  challenge: string;
  /** e.g. `CN=device-1` */
  subject: string;
  /** Where certmonger writes the certificate and the key it generates. */
  certFile: string;
  keyFile: string;
}

export interface Certmonger {
  /** The temporary directory: `path('out', 'cert.pem')`. */
  path(...parts: string[]): string;
  getcert(...args: string[]): Promise<string>;
  /** `getcert add-scep-ca -c NAME -u URL -R ROOT_PEM_FILE`. */
  addScepCa(name: string, url: string, rootPemFile: string): Promise<void>;
  /** Waits until certmonger has fetched the CA's certificates (GetCACaps, GetCACert). */
  waitForCa(name: string): Promise<void>;
  /** `getcert request -c CA -I ID -L CHALLENGE -N SUBJECT -f CERT -k KEY`. */
  request(request: CertmongerRequest): Promise<void>;
  status(id: string): Promise<CertmongerStatus>;
  /**
   * Polls `getcert list` until the request settles; fails with certmonger's own account unless
   * it settles in `expected` (and `condition` holds then, e.g. a new serial after a resubmit).
   */
  settle(
    id: string,
    expected: CertmongerState,
    condition?: () => Promise<boolean>,
  ): Promise<CertmongerStatus>;
  /** certmonger's recent log lines. */
  log(): string;
  close(): Promise<void>;
}

export async function startCertmonger(): Promise<Certmonger> {
  const directory = mkdtempSync(join(tmpdir(), 'herald-certmonger-'));
  const path = (...parts: string[]) => join(directory, ...parts);
  for (const sub of ['requests', 'cas', 'tmp', 'local', 'out']) mkdirSync(path(sub));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: directory,
    CERTMONGER_REQUESTS_DIR: path('requests'),
    CERTMONGER_CAS_DIR: path('cas'),
    CERTMONGER_TMPDIR: path('tmp'),
    CERTMONGER_LOCAL_CA_DIR: path('local'),
    CERTMONGER_PVT_ADDRESS: `unix:path=${path('sock')}`,
  };
  const daemonLog = new Tail();
  // -n: stay in the foreground, log to stderr; -L -P: a private socket instead of a bus.
  const daemon: ChildProcess = spawn('certmonger', ['-n', '-d', '1', '-L', '-P', path('sock')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemon.stdout!.on('data', (chunk: Buffer) => daemonLog.push(chunk));
  daemon.stderr!.on('data', (chunk: Buffer) => daemonLog.push(chunk));

  const close = async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((resolve) => daemon.once('exit', resolve));
      daemon.kill('SIGTERM');
      await exited;
    }
    rmSync(directory, { recursive: true, force: true });
  };

  try {
    await waitFor(() => existsSync(path('sock')) || daemon.exitCode !== null, 'certmonger to listen', 15_000);
    assert.equal(daemon.exitCode, null, `certmonger exited:\n${daemonLog.text()}`);
  } catch (error) {
    await close();
    throw error;
  }

  async function getcert(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run('getcert', args, { env, timeout: 30_000 });
      return stdout;
    } catch (error) {
      const failure = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `getcert ${args[0]} failed: ${failure.message}\n${failure.stdout ?? ''}${failure.stderr ?? ''}\n` +
          `certmonger log:\n${daemonLog.text()}`,
      );
    }
  }

  async function status(id: string): Promise<CertmongerStatus> {
    const listing = await getcert('list', '-i', id);
    return {
      state: /^\s*status: (\S+)/m.exec(listing)?.[1] ?? 'UNKNOWN',
      stuck: /^\s*stuck: yes/m.test(listing),
      listing,
    };
  }

  const settled = new Set([
    'MONITORING',
    'CA_REJECTED',
    'CA_UNREACHABLE',
    'CA_UNCONFIGURED',
    'NEED_GUIDANCE',
  ]);

  return {
    path,
    getcert,
    status,
    log: () => daemonLog.text(),
    close,
    async addScepCa(name, url, rootPemFile) {
      await getcert('add-scep-ca', '-c', name, '-u', url, '-R', rootPemFile);
    },
    async waitForCa(name) {
      await waitFor(
        async () => /SCEP CA certificate thumbprint/.test(await getcert('list-cas', '-c', name)),
        'certmonger to fetch the CA certificates',
        STATE_TIMEOUT_MS,
      );
    },
    async request(r) {
      await getcert(
        'request',
        '-c',
        r.ca,
        '-I',
        r.id,
        '-L',
        r.challenge,
        '-N',
        r.subject,
        '-f',
        r.certFile,
        '-k',
        r.keyFile,
      );
    },
    async settle(id, expected, condition = async () => true) {
      let last: CertmongerStatus | undefined;
      try {
        await waitFor(
          async () => {
            last = await status(id);
            return (
              (settled.has(last.state) || last.stuck) && (last.state !== expected || (await condition()))
            );
          },
          `certmonger request ${id} to settle`,
          STATE_TIMEOUT_MS,
        );
      } catch (error) {
        throw new Error(
          `${(error as Error).message}; last status:\n${last?.listing ?? '(none)'}\ncertmonger log:\n${daemonLog.text()}`,
        );
      }
      assert.equal(
        last!.state,
        expected,
        `request ${id} ended in ${last!.state}, expected ${expected}:\n${last!.listing}\ncertmonger log:\n${daemonLog.text()}`,
      );
      return last!;
    },
  };
}
