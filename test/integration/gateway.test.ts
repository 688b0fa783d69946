/**
 * The secure email gateway end to end, with real TLS on both sides: device certificates with UPN
 * and email SANs made at test time, node's HTTPS client as the device, a CRL distribution point,
 * and a recording upstream where Exchange stands. Compliance rules come from a real store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { Store } from '../../src/store/index.ts';
import { databases, forEachDatabase } from '../../src/store/testing.ts';
import { adminGet, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { createCrl, createTestCa, type IssuedCertificate, issueClientCertificate } from '../support/pki.ts';

/** MS-ASHTTP 2.2.1.1.1.1: version, command code, locale, device id, policy key, device type. */
function base64Query(command: number, deviceId: string, deviceType: string): string {
  const id = Buffer.from(deviceId, 'ascii');
  const type = Buffer.from(deviceType, 'ascii');
  const bytes = Buffer.concat([
    Buffer.from([141, command, 0x09, 0x04, id.length]),
    id,
    Buffer.from([0]),
    Buffer.from([type.length]),
    type,
  ]);
  return bytes.toString('base64');
}

const PING = 18;

describe('gateway', () => {
  let store: Store;
  let gw: TestGateway;
  let alice: IssuedCertificate;
  const crlPath = '/device-ca.crl';

  before(async () => {
    store = await databases()[0]!.open();
    gw = await startTestGateway({ store, gateway: { crl: { refreshSeconds: 3600 } } });
    await gw.crl.set(crlPath, await createCrl(gw.ca, { revoked: [], crlNumber: 1 }));
    alice = await issueClientCertificate(gw.ca, {
      cn: 'alice-iphone',
      upn: 'alice@corp.example',
      email: 'alice@example.com',
      crlUrl: gw.crl.url(crlPath),
    });
  });
  after(async () => {
    await gw?.close();
    await store?.close();
  });

  test('a device with a valid certificate reaches Exchange; headers are forwarded as a proxy must', async () => {
    const response = await gw.request({
      method: 'POST',
      path: '/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ApplF17X&DeviceType=iPhone',
      cert: alice,
      headers: {
        authorization: 'Basic YWxpY2VAY29ycC5leGFtcGxlOnNlY3JldA==',
        connection: 'keep-alive, x-hop',
        'x-hop': 'must not pass',
        'keep-alive': 'timeout=5',
        'x-forwarded-for': '10.1.2.3',
        'ms-asprotocolversion': '14.1',
        'content-type': 'application/vnd.ms-sync.wbxml',
      },
      body: Buffer.from([0x03, 0x01, 0x6a, 0x00]),
    });
    assert.equal(response.status, 200);
    const seen = gw.upstream.requests.at(-1)!;
    assert.equal(
      seen.url,
      '/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ApplF17X&DeviceType=iPhone',
    );
    assert.equal(seen.method, 'POST');
    assert.equal(seen.bytes, 4);
    assert.equal(seen.headers.authorization, 'Basic YWxpY2VAY29ycC5leGFtcGxlOnNlY3JldA==');
    assert.equal(seen.headers['ms-asprotocolversion'], '14.1');
    assert.equal(seen.headers['x-hop'], undefined);
    assert.equal(seen.headers['keep-alive'], undefined);
    assert.equal(seen.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.match(String(seen.headers['x-request-id']), /^[\w.:-]+$/);
    assert.notEqual(seen.headers.host, gw.url.replace('https://', ''));
  });

  test('refusals: no certificate, wrong CA, no clientAuth EKU, expired, revoked; each with its own logged reason', async () => {
    const stranger = await createTestCa('CN=Somebody Else CA');
    const cases: {
      name: string;
      cert: Pick<IssuedCertificate, 'certPem' | 'keyPem'> | undefined;
      reason: string;
    }[] = [
      { name: 'no certificate', cert: undefined, reason: 'no_certificate' },
      {
        name: 'wrong CA',
        cert: await issueClientCertificate(stranger, { cn: 'x', upn: 'alice@corp.example' }),
        reason: 'untrusted_issuer',
      },
      {
        name: 'no clientAuth EKU',
        cert: await issueClientCertificate(gw.ca, {
          cn: 'x',
          upn: 'alice@corp.example',
          eku: ['1.3.6.1.5.5.7.3.1'],
          crlUrl: gw.crl.url(crlPath),
        }),
        reason: 'no_client_auth_eku',
      },
      {
        name: 'expired',
        cert: await issueClientCertificate(gw.ca, {
          cn: 'x',
          upn: 'alice@corp.example',
          notBefore: new Date(Date.now() - 20 * 86_400_000),
          notAfter: new Date(Date.now() - 86_400_000),
          crlUrl: gw.crl.url(crlPath),
        }),
        reason: 'expired',
      },
    ];
    for (const c of cases) {
      const before = gw.upstream.requests.length;
      const response = await gw.request({ path: '/Microsoft-Server-ActiveSync?Cmd=Options', cert: c.cert });
      assert.equal(response.status, 403, c.name);
      const body = JSON.parse(response.body.toString()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'client_certificate_refused', c.name);
      assert.match(body.error.message, new RegExp(c.reason), c.name);
      assert.equal(response.headers['x-herald-gateway'], `certificate; reason=${c.reason}`);
      assert.equal(gw.upstream.requests.length, before, `${c.name}: nothing reached Exchange`);
    }

    // Revoked: fine until the CRL that lists it is fetched, refused after the refresh.
    const bob = await issueClientCertificate(gw.ca, {
      cn: 'bob',
      upn: 'bob@corp.example',
      crlUrl: gw.crl.url(crlPath),
    });
    assert.equal(
      (await gw.request({ path: '/Microsoft-Server-ActiveSync?Cmd=Options', cert: bob })).status,
      200,
    );
    gw.crl.set(crlPath, await createCrl(gw.ca, { revoked: [{ serial: bob.serialNumber }], crlNumber: 2 }));
    assert.equal(
      (await gw.request({ path: '/Microsoft-Server-ActiveSync?Cmd=Options', cert: bob })).status,
      200,
      'not before the refresh',
    );
    await gw.gateway.crls!.refreshAll();
    const revoked = await gw.request({ path: '/Microsoft-Server-ActiveSync?Cmd=Options', cert: bob });
    assert.equal(revoked.status, 403);
    assert.equal(revoked.headers['x-herald-gateway'], 'certificate; reason=revoked');
    // Alice, on the same CRL, is still fine.
    assert.equal(
      (await gw.request({ path: '/Microsoft-Server-ActiveSync?Cmd=Options', cert: alice })).status,
      200,
    );

    const logged = gw.logs.lines
      .map((line) => JSON.parse(line) as { msg: string; reason?: string })
      .filter((entry) => entry.msg === 'client certificate refused')
      .map((entry) => entry.reason);
    assert.deepEqual([...new Set(logged)].sort(), [
      'expired',
      'no_certificate',
      'no_client_auth_eku',
      'revoked',
      'untrusted_issuer',
    ]);
    const metrics = await adminGet(gw, '/metrics');
    for (const reason of ['expired', 'no_certificate', 'no_client_auth_eku', 'revoked', 'untrusted_issuer']) {
      assert.match(
        metrics.text,
        new RegExp(`herald_gateway_certificate_failures_total\\{reason="${reason}"\\} 1`),
      );
    }
  });

  test('a base64-encoded ActiveSync query is decoded and a blocked DeviceId in it is refused', async () => {
    const rule = await store.gatewayRules.add({
      action: 'block',
      deviceId: 'LOSTPHONE42',
      reason: 'reported lost',
    });
    await gw.gateway.rules.reload();
    try {
      const before = gw.upstream.requests.length;
      const blocked = await gw.request({
        method: 'POST',
        path: `/Microsoft-Server-ActiveSync?${base64Query(PING, 'LOSTPHONE42', 'iPhone')}`,
        cert: alice,
      });
      assert.equal(blocked.status, 403);
      assert.equal(blocked.headers['x-herald-gateway'], 'blocked');
      assert.deepEqual(JSON.parse(blocked.body.toString()), {
        error: { code: 'device_blocked', message: 'reported lost' },
      });
      assert.equal(gw.upstream.requests.length, before);

      const other = await gw.request({
        method: 'POST',
        path: `/Microsoft-Server-ActiveSync?${base64Query(PING, 'OTHERPHONE1', 'iPhone')}`,
        cert: alice,
      });
      assert.equal(other.status, 200);
      const plainBlocked = await gw.request({
        path: '/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=lostphone42&DeviceType=iPhone',
        cert: alice,
      });
      assert.equal(plainBlocked.status, 403, 'the plain query form too (device ids ignore case)');
      const malformed = await gw.request({ path: '/Microsoft-Server-ActiveSync?jAAJBAp2MTQw', cert: alice });
      assert.equal(malformed.status, 400);
      assert.equal(JSON.parse(malformed.body.toString()).error.code, 'invalid_activesync_query');

      const metrics = await adminGet(gw, '/metrics');
      assert.match(metrics.text, /herald_gateway_blocked_total\{route="activesync",by="rule"\} 2/);
      assert.match(
        metrics.text,
        /herald_gateway_requests_total\{route="activesync",command="Ping",status="403"\} 2/,
      );
    } finally {
      await store.gatewayRules.remove(rule.id);
      await gw.gateway.rules.reload();
    }
  });

  test('EWS: the mailbox a request acts on is checked; NTLM (and Negotiate without a certificate) removed from WWW-Authenticate', async () => {
    const rule = await store.gatewayRules.add({
      action: 'block',
      user: 'carol@corp.example',
      reason: 'carol is blocked',
    });
    await gw.gateway.rules.reload();
    try {
      const soap = (mailbox: string) => `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2013"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>${mailbox}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
    <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body>
</soap:Envelope>`;
      const blocked = await gw.request({
        method: 'POST',
        path: '/EWS/Exchange.asmx',
        cert: alice,
        headers: { 'content-type': 'text/xml; charset=utf-8' },
        body: soap('Carol@corp.example'),
      });
      assert.equal(blocked.status, 403);
      assert.equal(blocked.headers['x-herald-gateway'], 'blocked');

      const allowed = await gw.request({
        method: 'POST',
        path: '/EWS/Exchange.asmx',
        cert: alice,
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          'x-test-status': '401',
          'x-test-header':
            'WWW-Authenticate: Negotiate, WWW-Authenticate: NTLM, WWW-Authenticate: Basic realm="ex"',
        },
        body: soap('dave@corp.example'),
      });
      assert.equal(allowed.status, 401);
      const seen = gw.upstream.requests.at(-1)!;
      assert.equal(seen.url, '/EWS/Exchange.asmx');
      assert.equal(
        seen.bytes,
        Buffer.byteLength(soap('dave@corp.example')),
        'the peeked body is forwarded whole',
      );
      assert.deepEqual(
        [allowed.headers['www-authenticate']].flat().join(', '),
        'Negotiate, Basic realm="ex"',
      );
      const metrics = await adminGet(gw, '/metrics');
      assert.match(
        metrics.text,
        /herald_gateway_requests_total\{route="ews",command="GetFolder",status="401"\} 1/,
      );
    } finally {
      await store.gatewayRules.remove(rule.id);
      await gw.gateway.rules.reload();
    }
  });

  test('451 X-MS-Location points back at the gateway; OPTIONS passes through', async () => {
    const redirected = await gw.request({
      method: 'POST',
      path: '/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=ApplF17X&DeviceType=iPhone',
      cert: alice,
      headers: {
        'x-test-status': '451',
        'x-test-header': 'X-MS-Location: https://mbx07.corp.internal/Microsoft-Server-ActiveSync',
      },
    });
    assert.equal(redirected.status, 451);
    const host = new URL(gw.url).host;
    assert.equal(redirected.headers['x-ms-location'], `https://${host}/Microsoft-Server-ActiveSync`);

    const options = await gw.request({
      method: 'OPTIONS',
      path: '/Microsoft-Server-ActiveSync',
      cert: alice,
      headers: { 'x-test-header': 'MS-ASProtocolVersions: 2.5,12.0,12.1,14.0,14.1,16.0,16.1' },
    });
    assert.equal(options.status, 200);
    assert.equal(options.headers['ms-asprotocolversions'], '2.5,12.0,12.1,14.0,14.1,16.0,16.1');
    assert.equal(gw.upstream.requests.at(-1)!.method, 'OPTIONS');
  });

  test('connections to Exchange are never shared between users', async () => {
    const bob = await issueClientCertificate(gw.ca, {
      cn: 'bob2',
      upn: 'bob2@corp.example',
      crlUrl: gw.crl.url(crlPath),
    });
    const path = '/Microsoft-Server-ActiveSync?Cmd=Ping&User=x&DeviceId=D1&DeviceType=iPhone';
    await gw.request({ path, cert: alice });
    const aliceFirst = gw.upstream.requests.at(-1)!.connection;
    await gw.request({ path, cert: bob });
    const bobFirst = gw.upstream.requests.at(-1)!.connection;
    await gw.request({ path, cert: alice });
    const aliceSecond = gw.upstream.requests.at(-1)!.connection;
    assert.notEqual(aliceFirst, bobFirst);
    assert.equal(aliceSecond, aliceFirst, "alice's connection is kept alive and reused for her");
  });

  test('unknown paths, unconfigured routes and an unreachable Exchange get clear JSON errors', async () => {
    const unknown = await gw.request({ path: '/owa/', cert: alice });
    assert.equal(unknown.status, 404);
    assert.equal(JSON.parse(unknown.body.toString()).error.code, 'not_found');
    const autodiscover = await gw.request({ path: '/autodiscover/autodiscover.xml', cert: alice });
    assert.equal(autodiscover.status, 404);
    assert.equal(JSON.parse(autodiscover.body.toString()).error.code, 'route_not_configured');
  });

  test('TLS: 1.3 and 1.2 with an ECDHE-CBC suite are accepted, a suite without forward secrecy is not', async () => {
    const { port } = new URL(gw.url);
    const handshake = (options: {
      minVersion?: 'TLSv1.2' | 'TLSv1.3';
      maxVersion?: 'TLSv1.2' | 'TLSv1.3';
      ciphers?: string;
    }) =>
      new Promise<{ protocol: string | null; cipher: string }>((resolve, reject) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: Number(port),
          ca: gw.ca.certPem,
          cert: alice.certPem,
          key: alice.keyPem,
          ...options,
        });
        socket.once('secureConnect', () => {
          resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().standardName });
          socket.end();
        });
        socket.once('error', reject);
      });
    assert.equal((await handshake({ minVersion: 'TLSv1.3' })).protocol, 'TLSv1.3');
    const cbc = await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' });
    assert.deepEqual(cbc, { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256' });
    await assert.rejects(handshake({ maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' }));
  });

  test('the admin listener needs the admin token; logs carry no credentials or user names', async () => {
    const anonymous = await fetch(`${gw.adminUrl}/metrics`);
    assert.equal(anonymous.status, 401);
    const health = await adminGet(gw, '/health');
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.text).status, 'ok');
    const text = gw.logs.text();
    for (const secret of [
      'YWxpY2VAY29ycC5leGFtcGxlOnNlY3JldA',
      'alice@corp.example',
      'alice@example.com',
      'carol@corp.example',
      'ApplF17X',
    ]) {
      assert.ok(!text.toLowerCase().includes(secret.toLowerCase()), `${secret} must not be logged`);
    }
  });
});

test("gateway/with credential delegation, a certificate user gets the delegate's Authorization; a 401 is tried once more with fresh credentials", async () => {
  const store = await databases()[0]!.open();
  const asked: string[] = [];
  const invalidated: string[] = [];
  const gw = await startTestGateway({
    store,
    gateway: { crl: { onUnavailable: 'fail-open' } },
    delegate: {
      async authorization(identity) {
        asked.push(identity.upn ?? '');
        if (identity.upn === 'nobody@corp.example') {
          throw Object.assign(new Error('KDC: principal unknown'), {
            status: 403,
            code: 'kerberos_principal_unknown',
            publicMessage: "Get Kerberos token failed: the certificate's user is not known to the directory.",
          });
        }
        return `Negotiate ZGVsZWdhdGVk${asked.length}`;
      },
      invalidate(identity) {
        invalidated.push(identity.upn ?? '');
      },
    },
  });
  try {
    const frank = await issueClientCertificate(gw.ca, { cn: 'frank', upn: 'frank@corp.example' });
    const ok = await gw.request({
      path: '/EWS/Exchange.asmx',
      cert: frank,
      headers: { authorization: 'Basic ZnJhbms6cHc=' },
    });
    assert.equal(ok.status, 200);
    assert.equal(gw.upstream.requests.at(-1)!.headers.authorization, 'Negotiate ZGVsZWdhdGVk1');
    assert.deepEqual(asked, ['frank@corp.example']);

    // Exchange refuses (401, every time here): invalidated, asked again, sent once more with the
    // new credentials and the same body; the second 401 reaches the device (and invalidates
    // nothing more: an Exchange that refuses every ticket must not cost KDC trips per request).
    const before = gw.upstream.requests.length;
    const refused = await gw.request({
      method: 'POST',
      path: '/EWS/Exchange.asmx',
      cert: frank,
      headers: { 'x-test-status': '401', 'content-type': 'text/xml' },
      body: '<soap:Envelope/>',
    });
    assert.equal(refused.status, 401);
    assert.deepEqual(invalidated, ['frank@corp.example']);
    const sent = gw.upstream.requests.slice(before);
    assert.deepEqual(
      sent.map((r) => [r.headers.authorization, r.bytes]),
      [
        ['Negotiate ZGVsZWdhdGVk2', 16],
        ['Negotiate ZGVsZWdhdGVk3', 16],
      ],
    );

    // A delegate's refusal reaches the device with its status and code, and nothing goes upstream.
    const nobody = await issueClientCertificate(gw.ca, { cn: 'nobody', upn: 'nobody@corp.example' });
    const count = gw.upstream.requests.length;
    const unknown = await gw.request({ path: '/EWS/Exchange.asmx', cert: nobody });
    assert.equal(unknown.status, 403);
    assert.equal(JSON.parse(unknown.body.toString()).error.code, 'kerberos_principal_unknown');
    assert.equal(gw.upstream.requests.length, count);
  } finally {
    await gw.close();
    await store.close();
  }
});

test('gateway/credential delegation applies only to the routes in kerberos.routes', async () => {
  const store = await databases()[0]!.open();
  const gw = await startTestGateway({
    store,
    gateway: { crl: { onUnavailable: 'fail-open' }, kerberos: { routes: ['activesync'] } },
    delegate: { authorization: async () => 'Negotiate ZGVsZWdhdGVk' },
  });
  try {
    const frank = await issueClientCertificate(gw.ca, { cn: 'frank', upn: 'frank@corp.example' });
    const headers = { authorization: 'Basic ZnJhbms6cHc=' };
    assert.equal((await gw.request({ path: '/EWS/Exchange.asmx', cert: frank, headers })).status, 200);
    assert.equal(gw.upstream.requests.at(-1)!.headers.authorization, 'Basic ZnJhbms6cHc=');
    const path = '/Microsoft-Server-ActiveSync?Cmd=Sync&User=frank&DeviceId=F1&DeviceType=iPhone';
    assert.equal((await gw.request({ path, cert: frank, headers })).status, 200);
    assert.equal(gw.upstream.requests.at(-1)!.headers.authorization, 'Negotiate ZGVsZWdhdGVk');
  } finally {
    await gw.close();
    await store.close();
  }
});

forEachDatabase('gateway/compliance rules apply without a restart', async (store) => {
  const gw = await startTestGateway({
    store,
    gateway: {
      clientCertificates: 'off',
      policy: { reloadSeconds: 1 },
      // Nothing listens on port 1: an Exchange that cannot be reached.
      upstreams: { autodiscover: 'https://127.0.0.1:1' },
    },
  });
  try {
    const path = '/Microsoft-Server-ActiveSync?Cmd=Sync&User=erin&DeviceId=ERIN01&DeviceType=Android';
    assert.equal((await gw.request({ path })).status, 200);
    const rule = await store.gatewayRules.add({
      action: 'block',
      deviceType: 'android',
      reason: 'Android not yet approved',
    });
    // The gateway re-reads the rules every second on its own: wait for the refusal (bounded).
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (status !== 403 && Date.now() < deadline) {
      status = (await gw.request({ path })).status;
      if (status !== 403) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, 403, 'blocked within a few reload periods');
    await store.gatewayRules.remove(rule.id);
    await gw.gateway.rules.reload();
    assert.equal((await gw.request({ path })).status, 200);

    const unreachable = await gw.request({ path: '/autodiscover/autodiscover.xml' });
    assert.equal(unreachable.status, 502);
    assert.equal(JSON.parse(unreachable.body.toString()).error.code, 'upstream_unreachable');
  } finally {
    await gw.close();
  }
});
