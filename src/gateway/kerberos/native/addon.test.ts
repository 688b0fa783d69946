/**
 * The native addon against a real Active Directory KDC (Samba AD DC on 127.0.0.1, provisioned by
 * scripts/setup-samba-kdc.sh, described by its kdc.json; HERALD_TEST_KDC names another file):
 * S4U2Self for alice, S4U2Proxy to Exchange's SPN, and the token accepted with Exchange's keytab;
 * the refusals classified as errors.ts knows them. Without the KDC or the addon the tests skip,
 * except under CI=true, where they fail.
 *
 * Nothing here can hang for long: each test has a timeout of its own (MIT 1.20 has no total
 * timeout of its own; the gateway bounds its KDC calls in KerberosDelegate).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, type TestContext, test } from 'node:test';
import { type TestKdc, testKdc } from '../../../../test/support/kdc.ts';
import type { GssError, KerberosAddon, NativeCredential } from './index.ts';

const TIMEOUT = { timeout: 30_000 };

/** The KDC and the addon, with KRB5_CONFIG set to the realm's krb5.conf (MIT reads it per call). */
function setup(t: TestContext): { kdc: TestKdc; addon: KerberosAddon } | undefined {
  const kdc = testKdc(t);
  if (!kdc) return undefined;
  process.env.KRB5_CONFIG = kdc.krb5Config;
  return { kdc, addon: kdc.addon };
}

async function rejection(promise: Promise<unknown>): Promise<GssError> {
  try {
    await promise;
  } catch (error) {
    return error as GssError;
  }
  assert.fail('expected a rejection');
}

function assertGssError(error: GssError, code: GssError['code'], text: RegExp): void {
  assert.ok(error instanceof Error, String(error));
  assert.equal(error.code, code, error.message);
  assert.equal(typeof error.major, 'number');
  assert.equal(typeof error.minor, 'number');
  assert.match(error.message, text);
}

describe('Kerberos addon: S4U2Self + S4U2Proxy against Samba AD', () => {
  const credentials: NativeCredential[] = [];
  const dirs: string[] = [];
  after(() => {
    for (const credential of credentials) credential.release();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('alice: a token for Exchange that Exchange accepts as alice', TIMEOUT, async (t) => {
    const env = setup(t);
    if (!env) return;
    const { kdc, addon } = env;
    const started = performance.now();
    const service = await addon.acquireServiceCredential({
      keytab: kdc.serviceKeytab,
      principal: kdc.servicePrincipal,
    });
    credentials.push(service);
    const { credential, lifetimeSeconds } = await addon.impersonate(service, `alice@${kdc.realm}`);
    credentials.push(credential);
    assert.ok(lifetimeSeconds > 60 && lifetimeSeconds <= 7 * 24 * 3600, `lifetime ${lifetimeSeconds}`);
    const token = await addon.initSecContext(credential, kdc.targetSpn);
    t.diagnostic(`TGT + S4U2Self + S4U2Proxy: ${(performance.now() - started).toFixed(1)} ms`);
    assert.match(token, /^[A-Za-z0-9+/]+=*$/);
    // SPNEGO's NegTokenInit: [APPLICATION 0] then the SPNEGO OID 1.3.6.1.5.5.2.
    assert.equal(
      Buffer.from(token, 'base64').subarray(0, 12).includes(Buffer.from('2b0601050502', 'hex')),
      true,
    );

    const accepted = await addon.acceptSecContext({ keytab: kdc.exchangeKeytab }, token);
    assert.deepEqual(accepted, { principal: `alice@${kdc.realm}`, delegated: false });

    // Another token from the same credential: the proxy ticket is cached, a new authenticator.
    const again = performance.now();
    const second = await addon.initSecContext(credential, kdc.targetSpn);
    t.diagnostic(`next token from the cached credential: ${(performance.now() - again).toFixed(1)} ms`);
    assert.notEqual(second, token);
    assert.equal(
      (await addon.acceptSecContext({ keytab: kdc.exchangeKeytab }, second)).principal,
      `alice@${kdc.realm}`,
    );

    // The host-based form of the same SPN (HTTP@host) names the same service.
    const [service_, host] = kdc.targetSpn.split('/') as [string, string];
    const hostBased = await addon.initSecContext(credential, `${service_}@${host}`);
    assert.equal(
      (await addon.acceptSecContext({ keytab: kdc.exchangeKeytab }, hostBased)).principal,
      `alice@${kdc.realm}`,
    );
  });

  test('error/an SPN the gateway may not delegate to: delegation_not_allowed', TIMEOUT, async (t) => {
    const env = setup(t);
    if (!env) return;
    const { kdc, addon } = env;
    const service = await addon.acquireServiceCredential({
      keytab: kdc.serviceKeytab,
      principal: kdc.servicePrincipal,
    });
    credentials.push(service);
    const { credential } = await addon.impersonate(service, `alice@${kdc.realm}`);
    credentials.push(credential);
    const error = await rejection(addon.initSecContext(credential, kdc.nonDelegableSpn));
    assertGssError(error, 'delegation_not_allowed', /KDC can't fulfill requested option/);
    assert.equal(error.minor, -1765328371); // KRB5KDC_ERR_BADOPTION
  });

  test('error/a user the directory does not know: principal_unknown', TIMEOUT, async (t) => {
    const env = setup(t);
    if (!env) return;
    const { kdc, addon } = env;
    const service = await addon.acquireServiceCredential({
      keytab: kdc.serviceKeytab,
      principal: kdc.servicePrincipal,
    });
    credentials.push(service);
    const error = await rejection(addon.impersonate(service, `nobody123@${kdc.realm}`));
    assertGssError(error, 'principal_unknown', /not found in Kerberos database/);
    assert.equal(error.minor, -1765328378); // KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
  });

  test('error/keytabs: missing, or without the principal: keytab', TIMEOUT, async (t) => {
    const env = setup(t);
    if (!env) return;
    const { kdc, addon } = env;
    const missing = await rejection(
      addon.acquireServiceCredential({
        keytab: '/nonexistent/herald.keytab',
        principal: kdc.servicePrincipal,
      }),
    );
    assertGssError(missing, 'keytab', /not readable/);
    // Exchange's keytab holds no key for the gateway's account.
    const wrong = await rejection(
      addon.acquireServiceCredential({ keytab: kdc.exchangeKeytab, principal: kdc.servicePrincipal }),
    );
    assertGssError(wrong, 'keytab', /No credentials/);
  });

  test('error/no KDC answers: kdc_unreachable, quickly', TIMEOUT, async (t) => {
    const env = setup(t);
    if (!env) return;
    const { kdc, addon } = env;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const dir = mkdtempSync(join(tmpdir(), 'herald-krb5-'));
    dirs.push(dir);
    const conf = join(dir, 'krb5.conf');
    writeFileSync(
      conf,
      readFileSync(kdc.krb5Config, 'utf8').replace(/^(\s*kdc\s*=\s*).*$/m, `$1127.0.0.1:${port}`),
    );
    process.env.KRB5_CONFIG = conf;
    try {
      const started = performance.now();
      const error = await rejection(
        addon.acquireServiceCredential({ keytab: kdc.serviceKeytab, principal: kdc.servicePrincipal }),
      );
      assertGssError(error, 'kdc_unreachable', /Cannot contact any KDC/);
      assert.equal(error.minor, -1765328228); // KRB5_KDC_UNREACH
      assert.ok(performance.now() - started < 10_000);
    } finally {
      process.env.KRB5_CONFIG = kdc.krb5Config;
    }
  });

  test('a released credential is refused; calls in flight finish', TIMEOUT, async (t) => {
    const env = setup(t);
    if (!env) return;
    const { kdc, addon } = env;
    const service = await addon.acquireServiceCredential({
      keytab: kdc.serviceKeytab,
      principal: kdc.servicePrincipal,
    });
    const inFlight = addon.impersonate(service, `bob@${kdc.realm}`);
    service.release();
    assert.equal(service.released, true);
    const { credential } = await inFlight;
    credentials.push(credential);
    await assert.rejects(async () => addon.impersonate(service, `alice@${kdc.realm}`), /released/);
    await assert.rejects(async () => addon.initSecContext({} as NativeCredential, kdc.targetSpn), TypeError);
  });
});
