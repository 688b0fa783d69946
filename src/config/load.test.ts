// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} references are the subject under test.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from './index.ts';
import { configErrorOf, tempDir, validTenantYaml } from './testing.ts';

const tmp = tempDir();
after(() => tmp.remove());

describe('file', () => {
  test('file/without a file only defaults apply, paths relative to cwd', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/herald' });
    assert.equal(config.dataDir, '/srv/herald/var');
    assert.equal(config.database, 'sqlite:/srv/herald/var/herald.db');
    assert.equal(config.masterKeyFile, '/srv/herald/var/master.key');
  });

  test('file/options.file is read', () => {
    const file = tmp.write('a/herald.yaml', 'listen: { port: 9001 }\n');
    assert.equal(loadConfig({ file, env: {} }).listen.port, 9001);
  });

  test('file/HERALD_CONFIG names the file, relative to cwd', () => {
    tmp.write('b/conf.yaml', 'listen: { port: 9002 }\n');
    assert.equal(loadConfig({ env: { HERALD_CONFIG: 'b/conf.yaml' }, cwd: tmp.dir }).listen.port, 9002);
  });

  test('file/options.file wins over HERALD_CONFIG', () => {
    const file = tmp.write('c/herald.yaml', 'listen: { port: 9003 }\n');
    assert.equal(loadConfig({ file, env: { HERALD_CONFIG: '/nonexistent.yaml' } }).listen.port, 9003);
  });

  test('error/missing file names the path', () => {
    const file = join(tmp.dir, 'missing.yaml');
    const error = configErrorOf(() => loadConfig({ file, env: {} }));
    assert.equal(error.issues.length, 1);
    assert.equal(error.issues[0]!.message, `config file not found: ${file}`);
  });

  test('error/a directory is not a config file', () => {
    const error = configErrorOf(() => loadConfig({ file: tmp.dir, env: {} }));
    assert.match(error.issues[0]!.message, /cannot read config file .*EISDIR/);
  });

  test('error/YAML syntax error has line and column, and no file text', () => {
    const file = tmp.write(
      'syntax.yaml',
      'listen:\n  port: 1\ntenants: [\n  { id: a, apiToken: "s3cr3t-value-xyz }\n',
    );
    const error = configErrorOf(() => loadConfig({ file, env: {} }));
    assert.ok(error.issues.length >= 1);
    for (const issue of error.issues) {
      assert.match(issue.message, /^YAML syntax error: /);
      assert.match(issue.source!, /syntax\.yaml:\d+:\d+$/);
    }
    // yaml's own messages quote the offending line, which may hold a secret.
    assert.ok(!String(error).includes('s3cr3t'), String(error));
  });

  test('error/an unquoted ${VAR} in a flow mapping gets a hint', () => {
    const file = tmp.write('flow.yaml', 'tls: { certFile: a.pem, keyFile: ${KEY} }\n');
    const error = configErrorOf(() => loadConfig({ file, env: { KEY: 'k.pem' } }));
    assert.match(error.message, /quote \$\{VAR\} references/);
  });

  test('error/duplicate keys are a YAML error', () => {
    const file = tmp.write('dup.yaml', 'listen: { port: 1 }\nlisten: { port: 2 }\n');
    const error = configErrorOf(() => loadConfig({ file, env: {} }));
    assert.match(error.issues[0]!.message, /unique/);
    assert.match(error.issues[0]!.source!, /dup\.yaml:2:1$/);
  });

  const notMappings = [
    { name: 'error/a list is not a mapping', text: '- listen\n- port\n', found: 'a list' },
    { name: 'error/a scalar is not a mapping', text: 'listen\n', found: 'a single value' },
  ];
  for (const c of notMappings) {
    test(c.name, () => {
      const file = tmp.write('notmap.yaml', c.text);
      const error = configErrorOf(() => loadConfig({ file, env: {} }));
      assert.equal(error.issues[0]!.message, `the config file must be a mapping of keys, not ${c.found}`);
    });
  }
});

describe('${VAR} substitution', () => {
  function load(yaml: string, env: NodeJS.ProcessEnv) {
    return loadConfig({ file: tmp.write('vars.yaml', yaml), env });
  }

  test('vars/a variable fills a secret', () => {
    const config = load(`tenants:\n  - id: a\n    apiToken: \${TOKEN}\n`, {
      TOKEN: 'from-the-environment-1',
    });
    assert.equal(config.tenants[0]!.apiToken, 'from-the-environment-1');
  });

  const cases: {
    name: string;
    yaml: string;
    env: NodeJS.ProcessEnv;
    path: (c: ReturnType<typeof load>) => unknown;
    want: unknown;
  }[] = [
    {
      name: 'vars/inside a longer string',
      yaml: 'publicUrl: https://${HOST}:8443/ens',
      env: { HOST: 'h.example' },
      path: (c) => c.publicUrl,
      want: 'https://h.example:8443/ens',
    },
    {
      name: 'vars/default when unset',
      yaml: 'listen: { host: "${HOST:-0.0.0.0}" }',
      env: {},
      path: (c) => c.listen.host,
      want: '0.0.0.0',
    },
    {
      name: 'vars/default when empty',
      yaml: 'listen: { host: "${HOST:-0.0.0.0}" }',
      env: { HOST: '' },
      path: (c) => c.listen.host,
      want: '0.0.0.0',
    },
    {
      name: 'vars/set value beats default',
      yaml: 'listen: { host: "${HOST:-0.0.0.0}" }',
      env: { HOST: '::' },
      path: (c) => c.listen.host,
      want: '::',
    },
    {
      name: 'vars/number key is coerced',
      yaml: 'listen: { port: "${PORT}" }',
      env: { PORT: '9100' },
      path: (c) => c.listen.port,
      want: 9100,
    },
    {
      name: 'vars/boolean key is coerced',
      yaml: 'gateway: { ignoreUpstreamTlsErrors: "${IGNORE:-false}" }',
      env: {},
      path: (c) => c.gateway.ignoreUpstreamTlsErrors,
      want: false,
    },
    {
      name: 'vars/list key from a comma list',
      yaml: 'proxy: { url: "http://p:3128", noProxy: "${NO_PROXY}" }',
      env: { NO_PROXY: 'a.example, b.example' },
      path: (c) => c.proxy!.noProxy,
      want: ['a.example', 'b.example'],
    },
    {
      name: 'vars/$${ is a literal ${',
      yaml: 'gateway: { kerberos: { realm: "$${REALM}" } }',
      env: { REALM: 'X' },
      path: (c) => c.gateway.kerberos.realm,
      want: '${REALM}',
    },
    {
      name: 'vars/a value with YAML syntax stays one string',
      yaml: 'tenants:\n  - id: a\n    apiToken: ${TOKEN}\n',
      env: { TOKEN: 'x0123456789abcdef\nextra: {evil: true}' },
      path: (c) => c.tenants[0]!.apiToken,
      want: 'x0123456789abcdef\nextra: {evil: true}',
    },
    {
      name: 'vars/keys are not expanded, only values',
      yaml: 'log: { level: "${LEVEL}" }',
      env: { LEVEL: 'debug' },
      path: (c) => c.log.level,
      want: 'debug',
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(c.path(load(c.yaml, c.env)), c.want));

  const errors: { name: string; yaml: string; env: NodeJS.ProcessEnv; path: string; message: RegExp }[] = [
    {
      name: 'error/unset variable names the variable and the key',
      yaml: 'tenants:\n  - id: contoso\n    apiToken: ${CONTOSO_TOKEN}\n',
      env: {},
      path: 'tenants[0].apiToken',
      message: /^environment variable CONTOSO_TOKEN is not set$/,
    },
    {
      name: 'error/unterminated reference',
      yaml: 'listen: { host: "${HOST" }',
      env: {},
      path: 'listen.host',
      message: /unterminated/,
    },
    {
      name: 'error/malformed reference',
      yaml: 'listen: { host: "${1HOST}" }',
      env: {},
      path: 'listen.host',
      message: /malformed reference/,
    },
    {
      name: 'error/expanded number is not a number',
      yaml: 'listen: { port: "${PORT}" }',
      env: { PORT: 'eighty' },
      path: 'listen.port',
      message: /not a number/,
    },
  ];
  for (const c of errors) {
    test(c.name, () => {
      const error = configErrorOf(() => load(c.yaml, c.env));
      const issue = error.issues.find((i) => i.path === c.path);
      assert.ok(issue, JSON.stringify(error.issues));
      assert.match(issue.message, c.message);
    });
  }

  test('error/an unset variable is reported once, not again as a short token', () => {
    const error = configErrorOf(() => load('tenants:\n  - id: a\n    apiToken: ${T}\n', {}));
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['tenants[0].apiToken'],
    );
    assert.match(error.issues[0]!.source!, /vars\.yaml:3:5$/);
  });
});

describe('relative paths', () => {
  test('paths/resolve against the config file directory', () => {
    const file = tmp.write(
      'etc/herald/herald.yaml',
      `tls: { certFile: ens.pem, keyFile: /abs/ens.key }
database: sqlite:db/herald.db
dataDir: data
trust: { caFiles: [corp-ca.pem, ../shared/ca.pem] }
gateway:
  tls: { certFile: gw.pem, keyFile: gw.key }
  trustedCaFiles: [device-ca.pem]
  upstreamCaFiles: [up.pem]
  kerberos: { keytabFile: svc.keytab }
tenants:${validTenantYaml.replace('AuthKey.p8', 'keys/AuthKey.p8')}
      - appId: com.example.two
        apns: { certificate: { p12File: push.p12 } }
        fcm: { serviceAccountFile: sa.json }
`,
    );
    const base = join(tmp.dir, 'etc/herald');
    const config = loadConfig({ file, env: {}, cwd: '/elsewhere' });
    assert.equal(config.tls!.certFile, join(base, 'ens.pem'));
    assert.equal(config.tls!.keyFile, '/abs/ens.key');
    assert.equal(config.database, `sqlite:${join(base, 'db/herald.db')}`);
    assert.equal(config.dataDir, join(base, 'data'));
    assert.equal(config.masterKeyFile, join(base, 'data/master.key'));
    assert.deepEqual(config.trust.caFiles, [join(base, 'corp-ca.pem'), join(tmp.dir, 'etc/shared/ca.pem')]);
    assert.equal(config.gateway.tls!.certFile, join(base, 'gw.pem'));
    assert.deepEqual(config.gateway.trustedCaFiles, [join(base, 'device-ca.pem')]);
    assert.deepEqual(config.gateway.upstreamCaFiles, [join(base, 'up.pem')]);
    assert.equal(config.gateway.kerberos.keytabFile, join(base, 'svc.keytab'));
    const [first, second] = config.tenants[0]!.apps;
    assert.equal(first!.apns!.token!.keyFile, join(base, 'keys/AuthKey.p8'));
    assert.equal(second!.apns!.certificate!.p12File, join(base, 'push.p12'));
    assert.equal(second!.fcm!.serviceAccountFile, join(base, 'sa.json'));
  });

  test('paths/in-memory sqlite and postgres URLs are left alone', () => {
    for (const database of ['sqlite::memory:', 'postgres://h@db:5432/herald']) {
      assert.equal(loadConfig({ env: { HERALD_DATABASE: database }, cwd: '/x' }).database, database);
    }
  });

  test('paths/non-path strings are not resolved', () => {
    const config = loadConfig({ env: { HERALD_GATEWAY_KERBEROS_REALM: 'CORP' }, cwd: '/x' });
    assert.equal(config.gateway.kerberos.realm, 'CORP');
    assert.equal(config.listen.host, '127.0.0.1');
  });
});

describe('frozen', () => {
  test('frozen/writes throw in strict mode at every depth', () => {
    const file = tmp.write('frozen.yaml', `tenants:${validTenantYaml}`);
    const config = loadConfig({ file, env: {} });
    type DeepMutable<T> = T extends readonly (infer U)[]
      ? DeepMutable<U>[]
      : T extends object
        ? { -readonly [K in keyof T]: DeepMutable<T[K]> }
        : T;
    const writable = config as DeepMutable<typeof config>;
    assert.throws(() => {
      writable.publicUrl = 'http://evil';
    }, TypeError);
    assert.throws(() => {
      writable.listen.port = 1;
    }, TypeError);
    assert.throws(() => {
      writable.tenants.length = 0;
    }, TypeError);
    assert.throws(() => {
      writable.tenants[0]!.apps[0]!.apns!.token!.keyId = 'X';
    }, TypeError);
    assert.equal(config.listen.port, 8080);
  });
});

describe('ConfigError', () => {
  test('error/toString lists every issue with its source', () => {
    const error = new ConfigError([
      { path: 'listen.port', message: 'too big', source: 'f.yaml:2:3' },
      { path: '', message: 'unknown environment variable HERALD_X' },
    ]);
    assert.equal(
      error.toString(),
      'ConfigError: invalid configuration:\n  - listen.port: too big (f.yaml:2:3)\n  - unknown environment variable HERALD_X',
    );
    assert.ok(error instanceof Error);
    assert.throws(() => {
      (error.issues as unknown as unknown[]).push({});
    }, TypeError);
  });
});
