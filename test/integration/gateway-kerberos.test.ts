/**
 * Kerberos constrained delegation against a real Active Directory KDC (Samba AD DC, provisioned
 * by scripts/setup-samba-kdc.sh; .ci/run does it): a device certificate for alice goes through
 * the gateway, which does S4U2Self + S4U2Proxy with its own keytab, to an upstream that accepts
 * the Negotiate token with Exchange's keytab and reports whom it authenticated. KDC round trips
 * are counted by a TCP relay in front of the KDC.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/index.ts';
import { createKerberosDelegate, type KerberosDelegate } from '../../src/gateway/index.ts';
import { createLogger } from '../../src/log/index.ts';
import type { Store } from '../../src/store/index.ts';
import { databases } from '../../src/store/testing.ts';
import { adminGet, startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  deadKdc,
  type KdcCounter,
  silentKdc,
  startKdcCounter,
  type TestKdc,
  testKdc,
} from '../support/kdc.ts';
import { LogCapture } from '../support/logs.ts';
import { type NegotiateUpstream, startNegotiateUpstream } from '../support/negotiate-upstream.ts';
import { type IssuedCertificate, issueClientCertificate } from '../support/pki.ts';

const SYNC = '/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ALICE01&DeviceType=iPhone';

describe('Kerberos constrained delegation through the gateway (Samba AD DC)', () => {
  let kdc: TestKdc | undefined;
  let store: Store;
  let upstream: NegotiateUpstream;
  let counter: KdcCounter;
  const cleanups: (() => Promise<void>)[] = [];

  before(async (t) => {
    kdc = testKdc(t as never);
    store = await databases()[0]!.open();
    if (!kdc) return;
    upstream = await startNegotiateUpstream(kdc.addon, kdc.exchangeKeytab);
    counter = await startKdcCounter(kdc.kdc);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await upstream?.close();
    await counter?.close();
    await store?.close();
  });

  /** A gateway whose delegate is built from a kerberos config section, as `herald gateway` does. */
  async function gatewayWith(
    kerberos: Record<string, unknown>,
  ): Promise<{ gw: TestGateway; delegate: KerberosDelegate; logs: LogCapture }> {
    const k = kdc as TestKdc;
    const dataDir = mkdtempSync(join(tmpdir(), 'herald-kcd-'));
    const section = {
      enabled: true,
      servicePrincipal: k.servicePrincipal,
      keytabFile: k.serviceKeytab,
      targetSpn: k.targetSpn,
      realm: k.realm,
      kdcs: [counter.address],
      kdcTimeoutSeconds: 2,
      ...kerberos,
    };
    const config = configSchema.parse({ dataDir, gateway: { kerberos: section } });
    const logs = new LogCapture();
    const delegate = createKerberosDelegate(config.gateway.kerberos, {
      logger: createLogger({ level: 'debug', destination: logs, base: { service: 'herald-gateway' } }),
      dataDir,
    });
    const gw = await startTestGateway({
      store,
      delegate,
      gateway: {
        crl: { onUnavailable: 'fail-open' },
        kerberos: section,
        upstreams: { activesync: upstream.url, ews: upstream.url },
      },
    });
    cleanups.push(async () => {
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    return { gw, delegate, logs };
  }

  function certificateFor(gw: TestGateway, user: string): Promise<IssuedCertificate> {
    const upn = `${user}@${(kdc as TestKdc).realm.toLowerCase()}`;
    return issueClientCertificate(gw.ca, { cn: user, upn, email: upn });
  }

  test("alice's certificate reaches Exchange as alice@REALM; repeated requests make no KDC round trip", async (t) => {
    if (!kdc) return t.skip('no KDC');
    const { gw, delegate, logs } = await gatewayWith({});
    const alice = await certificateFor(gw, 'alice');

    const first = await gw.request({ method: 'POST', path: SYNC, cert: alice, body: 'sync body' });
    assert.equal(first.status, 200, first.body.toString());
    assert.deepEqual(JSON.parse(first.body.toString()), { principal: `alice@${kdc.realm}`, bytes: 9 });
    const afterFirst = counter.connections;
    // The service account's TGT, S4U2Self, S4U2Proxy: at least those three.
    assert.ok(afterFirst >= 3, `KDC round trips for the first request: ${afterFirst}`);

    for (let i = 0; i < 5; i++) {
      const again = await gw.request({ path: '/EWS/Exchange.asmx', cert: alice });
      assert.equal(again.status, 200);
      assert.equal(JSON.parse(again.body.toString()).principal, `alice@${kdc.realm}`);
    }
    assert.equal(counter.connections, afterFirst, 'the cached credential answered; the KDC was not asked');
    assert.equal(delegate.cachedUsers, 1);
    // Each request had a token of its own (a new authenticator), accepted by Exchange's keytab.
    const tokens = upstream.requests.slice(-6).map((r) => r.headers.authorization);
    assert.equal(new Set(tokens).size, 6);

    const metrics = await adminGet(gw, '/metrics');
    assert.match(metrics.text, /herald_gateway_kerberos_cache_total\{result="hit"\} 5/);
    assert.match(metrics.text, /herald_gateway_kerberos_cache_total\{result="miss"\} 1/);
    // No ticket or token in the logs.
    for (const token of tokens) assert.ok(!logs.text().includes((token as string).slice(10, 60)));
    assert.ok(!gw.logs.text().includes((tokens[0] as string).slice(10, 60)));
  });

  test('a 401 from Exchange: the request goes once more with a fresh ticket from the KDC', async (t) => {
    if (!kdc) return t.skip('no KDC');
    const { gw } = await gatewayWith({});
    const alice = await certificateFor(gw, 'alice');
    assert.equal((await gw.request({ path: SYNC, cert: alice })).status, 200);
    const before = counter.connections;
    const sent = upstream.requests.length;
    upstream.refuseNext(1);
    const retried = await gw.request({ method: 'POST', path: SYNC, cert: alice, body: 'again' });
    assert.equal(retried.status, 200, retried.body.toString());
    assert.equal(upstream.requests.length - sent, 2);
    assert.deepEqual(
      upstream.requests.slice(-2).map((r) => [r.principal, r.bytes]),
      [
        [`alice@${kdc.realm}`, 5],
        [`alice@${kdc.realm}`, 5],
      ],
    );
    assert.ok(counter.connections > before, 'the fresh ticket came from the KDC');
  });

  test('error/a user unknown to the directory is refused (403 kerberos_principal_unknown), nothing reaches Exchange', async (t) => {
    if (!kdc) return t.skip('no KDC');
    const { gw, logs } = await gatewayWith({});
    const nobody = await certificateFor(gw, 'nobody-herald');
    const sent = upstream.requests.length;
    const refused = await gw.request({ path: SYNC, cert: nobody });
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body.toString()).error.code, 'kerberos_principal_unknown');
    assert.equal(upstream.requests.length, sent);
    assert.match(logs.text(), /Get Kerberos token failed/);
    for (const text of [logs.text(), gw.logs.text()]) {
      assert.ok(!text.includes('nobody-herald'), 'the user is a pseudonym in the logs');
    }
  });

  test('error/a target SPN the gateway may not delegate to is refused (502 kerberos_delegation_not_allowed)', async (t) => {
    if (!kdc) return t.skip('no KDC');
    const { gw } = await gatewayWith({ targetSpn: kdc.nonDelegableSpn });
    const alice = await certificateFor(gw, 'alice');
    const refused = await gw.request({ path: SYNC, cert: alice });
    assert.equal(refused.status, 502);
    assert.equal(JSON.parse(refused.body.toString()).error.code, 'kerberos_delegation_not_allowed');
  });

  test('error/a target SPN no account holds is refused as such (502 kerberos_target_unknown), not as an unknown user', async (t) => {
    if (!kdc) return t.skip('no KDC');
    const { gw } = await gatewayWith({ targetSpn: `HTTP/unknown.${kdc.realm.toLowerCase()}` });
    const alice = await certificateFor(gw, 'alice');
    const refused = await gw.request({ path: SYNC, cert: alice });
    assert.equal(refused.status, 502);
    assert.equal(JSON.parse(refused.body.toString()).error.code, 'kerberos_target_unknown');
  });

  test('error/a KDC that accepts and never answers: 503 kerberos_kdc_unreachable after kdcTimeoutSeconds, not a hang', async (t) => {
    if (!kdc) return t.skip('no KDC');
    const silent = await silentKdc();
    cleanups.push(() => silent.close());
    const { gw } = await gatewayWith({ kdcs: [silent.address], kdcTimeoutSeconds: 1 });
    const alice = await certificateFor(gw, 'alice');
    const refused = await gw.request({ path: SYNC, cert: alice });
    assert.equal(refused.status, 503);
    assert.equal(JSON.parse(refused.body.toString()).error.code, 'kerberos_kdc_unreachable');
  });

  test('a KDC that is down: the next one in kdcs answers; with none, 503 kerberos_kdc_unreachable', async (t) => {
    if (!kdc) return t.skip('no KDC');
    const down = await deadKdc();
    const { gw: fallback } = await gatewayWith({ kdcs: [down, counter.address] });
    const alice = await certificateFor(fallback, 'alice');
    assert.equal((await fallback.request({ path: SYNC, cert: alice })).status, 200);

    const { gw: isolated } = await gatewayWith({ kdcs: [down] });
    const bob = await certificateFor(isolated, 'alice');
    const refused = await isolated.request({ path: SYNC, cert: bob });
    assert.equal(refused.status, 503);
    assert.equal(JSON.parse(refused.body.toString()).error.code, 'kerberos_kdc_unreachable');
  });
});
