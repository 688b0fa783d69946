import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { configSchema, loadConfig } from './index.ts';
import { configErrorOf, tempDir, validTenantYaml } from './testing.ts';

const tmp = tempDir();
after(() => tmp.remove());

/** Loads `yaml` as a config file with an empty environment. */
function load(yaml: string) {
  return loadConfig({ file: tmp.write('herald.yaml', yaml), env: {} });
}

describe('defaults', () => {
  test('defaults/an empty object is a complete config', () => {
    const config = configSchema.parse({});
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(config.publicUrl, 'http://127.0.0.1:8080');
    assert.equal(config.database, 'sqlite:./var/herald.db');
    assert.equal(config.dataDir, './var');
    assert.equal(config.masterKeyFile, './var/master.key');
    assert.deepEqual(config.tenants, []);
    assert.deepEqual(config.exchange, {
      statusFrequencyMinutes: 15,
      requestServerVersion: 'Exchange2013',
      timeoutSeconds: 30,
      autodiscover: { enabled: true, endpoints: ['https://autodiscover.{domain}'], timeoutSeconds: 10 },
    });
    assert.equal(config.tls, undefined);
    assert.equal(config.proxy, undefined);
    assert.deepEqual(config.trust, { caFiles: [] });
    assert.deepEqual(config.log, { level: 'info' });
    assert.deepEqual(config.limits, {
      bodyBytes: 1_048_576,
      notificationBytes: 1_048_576,
      tenantRequestsPerMinute: 1200,
      ipRequestsPerMinute: 600,
    });
    assert.deepEqual(config.watchdog, {
      intervalSeconds: 30,
      silentAfterPeriods: 2,
      checkinRepeatMinutes: 60,
      deadAfterHours: 72,
      batchSize: 500,
    });
    assert.equal(config.push.leaseSeconds, 120);
    assert.deepEqual(config.shutdown, { graceSeconds: 10 });
    assert.deepEqual(config.admin, {});
  });

  test('defaults/gateway section', () => {
    assert.deepEqual(configSchema.parse({}).gateway, {
      listen: { host: '0.0.0.0', port: 8443 },
      adminListen: { host: '127.0.0.1', port: 8444 },
      idleTimeoutSeconds: 3660,
      clientCertificates: 'required',
      trustedCaFiles: [],
      crl: { refreshSeconds: 300, onUnavailable: 'fail-closed', urls: [] },
      upstreams: {},
      upstreamCaFiles: [],
      ignoreUpstreamTlsErrors: false,
      removeUnsupportedAuthForEws: true,
      policy: { default: 'allow', reloadSeconds: 5 },
      kerberos: {
        enabled: false,
        kdcs: [],
        realmMap: {},
        routes: ['activesync', 'ews'],
        cacheSeconds: 36_000,
        cacheUsers: 10_000,
        kdcTimeoutSeconds: 5,
      },
    });
  });

  test('defaults/pki section', () => {
    assert.deepEqual(configSchema.parse({}).pki, {
      enabled: true,
      rootKeyBits: 4096,
      issuingKeyBits: 3072,
      crl: { fullHours: 168, deltaHours: 24 },
      challengeMinutes: 60,
      schedulerIntervalMinutes: 15,
    });
  });

  test('error/pki key sizes outside the allowed ones and a delta CRL outliving its base', () => {
    const paths = (input: unknown) =>
      configSchema.safeParse(input).error?.issues.map((i) => i.path.join('.'));
    assert.deepEqual(paths({ pki: { rootKeyBits: 2048 } }), ['pki.rootKeyBits']);
    assert.deepEqual(paths({ pki: { issuingKeyBits: 1024 } }), ['pki.issuingKeyBits']);
    assert.deepEqual(paths({ pki: { crl: { fullHours: 12, deltaHours: 24 } } }), ['pki.crl.deltaHours']);
    assert.equal(
      configSchema.parse({ pki: { rootKeyBits: 3072, issuingKeyBits: 2048 } }).pki.rootKeyBits,
      3072,
    );
  });

  test('defaults/an empty YAML file and a file of comments are valid', () => {
    assert.equal(load('').listen.port, 8080);
    assert.equal(load('# nothing yet\n').listen.port, 8080);
  });

  test('defaults/an empty value means "not set"', () => {
    const config = load('listen:\n  port:\ntenants:\n');
    assert.equal(config.listen.port, 8080);
    assert.deepEqual(config.tenants, []);
  });

  test('defaults/tenant notification content is full', () => {
    assert.equal(load(`tenants:${validTenantYaml}`).tenants[0]!.notification.content, 'full');
  });
});

describe('derived defaults', () => {
  const cases: {
    name: string;
    input: unknown;
    key: 'publicUrl' | 'database' | 'masterKeyFile';
    want: string;
  }[] = [
    {
      name: 'publicUrl follows listen',
      input: { listen: { port: 9000 } },
      key: 'publicUrl',
      want: 'http://127.0.0.1:9000',
    },
    {
      name: 'publicUrl is https with tls',
      input: { listen: { host: 'ens.local', port: 8088 }, tls: { certFile: 'a.pem', keyFile: 'a.key' } },
      key: 'publicUrl',
      want: 'https://ens.local:8088',
    },
    {
      name: 'publicUrl brackets IPv6',
      input: { listen: { host: '::1' } },
      key: 'publicUrl',
      want: 'http://[::1]:8080',
    },
    {
      name: 'publicUrl drops trailing slashes',
      input: { publicUrl: 'https://ens.example.com/herald/' },
      key: 'publicUrl',
      want: 'https://ens.example.com/herald',
    },
    {
      name: 'database follows dataDir',
      input: { dataDir: '/srv/herald/' },
      key: 'database',
      want: 'sqlite:/srv/herald/herald.db',
    },
    {
      name: 'masterKeyFile follows dataDir',
      input: { dataDir: '/srv/h' },
      key: 'masterKeyFile',
      want: '/srv/h/master.key',
    },
    {
      name: 'explicit masterKeyFile wins',
      input: { masterKeyFile: '/k/m.key' },
      key: 'masterKeyFile',
      want: '/k/m.key',
    },
  ];
  for (const c of cases) {
    test(`derived/${c.name}`, () => assert.equal(configSchema.parse(c.input)[c.key], c.want));
  }

  test('derived/gateway ews upstream defaults to the activesync one', () => {
    const config = configSchema.parse({
      gateway: { upstreams: { activesync: 'https://mail.corp.example/' } },
    });
    assert.deepEqual(config.gateway.upstreams, {
      activesync: 'https://mail.corp.example',
      ews: 'https://mail.corp.example',
    });
  });
});

describe('valid configurations', () => {
  test('valid/full tenant with apns token, certificate and fcm apps', () => {
    const config = load(`
tenants:
  - id: contoso-2
    apiToken: 0123456789abcdef
    notification: { content: badge }
    apps:
      - appId: com.example.mail
        apns:
          token: { keyFile: AuthKey.p8, keyId: ABC123DEFG, teamId: TEAM123456 }
          endpoint: http://127.0.0.1:9443
        fcm: { serviceAccountFile: sa.json }
      - appId: com.example.other
        apns:
          certificate: { p12File: push.p12, passphrase: pw }
`);
    const [tenant] = config.tenants;
    assert.equal(tenant!.notification.content, 'badge');
    assert.equal(tenant!.apps[0]!.apns!.endpoint, 'http://127.0.0.1:9443');
    assert.equal(tenant!.apps[0]!.apns!.sandboxEndpoint, 'https://api.sandbox.push.apple.com');
    assert.equal(tenant!.apps[0]!.fcm!.endpoint, 'https://fcm.googleapis.com');
    assert.equal(tenant!.apps[1]!.apns!.certificate!.passphrase, 'pw');
  });

  test('valid/gateway section from operator.md', () => {
    const config = load(`
gateway:
  listen: { host: 0.0.0.0, port: 8443 }
  tls: { certFile: gateway.pem, keyFile: gateway.key, minVersion: TLSv1.3, ciphers: "ECDHE-RSA-AES128-GCM-SHA256" }
  clientCertificates: optional
  trustedCaFiles: [device-ca.pem]
  crl: { refreshSeconds: 60, onUnavailable: fail-open, urls: [http://ca.corp.example/ca.crl] }
  upstreams:
    activesync: https://exchange.corp.example
    ews: https://ews.corp.example
  upstreamCaFiles: [corp-ca.pem]
  ignoreUpstreamTlsErrors: true
  removeUnsupportedAuthForEws: false
  policy: { default: block }
  kerberos:
    enabled: true
    servicePrincipal: svc_seg@CORP.EXAMPLE
    keytabFile: svc_seg.keytab
    targetSpn: HTTP/exchange.corp.example
    realm: CORP.EXAMPLE
    kdcs: [dc1.corp.example]
`);
    const { gateway } = config;
    assert.equal(gateway.tls!.minVersion, 'TLSv1.3');
    assert.equal(gateway.clientCertificates, 'optional');
    assert.equal(gateway.crl.onUnavailable, 'fail-open');
    assert.equal(gateway.upstreams.ews, 'https://ews.corp.example');
    assert.equal(gateway.policy.default, 'block');
    assert.equal(gateway.kerberos.realm, 'CORP.EXAMPLE');
    assert.deepEqual(gateway.kerberos.kdcs, ['dc1.corp.example']);
  });

  test('valid/postgres and sqlite database URLs', () => {
    for (const database of ['postgres://herald@db:5432/herald', 'postgresql://u:p@db/h', 'sqlite::memory:']) {
      assert.equal(configSchema.parse({ database }).database, database);
    }
  });
});

describe('errors', () => {
  const cases: { name: string; yaml: string; path: string; message: RegExp }[] = [
    {
      name: 'error/unknown top-level key',
      yaml: 'listn: { port: 1 }',
      path: 'listn',
      message: /^unknown key "listn"; did you mean "listen"\?$/,
    },
    {
      name: 'error/unknown nested key names the path',
      yaml: `tenants:
  - id: contoso
    apiToken: contoso-token-0123456789
    apps:
      - appId: com.example.mail
        apns:
          tokn: { keyFile: k.p8, keyId: ABC123DEFG, teamId: TEAM123456 }`,
      path: 'tenants[0].apps[0].apns.tokn',
      message: /^unknown key "tenants\[0\]\.apps\[0\]\.apns\.tokn"; did you mean "token"\?$/,
    },
    {
      name: 'error/unknown key without a close match lists the known keys',
      yaml: 'log: { colour: true }',
      path: 'log.colour',
      message: /^unknown key "log\.colour" \(known keys here: level\)$/,
    },
    {
      name: 'error/unknown key in the gateway section',
      yaml: 'gateway: { crl: { refreshSecs: 5 } }',
      path: 'gateway.crl.refreshSecs',
      message: /did you mean "refreshSeconds"/,
    },
    {
      name: 'error/port out of range',
      yaml: 'listen: { port: 70000 }',
      path: 'listen.port',
      message: /65535/,
    },
    {
      name: 'error/port as text',
      yaml: 'listen: { port: "80" }',
      path: 'listen.port',
      message: /expected number/,
    },
    {
      name: 'error/publicUrl must be http(s)',
      yaml: 'publicUrl: ftp://ens.example.com',
      path: 'publicUrl',
      message: /http:\/\/ or https:\/\//,
    },
    {
      name: 'error/publicUrl without query',
      yaml: 'publicUrl: https://a.example/?x=1',
      path: 'publicUrl',
      message: /query/,
    },
    { name: 'error/database scheme', yaml: 'database: mysql://db/h', path: 'database', message: /sqlite:/ },
    { name: 'error/empty sqlite path', yaml: 'database: "sqlite:"', path: 'database', message: /sqlite:/ },
    {
      name: 'error/status frequency above 1440',
      yaml: 'exchange: { statusFrequencyMinutes: 1441 }',
      path: 'exchange.statusFrequencyMinutes',
      message: /1440/,
    },
    { name: 'error/log level enum', yaml: 'log: { level: verbose }', path: 'log.level', message: /info/ },
    {
      name: 'error/tls needs both files',
      yaml: 'tls: { certFile: a.pem }',
      path: 'tls.keyFile',
      message: /^required$/,
    },
    {
      name: 'error/tenant id must be lowercase',
      yaml: 'tenants: [{ id: Contoso, apiToken: 0123456789abcdef }]',
      path: 'tenants[0].id',
      message: /lowercase/,
    },
    {
      name: 'error/short api token',
      yaml: 'tenants: [{ id: contoso, apiToken: short }]',
      path: 'tenants[0].apiToken',
      message: /16 characters/,
    },
    {
      name: 'error/duplicate tenant id',
      yaml: 'tenants: [{ id: a, apiToken: 0123456789abcdef }, { id: a, apiToken: 0123456789abcdef }]',
      path: 'tenants[1].id',
      message: /duplicate tenant id "a"/,
    },
    {
      name: 'error/apns with both token and certificate',
      yaml: `tenants:
  - id: a
    apiToken: 0123456789abcdef
    apps:
      - appId: x
        apns:
          token: { keyFile: k.p8, keyId: ABC123DEFG, teamId: TEAM123456 }
          certificate: { p12File: p.p12 }`,
      path: 'tenants[0].apps[0].apns',
      message: /exactly one of apns\.token and apns\.certificate/,
    },
    {
      name: 'error/apns with neither token nor certificate',
      yaml: 'tenants: [{ id: a, apiToken: 0123456789abcdef, apps: [{ appId: x, apns: {} }] }]',
      path: 'tenants[0].apps[0].apns',
      message: /exactly one/,
    },
    {
      name: 'error/app without push credentials',
      yaml: 'tenants: [{ id: a, apiToken: 0123456789abcdef, apps: [{ appId: x }] }]',
      path: 'tenants[0].apps[0]',
      message: /push credentials/,
    },
    {
      name: 'error/apns key id length',
      yaml: `tenants: [{ id: a, apiToken: 0123456789abcdef, apps: [{ appId: x, apns: { token: { keyFile: k, keyId: ABC, teamId: TEAM123456 } } }] }]`,
      path: 'tenants[0].apps[0].apns.token.keyId',
      message: /10-character key ID/,
    },
    {
      name: 'error/gateway enum',
      yaml: 'gateway: { clientCertificates: sometimes }',
      path: 'gateway.clientCertificates',
      message: /required/,
    },
    {
      name: 'error/gateway upstream must be a URL',
      yaml: 'gateway: { upstreams: { activesync: exchange.corp.example } }',
      path: 'gateway.upstreams.activesync',
      message: /http/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const error = configErrorOf(() => load(c.yaml));
      const issue = error.issues.find((i) => i.path === c.path);
      assert.ok(issue, `no issue at ${c.path}; got ${JSON.stringify(error.issues)}`);
      assert.match(issue.message, c.message);
    });
  }

  test('error/every problem is reported, not just the first', () => {
    const error = configErrorOf(() =>
      load('listen: { port: -1, hots: x }\nlog: { level: loud }\nextra: 1\n'),
    );
    assert.deepEqual(error.issues.map((i) => i.path).sort(), [
      'extra',
      'listen.hots',
      'listen.port',
      'log.level',
    ]);
    const text = error.toString();
    for (const path of ['extra', 'listen.hots', 'listen.port', 'log.level'])
      assert.ok(text.includes(`${path}:`), text);
  });

  test('error/issues point at the line in the file', () => {
    const error = configErrorOf(() => load('listen:\n  host: 0.0.0.0\n  port: 99999\n'));
    assert.match(error.issues[0]!.source!, /herald\.yaml:3:3$/);
  });

  test('error/a __proto__ key is an unknown key, not a prototype', () => {
    const error = configErrorOf(() => load('listen:\n  __proto__: { port: 1 }\n'));
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['listen.__proto__'],
    );
  });
});

describe('microsoft graph', () => {
  const GUID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
  const APP = 'b0a4c1d2-0000-4000-8000-000000000001';
  const tenant = (graph: unknown) => ({
    tenants: [{ id: 'contoso', apiToken: 'contoso-token-0123456789', graph }],
  });
  const issues = (input: unknown) =>
    configSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

  test('defaults/graph section: Microsoft endpoints and the documented lifetimes', () => {
    assert.deepEqual(configSchema.parse({}).graph, {
      authorityHost: 'https://login.microsoftonline.com',
      graphUrl: 'https://graph.microsoft.com/v1.0',
      jwksUrl: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
      timeoutSeconds: 30,
      subscriptionMinutes: 10_080,
      subscriptionMinutesWithResourceData: 1_440,
      renewal: { intervalSeconds: 60, batchSize: 200, concurrency: 8 },
      encryptionCertificateDays: 365,
      exchangeOnlineHosts: ['outlook.office365.com', 'outlook.office.com'],
    });
  });

  test('error/autodiscover endpoints are origins; Exchange Online hosts are host names', () => {
    const issues = (input: unknown) =>
      configSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.deepEqual(
      issues({ exchange: { autodiscover: { endpoints: ['https://outlook.office365.com'] } } }),
      [],
    );
    assert.deepEqual(
      issues({ exchange: { autodiscover: { endpoints: ['https://x.example/autodiscover'] } } }),
      [
        'exchange.autodiscover.endpoints.0: must be an origin only (scheme, host, port), e.g. https://autodiscover.{domain}',
      ],
    );
    assert.deepEqual(issues({ exchange: { autodiscover: { endpoints: [] } } }).length, 1);
    assert.deepEqual(issues({ graph: { exchangeOnlineHosts: ['https://outlook.office365.us'] } }), [
      'graph.exchangeOnlineHosts.0: a host name, e.g. outlook.office365.com',
    ]);
    assert.deepEqual(
      configSchema.parse({ graph: { exchangeOnlineHosts: ['Outlook.Office365.US'] } }).graph
        .exchangeOnlineHosts,
      ['outlook.office365.us'],
    );
  });

  test('a tenant graph: delegated without app, app-only with a secret or a certificate (PS256 by default)', () => {
    const delegated = configSchema.parse(tenant({ tenantId: GUID, domains: ['contoso.com'] }));
    assert.deepEqual(delegated.tenants[0]!.graph, { tenantId: GUID, domains: ['contoso.com'] });
    const cert = configSchema.parse(
      tenant({
        tenantId: GUID,
        app: { clientId: APP, certificate: { certFile: 'a.pem', keyFile: 'a.key' } },
      }),
    );
    assert.equal(cert.tenants[0]!.graph?.app?.certificate?.algorithm, 'PS256');
  });

  test('error/graph app needs exactly one credential; ids must be GUIDs; domains must be domains', () => {
    assert.deepEqual(issues(tenant({ tenantId: GUID, app: { clientId: APP } })), [
      'tenants.0.graph.app: set exactly one of clientSecret and certificate',
    ]);
    assert.deepEqual(
      issues(
        tenant({
          tenantId: GUID,
          app: { clientId: APP, clientSecret: 's', certificate: { certFile: 'a.pem', keyFile: 'a.key' } },
        }),
      ),
      ['tenants.0.graph.app: set exactly one of clientSecret and certificate'],
    );
    assert.deepEqual(
      issues(tenant({ tenantId: 'contoso.onmicrosoft.com', app: { clientId: 'x', clientSecret: 's' } })),
      [
        'tenants.0.graph.tenantId: must be the Entra tenant (directory) id, a GUID',
        'tenants.0.graph.app.clientId: must be the application (client) id, a GUID',
      ],
    );
    assert.deepEqual(issues(tenant({ tenantId: GUID, domains: ['not a domain'] })), [
      'tenants.0.graph.domains.0: must be a mail domain',
    ]);
  });

  test('the app certificate files are resolved against the config file directory', () => {
    const config = load(`tenants:
  - id: contoso
    apiToken: contoso-token-0123456789
    graph:
      tenantId: ${GUID}
      app: { clientId: ${APP}, certificate: { certFile: graph.pem, keyFile: keys/graph.key } }
`);
    const certificate = config.tenants[0]!.graph!.app!.certificate!;
    assert.equal(certificate.certFile, `${tmp.dir}/graph.pem`);
    assert.equal(certificate.keyFile, `${tmp.dir}/keys/graph.key`);
  });
});
