/**
 * `herald ca import`: an enterprise issuing CA (made with OpenSSL, as an admin would export it)
 * becomes Herald's CA before any was created; the CRLs Herald then publishes are that CA's.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { enterpriseCa, opensslOk, tempDir } from '../../src/pki/testing.ts';

const HERALD = resolve(import.meta.dirname, '../../bin/herald');
const run = promisify(execFile);

test("herald ca import --p12: the enterprise CA is used, no CA of Herald's own is created", async (t) => {
  const dir = tempDir();
  t.after(() => dir.remove());
  enterpriseCa(dir);
  opensslOk([
    'pkcs12',
    '-export',
    '-inkey',
    dir.file('sub.key'),
    '-in',
    dir.file('sub.crt'),
    '-certfile',
    dir.file('root.crt'),
    '-passout',
    'pass:p12-pass',
    '-out',
    dir.file('ca.p12'),
  ]);

  await import('node:fs').then(({ writeFileSync }) => writeFileSync(dir.file('pass.txt'), 'p12-pass\n'));
  const env = {
    ...process.env,
    HERALD_CONFIG: '',
    HERALD_DATA_DIR: dir.file('data'),
  };
  const refused = await run(HERALD, ['ca', 'import', '--p12', dir.file('ca.p12'), '--passphrase', 'wrong'], {
    env,
  }).then(
    () => undefined,
    (error: { code: number; stderr: string }) => error,
  );
  assert.ok(refused, 'a wrong passphrase is refused');
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /pki_import_failed|MAC/);

  const imported = JSON.parse(
    (
      await run(
        HERALD,
        ['ca', 'import', '--p12', dir.file('ca.p12'), '--passphrase-file', dir.file('pass.txt'), '--json'],
        {
          env,
        },
      )
    ).stdout,
  ) as {
    issuing: { id: string; subject: string };
    root: { subject: string } | null;
  };
  assert.match(imported.issuing.subject, /Contoso Devices CA/);
  assert.match(imported.root?.subject ?? '', /Contoso Root/);

  const crls = (await run(HERALD, ['ca', 'crl', '--json'], { env })).stdout;
  assert.ok(crls.includes(imported.issuing.id), 'CRLs are published for the imported CA');
  assert.ok(!/Herald Root CA/.test(crls + (await run(HERALD, ['ca', 'list'], { env })).stderr));
});
