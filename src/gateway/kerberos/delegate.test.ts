/**
 * The delegate's own logic: principals from certificates, the per-user cache (expiry, LRU bound,
 * one KDC trip for concurrent first requests, nothing cached on failure), error answers, and the
 * krb5.conf it writes. GSS-API here is a recording stand-in; the real thing, against a Samba
 * KDC, is test/integration/gateway-kerberos.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ClientIdentity } from '../certificates/index.ts';
import { KerberosDelegate } from './delegate.ts';
import { delegationError, KerberosDelegationError } from './errors.ts';
import type { GssApi, GssCredential } from './gss.ts';
import { krb5Conf } from './krb5-conf.ts';
import { targetSpn, userPrincipal } from './principal.ts';

const logger = pino({ level: 'silent' });
const exchange = new URL('https://exchange.corp.example/EWS');

function identity(upn: string | undefined): ClientIdentity {
  return {
    ...(upn === undefined ? {} : { upn }),
    subject: 'CN=device',
    issuer: 'CN=ca',
    serialNumber: '01',
    fingerprint256: 'AA',
    notAfter: new Date('2030-01-01'),
  };
}

/** Records every call; `fail` makes impersonation of a principal reject with a code. */
class RecordingGss implements GssApi {
  calls: string[] = [];
  released = 0;
  fail = new Map<string, string>();
  lifetimeSeconds = 36_000;
  /** Resolve impersonation only when released (to hold concurrent requests in flight). */
  gate: Promise<void> | undefined;
  /** Impersonations of these principals never answer (a KDC that accepts and stays silent). */
  hang = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;

  async acquireServiceCredential(options: { keytab: string; principal: string }): Promise<GssCredential> {
    this.calls.push(`service ${options.principal}`);
    return { release: () => this.released++ };
  }

  async impersonate(_service: GssCredential, user: string) {
    this.calls.push(`impersonate ${user}`);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate;
      if (this.hang.has(user)) await new Promise(() => {});
    } finally {
      this.inFlight -= 1;
    }
    const code = this.fail.get(user);
    if (code) throw Object.assign(new Error(`GSS failure for ${user}`), { code, major: 851968, minor: 1 });
    return {
      credential: { name: user, release: () => this.released++ } as GssCredential,
      lifetimeSeconds: this.lifetimeSeconds,
    };
  }

  async initSecContext(user: GssCredential, spn: string): Promise<string> {
    this.calls.push(`init ${(user as { name?: string }).name} ${spn}`);
    return Buffer.from(`token for ${spn}`).toString('base64');
  }
}

function delegate(
  gss: GssApi,
  options: Partial<{
    cacheUsers: number;
    cacheSeconds: number;
    now: () => number;
    kdcTimeoutMs: number;
    kdcConcurrency: number;
  }> = {},
) {
  return new KerberosDelegate({
    gss,
    servicePrincipal: 'svc_seg@CORP.EXAMPLE',
    keytabFile: '/etc/svc_seg.keytab',
    realm: 'CORP.EXAMPLE',
    realmMap: { 'contoso.com': 'CONTOSO.CORP.EXAMPLE' },
    cacheSeconds: options.cacheSeconds ?? 36_000,
    cacheUsers: options.cacheUsers ?? 100,
    ...(options.kdcTimeoutMs === undefined ? {} : { kdcTimeoutMs: options.kdcTimeoutMs }),
    ...(options.kdcConcurrency === undefined ? {} : { kdcConcurrency: options.kdcConcurrency }),
    logger,
    ...(options.now ? { now: options.now } : {}),
  });
}

describe('principals', () => {
  const rules = { realm: 'CORP.EXAMPLE', realmMap: { 'Contoso.com': 'CONTOSO.CORP.EXAMPLE' } };

  test('the UPN suffix of the realm, another suffix, a mapped suffix, no realm configured', () => {
    assert.equal(userPrincipal('alice@corp.example', rules), 'alice@CORP.EXAMPLE');
    assert.equal(userPrincipal('alice@mail.corp.example', rules), 'alice@CORP.EXAMPLE');
    assert.equal(userPrincipal('bob@CONTOSO.com', rules), 'bob@CONTOSO.CORP.EXAMPLE');
    assert.equal(userPrincipal('carol@fabrikam.example', { realmMap: {} }), 'carol@FABRIKAM.EXAMPLE');
  });

  test('error/no UPN, or one that is not user@suffix', () => {
    for (const upn of [
      undefined,
      'alice',
      '@corp.example',
      'alice@',
      'a/b@corp.example',
      'a b@corp.example',
    ]) {
      assert.throws(
        () => userPrincipal(upn, rules),
        (error: unknown) => error instanceof KerberosDelegationError && error.failure === 'no_user_principal',
        String(upn),
      );
    }
  });

  test('the SPN: configured, or HTTP/<upstream host>', () => {
    assert.equal(targetSpn(undefined, exchange), 'HTTP/exchange.corp.example');
    assert.equal(targetSpn('HTTP/mail.corp.example', exchange), 'HTTP/mail.corp.example');
  });
});

describe('the per-user cache', () => {
  test('repeated requests of a user go to the KDC once; each gets a token of its own making', async () => {
    const gss = new RecordingGss();
    const kcd = delegate(gss);
    const first = await kcd.authorization(identity('alice@corp.example'), exchange);
    const second = await kcd.authorization(identity('alice@corp.example'), exchange);
    assert.equal(
      first,
      `Negotiate ${Buffer.from('token for HTTP/exchange.corp.example').toString('base64')}`,
    );
    assert.equal(second, first);
    assert.deepEqual(gss.calls, [
      'service svc_seg@CORP.EXAMPLE',
      'impersonate alice@CORP.EXAMPLE',
      'init alice@CORP.EXAMPLE HTTP/exchange.corp.example',
      'init alice@CORP.EXAMPLE HTTP/exchange.corp.example',
    ]);
  });

  test('concurrent first requests of one user share one impersonation', async () => {
    const gss = new RecordingGss();
    let open!: () => void;
    gss.gate = new Promise((resolve) => {
      open = resolve;
    });
    const kcd = delegate(gss);
    const pending = Array.from({ length: 5 }, () =>
      kcd.authorization(identity('alice@corp.example'), exchange),
    );
    open();
    await Promise.all(pending);
    assert.equal(gss.calls.filter((call) => call.startsWith('impersonate')).length, 1);
    assert.equal(gss.calls.filter((call) => call.startsWith('init')).length, 5);
  });

  test('a credential is used until 5 minutes before its tickets expire, and at most cacheSeconds', async () => {
    let now = 0;
    const gss = new RecordingGss();
    gss.lifetimeSeconds = 600;
    const kcd = delegate(gss, { now: () => now });
    const impersonations = () => gss.calls.filter((call) => call.startsWith('impersonate')).length;
    await kcd.authorization(identity('alice@corp.example'), exchange);
    now = 299_000;
    await kcd.authorization(identity('alice@corp.example'), exchange);
    assert.equal(impersonations(), 1);
    now = 300_000;
    await kcd.authorization(identity('alice@corp.example'), exchange);
    assert.equal(impersonations(), 2);

    const capped = delegate(gss, { cacheSeconds: 60, now: () => now });
    gss.lifetimeSeconds = 36_000;
    await capped.authorization(identity('bob@corp.example'), exchange);
    now += 61_000;
    await capped.authorization(identity('bob@corp.example'), exchange);
    assert.equal(gss.calls.filter((call) => call === 'impersonate bob@CORP.EXAMPLE').length, 2);
  });

  test('at most cacheUsers are kept, the least recently used dropped (and released) first', async () => {
    const gss = new RecordingGss();
    const kcd = delegate(gss, { cacheUsers: 2 });
    for (const user of ['a', 'b', 'a', 'c'])
      await kcd.authorization(identity(`${user}@corp.example`), exchange);
    assert.equal(kcd.cachedUsers, 2);
    await kcd.authorization(identity('a@corp.example'), exchange);
    await kcd.authorization(identity('b@corp.example'), exchange);
    assert.deepEqual(
      gss.calls.filter((call) => call.startsWith('impersonate')),
      [
        'impersonate a@CORP.EXAMPLE',
        'impersonate b@CORP.EXAMPLE',
        'impersonate c@CORP.EXAMPLE',
        'impersonate b@CORP.EXAMPLE',
      ],
    );
    assert.ok(gss.released >= 1);
    await kcd.close();
  });

  test('invalidate (Exchange said 401) makes the next request go to the KDC again', async () => {
    const gss = new RecordingGss();
    const kcd = delegate(gss);
    await kcd.authorization(identity('alice@corp.example'), exchange);
    kcd.invalidate(identity('alice@corp.example'));
    kcd.invalidate(identity(undefined));
    await kcd.authorization(identity('alice@corp.example'), exchange);
    assert.equal(gss.calls.filter((call) => call.startsWith('impersonate')).length, 2);
  });

  test('invalidate keeps a credential still being fetched (a concurrent retry asked for it); dropped ones are released', async () => {
    const gss = new RecordingGss();
    const kcd = delegate(gss);
    await kcd.authorization(identity('alice@corp.example'), exchange);
    kcd.invalidate(identity('alice@corp.example'));
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(gss.released, 1, 'the dropped credential was released');
    let open!: () => void;
    gss.gate = new Promise((resolve) => {
      open = resolve;
    });
    const pending = kcd.authorization(identity('alice@corp.example'), exchange);
    kcd.invalidate(identity('alice@corp.example'));
    open();
    await pending;
    await kcd.authorization(identity('alice@corp.example'), exchange);
    assert.equal(gss.calls.filter((call) => call.startsWith('impersonate')).length, 2);
  });

  test('error/a KDC that never answers: kdc_unreachable after the timeout, and at most kdcConcurrency calls at once', async () => {
    const gss = new RecordingGss();
    for (const user of ['a', 'b', 'c']) gss.hang.add(`${user}@CORP.EXAMPLE`);
    const kcd = delegate(gss, { kdcTimeoutMs: 50, kdcConcurrency: 2 });
    const results = await Promise.allSettled(
      ['a', 'b', 'c'].map((user) => kcd.authorization(identity(`${user}@corp.example`), exchange)),
    );
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.equal((result as PromiseRejectedResult).reason.code, 'kerberos_kdc_unreachable');
      assert.equal((result as PromiseRejectedResult).reason.status, 503);
    }
    assert.equal(gss.maxInFlight, 2, 'the third waited for a slot, which the hung calls keep');
    // A user whose KDC call can run still gets no slot while the hung ones hold both: bounded too.
    await assert.rejects(kcd.authorization(identity('d@corp.example'), exchange), {
      code: 'kerberos_kdc_unreachable',
    });
  });

  test('error/a failure is not cached, is classified, counted, and says what the device is told', async () => {
    const gss = new RecordingGss();
    gss.fail.set('nobody@CORP.EXAMPLE', 'principal_unknown');
    const kcd = delegate(gss);
    const registry = new Registry();
    kcd.registerMetrics(registry);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(kcd.authorization(identity('nobody@corp.example'), exchange), (error: unknown) => {
        assert.ok(error instanceof KerberosDelegationError);
        assert.equal(error.status, 403);
        assert.equal(error.code, 'kerberos_principal_unknown');
        assert.doesNotMatch(error.publicMessage, /nobody/);
        return true;
      });
    }
    assert.equal(gss.calls.filter((call) => call.startsWith('impersonate')).length, 2);
    await assert.rejects(kcd.authorization(identity(undefined), exchange), {
      code: 'kerberos_no_user_principal',
    });
    const text = await registry.metrics();
    assert.match(text, /herald_gateway_kerberos_failures_total\{reason="principal_unknown"\} 2/);
    assert.match(text, /herald_gateway_kerberos_failures_total\{reason="no_user_principal"\} 1/);
    assert.match(text, /herald_gateway_kerberos_cache_total\{result="miss"\} 2/);
  });
});

describe('errors and krb5.conf', () => {
  test('addon codes map to answers; an unknown code is "Get Kerberos token failed"', () => {
    const cases: [string | undefined, number, string][] = [
      ['clock_skew', 502, 'kerberos_clock_skew'],
      ['kdc_unreachable', 503, 'kerberos_kdc_unreachable'],
      ['principal_unknown', 403, 'kerberos_principal_unknown'],
      ['delegation_not_allowed', 502, 'kerberos_delegation_not_allowed'],
      ['target_unknown', 502, 'kerberos_target_unknown'],
      ['keytab', 502, 'kerberos_keytab'],
      ['something_new', 502, 'kerberos_failed'],
      [undefined, 502, 'kerberos_failed'],
    ];
    for (const [code, status, answer] of cases) {
      const error = delegationError(Object.assign(new Error('gss said no'), code ? { code } : {}));
      assert.equal(error.status, status, String(code));
      assert.equal(error.code, answer, String(code));
      assert.match(error.message, /Get Kerberos token failed|no user principal|not available/i);
      assert.match(error.message, /gss said no/);
    }
  });

  test('krb5.conf: the realm, KDCs in order, no DNS, forwardable, TCP; a value with a newline is refused', () => {
    const text = krb5Conf({
      realm: 'CORP.EXAMPLE',
      kdcs: ['dc1.corp.example', 'dc2.corp.example:8888'],
      kdcTimeoutSeconds: 3,
    });
    assert.match(text, /default_realm = CORP\.EXAMPLE/);
    assert.match(
      text,
      /CORP\.EXAMPLE = \{\n {4}kdc = dc1\.corp\.example\n {4}kdc = dc2\.corp\.example:8888\n {2}\}/,
    );
    for (const line of [
      'dns_lookup_kdc = false',
      'forwardable = true',
      'udp_preference_limit = 1',
      'request_timeout = 3',
    ]) {
      assert.ok(text.includes(line), line);
    }
    assert.throws(() =>
      krb5Conf({ realm: 'CORP.EXAMPLE', kdcs: ['dc1\n  admin_server = evil'], kdcTimeoutSeconds: 3 }),
    );
  });
});
