/**
 * Test support for the CA: the real `openssl` CLI (tests check what Herald makes with the tool
 * administrators use), temporary directories, and a CA opened on a test store with smaller keys
 * than production, so each test makes its own in well under a second.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { masterKeyFromBytes } from '../crypto/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import type { Store } from '../store/index.ts';
import { type CertificateAuthority, openCertificateAuthority } from './ca.ts';
import type { PkiSettings } from './settings.ts';
import { toPem } from './x509.ts';

export const TEST_PUBLIC_URL = 'http://herald.test:8080';
export const TEST_MASTER = masterKeyFromBytes(Buffer.alloc(32, 0x5a));

export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}

export interface OpensslResult {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together (openssl verify reports on both). */
  output: string;
}

export function openssl(
  args: readonly string[],
  options: { cwd?: string; input?: string } = {},
): OpensslResult {
  const result = spawnSync('openssl', args, { cwd: options.cwd, input: options.input, encoding: 'utf8' });
  if (result.error) throw result.error;
  return {
    status: result.status ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
    output: `${result.stdout}${result.stderr}`,
  };
}

/** Runs openssl and throws with its output when it fails. */
export function opensslOk(args: readonly string[], options: { cwd?: string } = {}): string {
  const result = openssl(args, options);
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${result.output}`);
  return result.stdout;
}

export interface TempDir {
  path: string;
  file(name: string): string;
  write(name: string, content: string | Buffer): string;
  read(name: string): Buffer;
  remove(): void;
}

export function tempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'herald-pki-'));
  return {
    path,
    file: (name) => join(path, name),
    write(name, content) {
      writeFileSync(join(path, name), content);
      return join(path, name);
    },
    read: (name) => readFileSync(join(path, name)),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** A CA on `store`: RSA 3072 root, RSA 2048 issuing, under TEST_PUBLIC_URL. */
export function openTestCa(
  store: Store,
  options: { now?: () => number; settings?: Partial<PkiSettings>; logger?: Logger } = {},
): Promise<CertificateAuthority> {
  return openCertificateAuthority({
    store,
    master: TEST_MASTER,
    publicUrl: TEST_PUBLIC_URL,
    logger: options.logger ?? silentLogger(),
    now: options.now,
    settings: { rootKeyBits: 3072, issuingKeyBits: 2048, ...options.settings },
  });
}

/** A CSR made by `openssl req` (new RSA key), PEM; its key is left in `<name>.key`. */
export function opensslCsr(
  dir: TempDir,
  name: string,
  options: { subject?: string; bits?: number; addext?: string } = {},
): string {
  const args = [
    'req',
    '-new',
    '-newkey',
    `rsa:${options.bits ?? 2048}`,
    '-nodes',
    '-keyout',
    dir.file(`${name}.key`),
    '-subj',
    options.subject ?? '/CN=whoever-the-device-says',
    '-out',
    dir.file(`${name}.csr`),
  ];
  if (options.addext) args.push('-addext', options.addext);
  opensslOk(args);
  return dir.read(`${name}.csr`).toString('utf8');
}

/** Writes the CA chain as root.pem and issuing.pem; returns their paths. */
export function writeChain(dir: TempDir, ca: CertificateAuthority): { root: string; issuing: string } {
  const [issuing, root] = [ca.chainDer()[0]!, ca.chainDer().at(-1)!];
  return {
    issuing: dir.write('issuing.pem', toPem(issuing, 'CERTIFICATE')),
    root: dir.write('root.pem', toPem(root, 'CERTIFICATE')),
  };
}

/** An enterprise two-tier CA: Contoso Root (self-signed) and Contoso Devices CA below it. */
export function enterpriseCa(dir: TempDir): void {
  opensslOk([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    dir.file('root.key'),
    '-subj',
    '/CN=Contoso Root/O=Contoso',
    '-days',
    '3650',
    '-out',
    dir.file('root.crt'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  opensslOk([
    'req',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    dir.file('sub.key'),
    '-subj',
    '/CN=Contoso Devices CA/O=Contoso',
    '-out',
    dir.file('sub.csr'),
  ]);
  dir.write(
    'sub.ext',
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  opensslOk([
    'x509',
    '-req',
    '-in',
    dir.file('sub.csr'),
    '-CA',
    dir.file('root.crt'),
    '-CAkey',
    dir.file('root.key'),
    '-set_serial',
    '0x1001',
    '-days',
    '1825',
    '-extfile',
    dir.file('sub.ext'),
    '-out',
    dir.file('sub.crt'),
  ]);
}
