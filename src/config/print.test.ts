import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { formatConfig, loadConfig, printableConfig } from './index.ts';
import { tempDir } from './testing.ts';

const tmp = tempDir();
after(() => tmp.remove());

// Distinctive values, so a leak anywhere in the output (even percent-encoded) is found.
const secrets = {
  API_TOKEN: 'tenant-api-token-SECRET-1111',
  P12_PASS: 'p12-passphrase-SECRET-2222',
  PROXY_USER: 'proxyuser-SECRET-3333',
  PROXY_PASS: 'proxypass-SECRET-4444',
  DB_PASS: 'dbpass-SECRET-5555',
  GRAPH_SECRET: 'graph-client-secret-SECRET-6666',
};

function loadWithSecrets() {
  const file = tmp.write(
    'herald.yaml',
    `database: postgres://herald:\${DB_PASS}@db.internal:5432/herald?sslmode=require
proxy:
  url: http://\${PROXY_USER}:\${PROXY_PASS}@proxy.corp:3128
  noProxy: [localhost]
tenants:
  - id: contoso
    apiToken: \${API_TOKEN}
    apps:
      - appId: com.example.mail
        apns:
          certificate: { p12File: push.p12, passphrase: "\${P12_PASS}" }
    graph:
      tenantId: 3f2504e0-4f89-41d3-9a0c-0305e82c3301
      app: { clientId: b0a4c1d2-0000-4000-8000-000000000001, clientSecret: "\${GRAPH_SECRET}" }
`,
  );
  return loadConfig({ file, env: secrets });
}

function assertNoSecret(text: string) {
  for (const [name, value] of Object.entries(secrets)) {
    assert.ok(!text.includes(value), `${name} leaked:\n${text}`);
    assert.ok(!text.includes(encodeURIComponent(value)), `${name} leaked encoded:\n${text}`);
    // Even a fragment of a secret is a leak: check the part that makes each one unique.
    assert.ok(!text.includes(value.slice(-4)), `${name} partly leaked:\n${text}`);
  }
}

describe('print', () => {
  test('print/secrets are hidden', () => {
    const printable = printableConfig(loadWithSecrets()) as {
      database: string;
      proxy: { url: string; noProxy: string[] };
      tenants: {
        apiToken: string;
        apps: { apns: { certificate: { passphrase: string; p12File: string } } }[];
        graph: { tenantId: string; app: { clientId: string; clientSecret: string } };
      }[];
    };
    assert.equal(printable.tenants[0]!.apiToken, '<hidden>');
    assert.equal(printable.tenants[0]!.apps[0]!.apns.certificate.passphrase, '<hidden>');
    assert.equal(printable.tenants[0]!.graph.app.clientSecret, '<hidden>');
    assert.equal(printable.proxy.url, 'http://<hidden>@proxy.corp:3128/');
    assert.equal(printable.database, 'postgres://herald:<hidden>@db.internal:5432/herald?sslmode=require');
    // Non-secrets stay readable: that is the point of printing.
    assert.deepEqual(printable.proxy.noProxy, ['localhost']);
    assert.match(printable.tenants[0]!.apps[0]!.apns.certificate.p12File, /push\.p12$/);
    assert.equal(printable.tenants[0]!.graph.tenantId, '3f2504e0-4f89-41d3-9a0c-0305e82c3301');
    assert.equal(printable.tenants[0]!.graph.app.clientId, 'b0a4c1d2-0000-4000-8000-000000000001');
  });

  for (const format of ['yaml', 'json'] as const) {
    test(`print/no secret value anywhere in ${format} output`, () => {
      const text = formatConfig(loadWithSecrets(), format);
      assertNoSecret(text);
      assert.ok(text.includes('<hidden>'));
      const reparsed = (format === 'json' ? JSON.parse(text) : parse(text)) as { listen: { port: number } };
      assert.equal(reparsed.listen.port, 8080);
    });
  }

  const urls: { name: string; database?: string; proxy?: string; want: string }[] = [
    {
      name: 'print/database password with URL syntax',
      database: 'postgres://u:p%40ss%3Aw0rd@db/h',
      want: 'postgres://u:<hidden>@db/h',
    },
    {
      name: 'print/database password as a query parameter',
      database: 'postgresql://db/h?user=u&password=pw123',
      want: 'postgresql://db/h?user=u&password=<hidden>',
    },
    {
      name: 'print/database without password unchanged',
      database: 'postgres://u@db:5432/h',
      want: 'postgres://u@db:5432/h',
    },
    { name: 'print/sqlite unchanged', database: 'sqlite::memory:', want: 'sqlite::memory:' },
    {
      name: 'print/proxy without credentials unchanged',
      proxy: 'http://proxy:3128',
      want: 'http://proxy:3128',
    },
    {
      name: 'print/proxy user only is hidden too',
      proxy: 'https://someone@proxy:3128',
      want: 'https://<hidden>@proxy:3128/',
    },
  ];
  for (const c of urls) {
    test(c.name, () => {
      const env: NodeJS.ProcessEnv = {};
      if (c.database) env.HERALD_DATABASE = c.database;
      if (c.proxy) env.HERALD_PROXY_URL = c.proxy;
      const printable = printableConfig(loadConfig({ env, cwd: '/x' })) as {
        database: string;
        proxy?: { url: string };
      };
      const got = c.database ? printable.database : printable.proxy!.url;
      assert.equal(got, c.want);
    });
  }

  test('print/the config itself is not changed', () => {
    const config = loadWithSecrets();
    printableConfig(config);
    assert.equal(config.tenants[0]!.apiToken, secrets.API_TOKEN);
  });
});
