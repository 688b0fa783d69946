// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} references are the subject under test.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { envVariableNames, loadConfig } from './index.ts';
import { configErrorOf, tempDir } from './testing.ts';

const tmp = tempDir();
after(() => tmp.remove());

describe('names', () => {
  test('names/the operator.md names exist with their paths', () => {
    const byName = new Map(envVariableNames().map((v) => [v.name, v.path]));
    const expected: Record<string, string> = {
      HERALD_LISTEN_PORT: 'listen.port',
      HERALD_LISTEN_HOST: 'listen.host',
      HERALD_DATABASE: 'database',
      HERALD_PUBLIC_URL: 'publicUrl',
      HERALD_DATA_DIR: 'dataDir',
      HERALD_MASTER_KEY_FILE: 'masterKeyFile',
      HERALD_EXCHANGE_STATUS_FREQUENCY_MINUTES: 'exchange.statusFrequencyMinutes',
      HERALD_GATEWAY_CRL_ON_UNAVAILABLE: 'gateway.crl.onUnavailable',
      HERALD_GATEWAY_REMOVE_UNSUPPORTED_AUTH_FOR_EWS: 'gateway.removeUnsupportedAuthForEws',
      HERALD_PROXY_NO_PROXY: 'proxy.noProxy',
      HERALD_TRUST_CA_FILES: 'trust.caFiles',
      HERALD_TLS_CERT_FILE: 'tls.certFile',
      HERALD_GRAPH_GRAPH_URL: 'graph.graphUrl',
      HERALD_GRAPH_SUBSCRIPTION_MINUTES_WITH_RESOURCE_DATA: 'graph.subscriptionMinutesWithResourceData',
      HERALD_GRAPH_RENEWAL_INTERVAL_SECONDS: 'graph.renewal.intervalSeconds',
    };
    for (const [name, path] of Object.entries(expected)) assert.equal(byName.get(name), path, name);
  });

  test('names/lists of objects have no variable', () => {
    assert.ok(!envVariableNames().some((v) => v.path.startsWith('tenants')));
  });

  test('names/are unique and all start with HERALD_', () => {
    const names = envVariableNames().map((v) => v.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of names) assert.match(name, /^HERALD_[A-Z0-9_]+$/);
  });

  test('names/enums list their values', () => {
    const level = envVariableNames().find((v) => v.name === 'HERALD_LOG_LEVEL');
    assert.deepEqual(level, {
      name: 'HERALD_LOG_LEVEL',
      path: 'log.level',
      type: 'enum',
      values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    });
  });
});

describe('overrides', () => {
  const cases: {
    name: string;
    env: NodeJS.ProcessEnv;
    read: (c: ReturnType<typeof loadConfig>) => unknown;
    want: unknown;
  }[] = [
    { name: 'env/number', env: { HERALD_LISTEN_PORT: '9000' }, read: (c) => c.listen.port, want: 9000 },
    {
      name: 'env/string',
      env: { HERALD_LISTEN_HOST: '0.0.0.0' },
      read: (c) => c.listen.host,
      want: '0.0.0.0',
    },
    {
      name: 'env/url',
      env: { HERALD_PUBLIC_URL: 'https://ens.example.com/' },
      read: (c) => c.publicUrl,
      want: 'https://ens.example.com',
    },
    {
      name: 'env/database',
      env: { HERALD_DATABASE: 'postgres://h@db/herald' },
      read: (c) => c.database,
      want: 'postgres://h@db/herald',
    },
    {
      name: 'env/enum',
      env: { HERALD_GATEWAY_CRL_ON_UNAVAILABLE: 'fail-open' },
      read: (c) => c.gateway.crl.onUnavailable,
      want: 'fail-open',
    },
    {
      name: 'env/boolean true',
      env: { HERALD_GATEWAY_KERBEROS_ENABLED: 'true' },
      read: (c) => c.gateway.kerberos.enabled,
      want: true,
    },
    {
      name: 'env/boolean 0',
      env: { HERALD_GATEWAY_REMOVE_UNSUPPORTED_AUTH_FOR_EWS: '0' },
      read: (c) => c.gateway.removeUnsupportedAuthForEws,
      want: false,
    },
    {
      name: 'env/boolean 1',
      env: { HERALD_GATEWAY_IGNORE_UPSTREAM_TLS_ERRORS: '1' },
      read: (c) => c.gateway.ignoreUpstreamTlsErrors,
      want: true,
    },
    {
      name: 'env/list comma-separated',
      env: { HERALD_GATEWAY_KERBEROS_KDCS: 'dc1, dc2,,' },
      read: (c) => c.gateway.kerberos.kdcs,
      want: ['dc1', 'dc2'],
    },
    {
      name: 'env/list as JSON',
      env: { HERALD_GATEWAY_CRL_URLS: '["http://crl.example/a.crl","http://crl.example/b,c.crl"]' },
      read: (c) => c.gateway.crl.urls,
      want: ['http://crl.example/a.crl', 'http://crl.example/b,c.crl'],
    },
    {
      name: 'env/empty list',
      env: { HERALD_GATEWAY_KERBEROS_KDCS: '' },
      read: (c) => c.gateway.kerberos.kdcs,
      want: [],
    },
    {
      name: 'env/list of paths is resolved',
      env: { HERALD_TRUST_CA_FILES: 'a.pem,/b.pem' },
      read: (c) => c.trust.caFiles,
      want: ['/cwd/a.pem', '/b.pem'],
    },
    {
      name: 'env/graph endpoints for the simulator, trailing slash dropped',
      env: {
        HERALD_GRAPH_AUTHORITY_HOST: 'http://127.0.0.1:8090/',
        HERALD_GRAPH_GRAPH_URL: 'http://127.0.0.1:8090/v1.0',
        HERALD_GRAPH_RENEWAL_CONCURRENCY: '2',
      },
      read: (c) => [
        c.graph.authorityHost,
        c.graph.graphUrl,
        c.graph.renewal.concurrency,
        c.graph.renewal.batchSize,
      ],
      want: ['http://127.0.0.1:8090', 'http://127.0.0.1:8090/v1.0', 2, 200],
    },
    {
      name: 'env/optional object created from its keys',
      env: { HERALD_TLS_CERT_FILE: 'c.pem', HERALD_TLS_KEY_FILE: 'c.key' },
      read: (c) => [c.tls, c.publicUrl],
      want: [{ certFile: '/cwd/c.pem', keyFile: '/cwd/c.key' }, 'https://127.0.0.1:8080'],
    },
    {
      name: 'env/HERALD_CONFIG and HERALD_TEST_* are not keys',
      env: { HERALD_TEST_SLOW: '1' },
      read: (c) => c.listen.port,
      want: 8080,
    },
    {
      name: 'env/unrelated variables are ignored',
      env: { PORT: '1', herald_listen_port: '2' },
      read: (c) => c.listen.port,
      want: 8080,
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(c.read(loadConfig({ env: c.env, cwd: '/cwd' })), c.want));
  }

  test('env/overrides the file, keeping the file’s other keys', () => {
    const file = tmp.write(
      'herald.yaml',
      'listen: { host: 10.0.0.1, port: 8000 }\nexchange: { timeoutSeconds: 5 }\n',
    );
    const config = loadConfig({ file, env: { HERALD_LISTEN_PORT: '9000' } });
    assert.deepEqual(config.listen, { host: '10.0.0.1', port: 9000 });
    assert.equal(config.exchange.timeoutSeconds, 5);
  });

  test('env/values are literal: no ${VAR} expansion', () => {
    const config = loadConfig({ env: { HERALD_GATEWAY_KERBEROS_REALM: '${X}', X: 'no' }, cwd: '/cwd' });
    assert.equal(config.gateway.kerberos.realm, '${X}');
  });
});

describe('override errors', () => {
  const cases: { name: string; env: NodeJS.ProcessEnv; path: string; message: RegExp; source?: string }[] = [
    {
      name: 'error/unknown HERALD_ variable names it',
      env: { HERALD_LISTN_PORT: '1' },
      path: '',
      message: /^unknown environment variable HERALD_LISTN_PORT; did you mean HERALD_LISTEN_PORT\?$/,
    },
    {
      name: 'error/unknown HERALD_ variable without a close match',
      env: { HERALD_FROBNICATE: '1' },
      path: '',
      message: /^unknown environment variable HERALD_FROBNICATE$/,
    },
    {
      name: 'error/tenants cannot be set from the environment',
      env: { HERALD_TENANTS: '[]' },
      path: 'tenants',
      message: /^HERALD_TENANTS: tenants is a list of objects; set it in the config file$/,
    },
    {
      name: 'error/not a number',
      env: { HERALD_LISTEN_PORT: '80abc' },
      path: 'listen.port',
      message: /"80abc" is not a number/,
      source: 'env HERALD_LISTEN_PORT',
    },
    {
      name: 'error/empty number',
      env: { HERALD_LISTEN_PORT: '' },
      path: 'listen.port',
      message: /not a number/,
    },
    {
      name: 'error/hex is not a number',
      env: { HERALD_LISTEN_PORT: '0x50' },
      path: 'listen.port',
      message: /not a number/,
    },
    {
      name: 'error/not a boolean',
      env: { HERALD_GATEWAY_KERBEROS_ENABLED: 'yes' },
      path: 'gateway.kerberos.enabled',
      message: /true, false, 1 or 0/,
    },
    {
      name: 'error/not an enum value',
      env: { HERALD_LOG_LEVEL: 'loud' },
      path: 'log.level',
      message: /not one of fatal, error, warn, info/,
    },
    {
      name: 'error/JSON list of numbers',
      env: { HERALD_GATEWAY_KERBEROS_KDCS: '[1]' },
      path: 'gateway.kerberos.kdcs',
      message: /JSON array of strings/,
    },
    {
      name: 'error/broken JSON list',
      env: { HERALD_GATEWAY_KERBEROS_KDCS: '[' },
      path: 'gateway.kerberos.kdcs',
      message: /not a valid JSON array/,
    },
    {
      name: 'error/schema error on an overridden value names the variable',
      env: { HERALD_EXCHANGE_STATUS_FREQUENCY_MINUTES: '2000' },
      path: 'exchange.statusFrequencyMinutes',
      message: /1440/,
      source: 'env HERALD_EXCHANGE_STATUS_FREQUENCY_MINUTES',
    },
    {
      name: 'error/half a tls section',
      env: { HERALD_TLS_CERT_FILE: 'c.pem' },
      path: 'tls.keyFile',
      message: /required/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const error = configErrorOf(() => loadConfig({ env: c.env, cwd: '/cwd' }));
      const issue = error.issues.find((i) => i.path === c.path);
      assert.ok(issue, JSON.stringify(error.issues));
      assert.match(issue.message, c.message);
      if (c.source) assert.equal(issue.source, c.source);
    });
  }

  test('error/a file value that is not a mapping blocks an override below it', () => {
    const file = tmp.write('scalar.yaml', 'listen: 8080\n');
    const error = configErrorOf(() => loadConfig({ file, env: { HERALD_LISTEN_PORT: '1' } }));
    assert.ok(
      error.issues.some((i) => i.path === 'listen' && /mapping to apply HERALD_LISTEN_PORT/.test(i.message)),
    );
  });
});
