/**
 * The `herald` command as an operator uses it: `serve` with no config file starts on embedded
 * defaults, answers alive and says how to add a tenant; `tenant add|list|rotate-token` work
 * against the same data directory while it runs; `config print` hides secrets.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { identifierHash, loadOrCreateMasterKey } from '../../src/crypto/index.ts';
import { openStore } from '../../src/store/index.ts';
import { exampleRegistration } from '../../src/store/testing.ts';
import { freePort } from '../support/net.ts';

const run = promisify(execFile);
const HERALD = resolve(import.meta.dirname, '../../bin/herald');

describe('herald CLI on embedded defaults', () => {
  let cwd: string;
  let port: number;
  let server: ChildProcess;
  let stderr = '';
  const env = () => ({ ...process.env, HERALD_LISTEN_PORT: String(port), HERALD_CONFIG: '' });
  const herald = (...args: string[]) => run(HERALD, args, { cwd, env: env() });

  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'herald-cli-'));
    port = await freePort();
    server = spawn(HERALD, ['serve'], { cwd, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((ready, fail) => {
      server.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('tenant add')) ready();
      });
      server.once('exit', (code) => fail(new Error(`herald serve exited with ${code}: ${stderr}`)));
    });
  });

  after(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });

  test('serve prints where it listens and how to create a tenant, and answers alive', async () => {
    assert.match(stderr, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`));
    assert.match(stderr, /no tenants yet: create one with .*tenant add <name>/);
    const alive = await fetch(`http://127.0.0.1:${port}/api/ens/alive`);
    assert.equal(alive.status, 200);
    assert.equal(((await alive.json()) as { status: string }).status, 'ok');
  });

  test('tenant add prints a token once that the running server accepts; list and rotate-token', async () => {
    const added = JSON.parse((await herald('tenant', 'add', 'acme')).stdout) as {
      tenantId: string;
      apiToken: string;
    };
    assert.equal(added.tenantId, 'acme');
    const key = await fetch(`http://127.0.0.1:${port}/api/ens/v1/publickey`, {
      headers: { authorization: `Bearer ${added.apiToken}` },
    });
    assert.equal(key.status, 200);
    const listed = JSON.parse((await herald('tenant', 'list')).stdout) as Array<{
      tenantId: string;
      keyId: string;
    }>;
    assert.deepEqual(
      listed.map((t) => t.tenantId),
      ['acme'],
    );
    assert.ok(listed[0]!.keyId);
    assert.equal(
      (await herald('tenant', 'list')).stdout.includes(added.apiToken),
      false,
      'tokens are not listed',
    );
    const rotated = JSON.parse((await herald('tenant', 'rotate-token', 'acme')).stdout) as {
      apiToken: string;
    };
    assert.notEqual(rotated.apiToken, added.apiToken);
    const old = await fetch(`http://127.0.0.1:${port}/api/ens/v1/publickey`, {
      headers: { authorization: `Bearer ${added.apiToken}` },
    });
    assert.equal(old.status, 401);
  });

  test('error/tenant add of an existing or invalid name fails with a message and exit code 1', async () => {
    await assert.rejects(herald('tenant', 'add', 'acme'), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /exists already\. \(tenant_exists\)/);
      return true;
    });
    await assert.rejects(herald('tenant', 'add', 'Not Valid'), /invalid/);
  });

  test('registrations list --state and show, as text and as the admin API JSON; an unknown id exits 1', async () => {
    // Registrations in the states the watchdog sets, written into the running server's database.
    const now = Date.now();
    const master = loadOrCreateMasterKey(join(cwd, 'var', 'master.key')).key;
    const zoe = identifierHash(master.derive('identifier-hash'), 'email', 'zoe@contoso.example');
    const store = await openStore(`sqlite:${join(cwd, 'var', 'herald.db')}`);
    try {
      await store.registrations.insert(
        exampleRegistration({
          id: 'cli-active',
          tenantId: 'acme',
          pushToken: 'active-token-0123456789abcdef',
          emailHash: zoe,
          lastSeenAt: now - 3 * 60_000,
          statusFrequencyMinutes: 15,
        }),
      );
      await store.registrations.insert(
        exampleRegistration({
          id: 'cli-silent',
          tenantId: 'acme',
          pushToken: 'silent-token-0123456789abcdef',
          state: 'silent',
          statusFrequencyMinutes: 15,
        }),
      );
      await store.registrations.update('cli-silent', { silentSince: now - 40 * 60_000, checkinSentAt: now });
    } finally {
      await store.close();
    }
    const adminFile = join(cwd, 'var', 'admin.token');
    assert.match(stderr, /admin API: http:\/\/127\.0\.0\.1:\d+\/api\/admin\/v1 .*admin\.token/);
    const adminToken = readFileSync(adminFile, 'utf8').trim();
    const adminApi = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}/api/admin/v1${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      }).then((r) => r.json())) as unknown;

    const table = (await herald('registrations', 'list', '--state', 'silent')).stdout;
    assert.match(table, /^ID +TENANT +PLATFORM +STATE +PUSH TOKEN/);
    assert.match(table, /cli-silent +acme +ios +silent +…abcdef/);
    assert.equal(table.includes('cli-active'), false);
    assert.equal(table.includes('silent-token-0123456789abcdef'), false, 'the push token is masked');
    const listed = JSON.parse((await herald('registrations', 'list', '--state', 'silent', '--json')).stdout);
    assert.deepEqual(listed, await adminApi('/registrations?state=silent'));
    assert.deepEqual(
      JSON.parse(
        (await herald('registrations', 'list', '--email', 'Zoe@contoso.example', '--json')).stdout,
      ).registrations.map((r: { id: string }) => r.id),
      ['cli-active'],
    );

    const shown = (await herald('registrations', 'show', 'cli-silent')).stdout;
    assert.match(shown, /^id: +cli-silent$/m);
    assert.match(shown, /^state: +silent$/m);
    assert.match(shown, /^health: +Silent since .*: no callback from Exchange for 2 × StatusFrequency/m);
    assert.match(shown, /^pushToken: +…abcdef$/m);
    assert.match(shown, /^deliveries: none yet$/m);
    const detail = JSON.parse((await herald('registrations', 'show', 'cli-silent', '--json')).stdout);
    assert.deepEqual(detail, await adminApi('/registrations/cli-silent'));

    await assert.rejects(
      herald('registrations', 'show', 'nope'),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, /herald: registration nope not found/);
        return true;
      },
    );
    await assert.rejects(
      herald('registrations', 'list', '--state', 'sleeping'),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, /pending, active, silent, repairing, needs_credentials, dead, inactive/);
        return true;
      },
    );
  });

  test('config print hides secrets; a bad config file fails with the key path', async () => {
    const file = join(cwd, 'herald.yaml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} reference for Herald's config loader
    writeFileSync(file, 'tenants:\n  - id: globex\n    apiToken: ${GLOBEX_TOKEN}\n');
    const { stdout } = await run(HERALD, ['config', 'print', '--config', file], {
      cwd,
      env: { ...env(), GLOBEX_TOKEN: 'globex-secret-token-value' },
    });
    assert.match(stdout, /globex/);
    assert.equal(stdout.includes('globex-secret-token-value'), false);
    assert.match(stdout, /<hidden>/);
    writeFileSync(file, 'listen:\n  prot: 8080\n');
    await assert.rejects(
      run(HERALD, ['config', 'print', '--config', file], { cwd, env: env() }),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 78);
        assert.match(error.stderr, /listen\.prot/);
        return true;
      },
    );
  });

  test('SIGTERM stops the server cleanly', async () => {
    const exited = new Promise<number | null>((done) => server.once('exit', (code) => done(code)));
    server.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

test('herald sim exchange starts with the given mailboxes and prints its URL', async () => {
  const sim = spawn(HERALD, ['sim', 'exchange', '--port', '0', '--mailbox', 'zoe@contoso.example:pw'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    const url = await new Promise<string>((found, fail) => {
      let text = '';
      sim.stderr!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
        if (match) found(match[1]!);
      });
      sim.once('exit', (code) => fail(new Error(`sim exited with ${code}: ${text}`)));
    });
    const mailboxes = (await (await fetch(`${url}/sim/mailboxes`)).json()) as unknown;
    assert.match(JSON.stringify(mailboxes), /zoe@contoso\.example/);
    assert.equal(JSON.stringify(mailboxes).includes('"pw"'), false, 'passwords are not listed');
  } finally {
    sim.kill('SIGTERM');
  }
});

test('serve stops at start with exit code 78 and the key path when a push key file is missing', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'herald-cli-'));
  const file = join(cwd, 'herald.yaml');
  writeFileSync(
    file,
    [
      'tenants:',
      '  - id: globex',
      '    apiToken: globex-token-0123456789',
      '    apps:',
      '      - appId: com.example.mail',
      '        apns:',
      '          token: { keyFile: AuthKey_ABC123DEFG.p8, keyId: ABC123DEFG, teamId: TEAM123456 }',
      '',
    ].join('\n'),
  );
  await assert.rejects(
    run(HERALD, ['serve', '--config', file], {
      cwd,
      env: { ...process.env, HERALD_LISTEN_PORT: String(await freePort()), HERALD_CONFIG: '' },
    }),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 78);
      assert.match(error.stderr, /tenants\[0\]\.apps\[0\]\.apns\.token\.keyFile: .*AuthKey_ABC123DEFG\.p8/);
      return true;
    },
  );
});

/** Start `herald sim ...`, wait for its "listening on URL" line; the caller kills it. */
async function startSim(args: string[]): Promise<{ url: string; output: () => string; stop: () => void }> {
  const sim = spawn(HERALD, ['sim', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const url = await new Promise<string>((found, fail) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const match = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (match) found(match[1]!);
    };
    sim.stdout!.on('data', onData);
    sim.stderr!.on('data', onData);
    sim.once('exit', (code) => fail(new Error(`sim exited with ${code}: ${text}`)));
  });
  return { url, output: () => text, stop: () => sim.kill('SIGTERM') };
}

test('herald sim fcm writes a service account whose token_uri points at it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sim-fcm-'));
  const file = join(dir, 'sa.json');
  const sim = await startSim(['fcm', '--port', '0', '--service-account-out', file]);
  try {
    const account = JSON.parse(readFileSync(file, 'utf8')) as { token_uri: string; type: string };
    assert.equal(account.type, 'service_account');
    assert.equal(account.token_uri, `${sim.url}/token`);
    const stats = (await (await fetch(`${sim.url}/sim/stats`)).json()) as { requests: number };
    assert.equal(stats.requests, 0);
  } finally {
    sim.stop();
  }
});

test('herald sim apns generates a .p8 key and writes its CA; a push signed with that key is accepted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sim-apns-'));
  const caFile = join(dir, 'ca.pem');
  const sim = await startSim(['apns', '--port', '0', '--generate-key', dir, '--ca-out', caFile]);
  try {
    const keyFile = readdirSync(dir).find((name) => /^AuthKey_[A-Z0-9]{10}\.p8$/.test(name));
    assert.ok(keyFile, `a key file in ${dir}: ${sim.output()}`);
    const keyId = keyFile.slice('AuthKey_'.length, -'.p8'.length);
    const teamId = /team(?: ID|Id|_id)?[ :=]+([A-Z0-9]{10})/i.exec(sim.output())?.[1];
    assert.ok(teamId, `the team id is printed: ${sim.output()}`);
    const jwt = await new SignJWT({ iss: teamId, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', kid: keyId })
      .sign(createPrivateKey(readFileSync(join(dir, keyFile), 'utf8')));
    const session = connect(sim.url, { ca: readFileSync(caFile, 'utf8') });
    try {
      const status = await new Promise<number>((done, fail) => {
        const request = session.request({
          ':method': 'POST',
          ':path': `/3/device/${'ab'.repeat(32)}`,
          authorization: `bearer ${jwt}`,
          'apns-topic': 'com.example.mail',
          'apns-push-type': 'alert',
        });
        request.on('response', (headers) => done(Number(headers[':status'])));
        request.on('error', fail);
        request.end(JSON.stringify({ aps: { alert: 'hi' } }));
      });
      assert.equal(status, 200);
    } finally {
      session.close();
    }
  } finally {
    sim.stop();
  }
});

test('gateway stops at start with exit code 78 when kerberos.enabled lacks what delegation needs', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'herald-cli-'));
  const file = join(cwd, 'herald.yaml');
  writeFileSync(
    file,
    [
      'gateway:',
      '  upstreams: { activesync: https://exchange.corp.example }',
      '  kerberos: { enabled: true, realm: CORP.EXAMPLE }',
      '',
    ].join('\n'),
  );
  await assert.rejects(
    run(HERALD, ['gateway', '--config', file], { cwd, env: { ...process.env, HERALD_CONFIG: '' } }),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 78);
      assert.match(error.stderr, /gateway\.kerberos: servicePrincipal, keytabFile must be set/);
      return true;
    },
  );
  writeFileSync(file, ['gateway:', '  kerberos: { enabled: true, realm: corp.example }', ''].join('\n'));
  await assert.rejects(
    run(HERALD, ['gateway', '--config', file], { cwd, env: { ...process.env, HERALD_CONFIG: '' } }),
    (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 78);
      assert.match(error.stderr, /gateway\.kerberos\.realm: must be in upper case/);
      return true;
    },
  );
});
