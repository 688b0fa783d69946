/**
 * `herald gateway rule add|list|remove` as an operator runs it (the real `bin/herald` in a
 * child process) against the database of a running Herald, on both databases: the running
 * server sees each change at once (no restart), `--json` prints what the admin API answers,
 * and mistakes exit non-zero with a message and store nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { databases } from '../../src/store/testing.ts';
import { type RunningHerald, startHerald } from '../support/herald.ts';

const run = promisify(execFile);
const HERALD = resolve(import.meta.dirname, '../../bin/herald');

interface Failure {
  code: number;
  stdout: string;
  stderr: string;
}

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`herald gateway rule [${database.name}]`, { skip: skip ?? false }, () => {
    let server: RunningHerald;
    let drop: () => Promise<void> = async () => {};
    let databaseUrl: string | undefined;
    let token: string;

    /** The CLI on the server's configuration: same data directory, same database. */
    const herald = (...args: string[]) =>
      run(HERALD, ['gateway', 'rule', ...args], {
        cwd: server.dataDir,
        env: {
          ...process.env,
          HERALD_CONFIG: '',
          HERALD_DATA_DIR: server.dataDir,
          ...(databaseUrl ? { HERALD_DATABASE: databaseUrl } : {}),
        },
      });
    const fails = async (args: string[], stderr: RegExp) => {
      await assert.rejects(herald(...args), (error: Failure) => {
        assert.notEqual(error.code, 0, args.join(' '));
        assert.match(error.stderr, stderr, args.join(' '));
        assert.equal(error.stdout, '', 'nothing on stdout');
        return true;
      });
    };
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}/api/admin/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    };

    before(async () => {
      const target = await database.forServer();
      drop = target.drop;
      databaseUrl = target.url;
      server = await startHerald(target.url ? { database: target.url } : {});
      token = readFileSync(join(server.dataDir, 'admin.token'), 'utf8').trim();
    });

    after(async () => {
      await server?.stop();
      await drop();
    });

    test('add prints the rule as JSON; the running server has it at once; list and remove', async () => {
      assert.equal(
        (await herald('list')).stdout,
        'No gateway rules: gateway.policy.default decides every request.\n',
      );

      const stolen = JSON.parse(
        (await herald('add', '--block', '--device-id', 'ApplF17XQ0AAAAA', '--reason', 'reported stolen'))
          .stdout,
      ) as Record<string, unknown>;
      assert.match(String(stolen.id), /^rule_[A-Za-z0-9_-]{22}$/);
      assert.equal(stolen.action, 'block');
      assert.equal(stolen.priority, 10);
      assert.equal(stolen.deviceId, 'ApplF17XQ0AAAAA');
      assert.equal(stolen.reason, 'reported stolen');
      // No restart: the server reads the same database.
      assert.deepEqual(await api('GET', `/gateway/rules/${stolen.id}`), { status: 200, json: stolen });

      const cfo = JSON.parse(
        (
          await herald(
            'add',
            '--allow',
            '--user',
            'CFO@Contoso.Example',
            '--user-agent',
            '^Outlook-iOS/',
            '--device-type',
            'iPhone',
            '--priority',
            '-5',
            '--reason',
            'the CFO keeps Outlook',
          )
        ).stdout,
      ) as Record<string, unknown>;
      assert.equal(cfo.user, 'cfo@contoso.example');
      assert.equal(cfo.priority, -5);
      // A rule added through the API is listed too.
      const viaApi = await api('POST', '/gateway/rules', {
        action: 'block',
        deviceType: 'WindowsMail',
        reason: 'unmanaged client',
      });
      assert.equal(viaApi.status, 201);

      const table = (await herald('list')).stdout.trimEnd().split('\n');
      assert.match(table[0]!, /^PRIORITY +ACTION +DEVICE ID +DEVICE TYPE +USER +USER AGENT +ID +REASON$/);
      assert.equal(table.length, 4);
      assert.match(
        table[1]!,
        new RegExp(
          `^-5 +allow +- +iPhone +cfo@contoso\\.example +\\^Outlook-iOS/ +${cfo.id} +the CFO keeps Outlook$`,
        ),
      );
      assert.match(
        table[2]!,
        new RegExp(`^10 +block +ApplF17XQ0AAAAA +- +- +- +${stolen.id} +reported stolen$`),
      );
      assert.match(
        table[3]!,
        new RegExp(`^20 +block +- +WindowsMail +- +- +${viaApi.json.id} +unmanaged client$`),
      );
      assert.deepEqual(
        JSON.parse((await herald('list', '--json')).stdout),
        (await api('GET', '/gateway/rules')).json,
      );

      assert.equal((await herald('remove', String(stolen.id))).stdout, `removed gateway rule ${stolen.id}\n`);
      assert.equal((await api('GET', `/gateway/rules/${stolen.id}`)).status, 404);
      assert.deepEqual(
        ((await api('GET', '/gateway/rules')).json.rules as Array<{ id: string }>).map((r) => r.id),
        [cfo.id, viaApi.json.id],
      );
    });

    test('error/remove of an unknown id exits 1 with a clear message', async () => {
      await assert.rejects(herald('remove', 'rule_doesNotExist0000000000'), (error: Failure) => {
        assert.equal(error.code, 1);
        assert.equal(
          error.stderr,
          'herald: gateway rule rule_doesNotExist0000000000 not found (gateway_rule_not_found)\n',
        );
        return true;
      });
    });

    test('error/add refuses what the gateway could not apply, and stores nothing', async () => {
      const before = (await api('GET', '/gateway/rules')).json;
      // Independent child processes: run them side by side.
      await Promise.all([
        fails(
          ['add', '--block', '--reason', 'everything'],
          /at least one of --device-id, --device-type, --user or --user-agent/,
        ),
        fails(['add', '--device-type', 'iPhone', '--reason', 'r'], /needs --block or --allow/),
        fails(
          ['add', '--block', '--allow', '--device-type', 'iPhone', '--reason', 'r'],
          /cannot be used with/,
        ),
        fails(['add', '--block', '--device-type', 'iPhone'], /required option '--reason <text>'/),
        fails(
          ['add', '--block', '--user-agent', 'Outlook(', '--reason', 'r'],
          /^herald: Gateway rule userAgent is not a valid regular expression: .*Unterminated group \(invalid_request\)\n$/,
        ),
        fails(
          ['add', '--block', '--device-type', 'iPhone', '--priority', '1.5', '--reason', 'r'],
          /must be an integer/,
        ),
      ]);
      assert.deepEqual((await api('GET', '/gateway/rules')).json, before);
    });

    test('the command needs no master key: it neither reads nor creates one', async () => {
      // A gateway host has the database but no master key: a data directory without one.
      const dir = mkdtempSync(join(tmpdir(), 'herald-gw-cli-'));
      const { stdout } = await run(HERALD, ['gateway', 'rule', 'list', '--json'], {
        cwd: dir,
        env: {
          ...process.env,
          HERALD_CONFIG: '',
          HERALD_DATA_DIR: dir,
          HERALD_DATABASE: databaseUrl ?? `sqlite:${join(server.dataDir, 'herald.db')}`,
        },
      });
      assert.deepEqual(JSON.parse(stdout), (await api('GET', '/gateway/rules')).json);
      assert.equal(existsSync(join(dir, 'master.key')), false);
    });
  });
}
