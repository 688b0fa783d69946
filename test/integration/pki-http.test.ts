/**
 * Herald's certificate authority over real HTTP, on both databases, checked with the tools
 * administrators use: the PKI admin API (templates, one-time challenges, issuing, revoking, CRLs
 * now) behind the admin token; the CRLs and CA certificates at the URLs the certificates name,
 * with their content types and caching headers; `openssl crl` parses the full and delta CRLs
 * fetched over HTTP; a certificate issued from an `openssl req` CSR carries the UPN and email
 * SANs and clientAuth (`openssl x509 -text`) and `openssl verify -crl_check` accepts it with
 * the published CRL, then rejects it after the real `herald ca revoke` CLI and a CRL
 * regeneration; a device that unenrols through the device API has its certificates revoked.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parse as parsePlist } from 'plist';
import { openssl, opensslCsr, opensslOk, type TempDir, tempDir } from '../../src/pki/testing.ts';
import { databases, exampleRegistration } from '../../src/store/testing.ts';
import { deviceClient, type RunningHerald, startHerald } from '../support/herald.ts';
import {
  adminTokenOf,
  heraldCa,
  type PkiAdminCall,
  type PkiAnswer,
  pkiAdmin,
  TEST_PKI_CONFIG,
} from '../support/pki-admin.ts';

const TENANT = { id: 'contoso', apiToken: 'contoso-pki-test-token-0123456789' };
const TEMPLATE = {
  name: 'ens',
  subject: 'CN={DeviceUid},O=Contoso',
  sanEmail: '{EmailAddress}',
  sanUpn: '{UserPrincipalName}',
};
const ALICE = {
  user: 'alice@corp.contoso.example',
  email: 'alice@contoso.example',
  deviceUid: 'ApplF2LX1234',
};
const ALICE_VALUES = {
  UserPrincipalName: ALICE.user,
  EmailAddress: ALICE.email,
  DeviceUid: ALICE.deviceUid,
};

const code = (answer: PkiAnswer) => answer.json.error?.code;

/** The URL of the first `URI:` after `label` in `openssl x509 -text` output. */
function uriAfter(text: string, label: string): string {
  const match = new RegExp(`${label}: *\\n *Full Name:\\n *URI:(\\S+)`).exec(text);
  assert.ok(match, `no ${label} in:\n${text}`);
  return match[1]!;
}

for (const database of databases()) {
  const skip = await database.unavailable();
  describe(`pki over HTTP [${database.name}]`, { skip: skip ?? false }, () => {
    let herald: RunningHerald;
    let databaseUrl: string | undefined;
    let drop: () => Promise<void> = async () => {};
    let api: PkiAdminCall;
    let ca: ReturnType<typeof heraldCa>;
    let dir: TempDir;
    let issuingId: string;
    let rootId: string;

    /** GET over HTTP, the body as bytes. */
    const fetchBytes = async (url: string, headers: Record<string, string> = {}) => {
      const response = await fetch(url, { headers });
      return { response, body: Buffer.from(await response.arrayBuffer()) };
    };
    /** A CRL fetched over HTTP, written as DER and PEM (openssl verify -CRLfile reads PEM). */
    const fetchCrl = async (url: string, name: string) => {
      const { response, body } = await fetchBytes(url);
      assert.equal(response.status, 200, url);
      dir.write(`${name}.der`, body);
      opensslOk(['crl', '-inform', 'DER', '-in', dir.file(`${name}.der`), '-out', dir.file(`${name}.pem`)]);
      return dir.file(`${name}.pem`);
    };
    const verify = (leaf: string, crls: string[], extra: string[] = []) =>
      openssl([
        'verify',
        '-CAfile',
        dir.file('root.pem'),
        '-untrusted',
        dir.file('issuing.pem'),
        '-crl_check',
        ...extra,
        ...crls.flatMap((crl) => ['-CRLfile', crl]),
        leaf,
      ]);

    before(async () => {
      dir = tempDir();
      const target = await database.forServer();
      databaseUrl = target.url;
      drop = target.drop;
      herald = await startHerald({
        ...(databaseUrl ? { database: databaseUrl } : {}),
        config: { pki: TEST_PKI_CONFIG, tenants: [TENANT] },
      });
      api = pkiAdmin(herald);
      ca = heraldCa(herald, databaseUrl);
    });

    after(async () => {
      await herald?.stop();
      await drop();
      dir?.remove();
    });

    test('no CA before it is needed: CRL and CA routes 404, SCEP 503; none is created by asking', async () => {
      assert.equal(herald.service.ca?.current(), undefined);
      const crl = await fetch(`${herald.url}/pki/crl/0123456789abcdef.crl`);
      assert.equal(crl.status, 404);
      assert.equal(((await crl.json()) as { error: { code: string } }).error.code, 'not_found');
      assert.equal((await fetch(`${herald.url}/pki/ca/0123456789abcdef.crt`)).status, 404);
      const scep = await fetch(`${herald.url}/pki/scep?operation=GetCACaps`);
      assert.equal(scep.status, 503);
      assert.match(await scep.text(), /not been set up/);
      assert.equal(await herald.service.store.pki.authorities.active('issuing'), undefined);
    });

    test('error/the admin API needs the admin token: 401 without it or with another', async () => {
      for (const token of [null, 'not-the-admin-token', TENANT.apiToken]) {
        const answer = await api('GET', '/templates', undefined, token);
        assert.equal(answer.status, 401);
        assert.equal(code(answer), 'admin_unauthorized');
        assert.match(answer.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
      const post = await api('POST', '/templates', TEMPLATE, null);
      assert.equal(post.status, 401);
    });

    test('templates: add (the first admin request creates the CA), list, get; 400/404/409 with codes', async () => {
      const added = await api('POST', '/templates', TEMPLATE);
      assert.equal(added.status, 201, added.text);
      assert.deepEqual(
        { ...added.json, createdAt: undefined, updatedAt: undefined },
        {
          ...TEMPLATE,
          keySize: 2048,
          days: 365,
          renewDays: 30,
          challenge: 'dynamic',
          revokeOnUnenrol: true,
          createdAt: undefined,
          updatedAt: undefined,
        },
      );
      assert.ok(herald.service.ca?.current(), 'the CA exists now');

      const secret = 'static-secret-do-not-echo';
      const fixed = await api('POST', '/templates', {
        name: 'kiosk',
        subject: 'CN=kiosk',
        challenge: `static:${secret}`,
        days: 30,
        renewDays: 7,
      });
      assert.equal(fixed.status, 201, fixed.text);
      assert.equal(fixed.json.challenge, 'static');
      assert.equal(fixed.text.includes(secret), false, 'the static secret is never answered');

      const listed = await api('GET', '/templates');
      assert.deepEqual((listed.json.templates as Array<{ name: string }>).map((t) => t.name).sort(), [
        'ens',
        'kiosk',
      ]);
      assert.equal(listed.text.includes(secret), false);
      assert.equal((await api('GET', '/templates/ens')).json.subject, TEMPLATE.subject);

      const cases: Array<[string, unknown, number, string, RegExp?]> = [
        ['a duplicate name', TEMPLATE, 409, 'pki_template_exists'],
        [
          'an unknown placeholder',
          { ...TEMPLATE, name: 'x', subject: 'CN={Nope}' },
          400,
          'pki_invalid_template',
          /\{Nope\}/,
        ],
        [
          'a key size not offered',
          { ...TEMPLATE, name: 'y', keySize: 1024 },
          400,
          'pki_invalid_template',
          /key size/,
        ],
        [
          'a short static secret',
          { ...TEMPLATE, name: 'z', challenge: 'static:short' },
          400,
          'pki_invalid_template',
        ],
        ['an unknown field', { ...TEMPLATE, name: 'w', colour: 'red' }, 400, 'invalid_request'],
        ['no subject', { name: 'v' }, 400, 'invalid_request'],
      ];
      for (const [what, body, status, errorCode, message] of cases) {
        const answer = await api('POST', '/templates', body);
        assert.equal(answer.status, status, what);
        assert.equal(code(answer), errorCode, what);
        if (message) assert.match(answer.json.error!.message, message, what);
      }
      const missing = await api('GET', '/templates/nope');
      assert.equal(missing.status, 404);
      assert.equal(code(missing), 'pki_template_not_found');
    });

    test('challenges: one-time, 60 minutes, bound to values; refused for static templates and missing values', async () => {
      const before = Date.now();
      const created = await api('POST', '/challenges', { template: 'ens', ...ALICE });
      assert.equal(created.status, 201, created.text);
      assert.match(String(created.json.challenge), /^[0-9A-F]{32}$/);
      assert.equal(created.json.template, 'ens');
      const expiresIn = Date.parse(String(created.json.expiresAt)) - before;
      assert.ok(expiresIn > 59 * 60_000 && expiresIn <= 60 * 60_000 + 5000, `expires in ${expiresIn} ms`);
      // Only a hash is stored.
      const again = await api('POST', '/challenges', { template: 'ens', ...ALICE });
      assert.notEqual(again.json.challenge, created.json.challenge);

      const cases: Array<[string, unknown, number, string]> = [
        ['an unknown template', { template: 'nope', ...ALICE }, 404, 'pki_template_not_found'],
        ['a static template', { template: 'kiosk', ...ALICE }, 400, 'pki_invalid_template'],
        [
          'no device id for {DeviceUid}',
          { template: 'ens', user: ALICE.user, email: ALICE.email },
          400,
          'pki_invalid_values',
        ],
        [
          'an email that is no address',
          { template: 'ens', ...ALICE, email: 'alice' },
          400,
          'pki_invalid_values',
        ],
        ['an unknown field', { template: 'ens', ...ALICE, upn: 'x' }, 400, 'invalid_request'],
      ];
      for (const [what, body, status, errorCode] of cases) {
        const answer = await api('POST', '/challenges', body);
        assert.equal(answer.status, status, `${what}: ${answer.text}`);
        assert.equal(code(answer), errorCode, what);
      }
    });

    test('CRLs and CA certificates over HTTP: content types, caching headers, 304, 404; openssl crl parses them', async () => {
      const info = await api('GET', '/ca');
      assert.equal(info.status, 200, info.text);
      issuingId = String(info.json.issuingId);
      rootId = String(info.json.rootId);
      assert.notEqual(issuingId, rootId);
      const chain = String(info.json.chainPem);
      const [issuingPem, rootPem] = chain.split(/(?<=-----END CERTIFICATE-----\n)/);
      dir.write('issuing.pem', issuingPem!);
      dir.write('root.pem', rootPem!);

      for (const [id, pem] of [
        [issuingId, issuingPem!],
        [rootId, rootPem!],
      ] as const) {
        const { response, body } = await fetchBytes(`${herald.url}/pki/ca/${id}.crt`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'application/pkix-cert');
        assert.match(response.headers.get('cache-control') ?? '', /^public, max-age=\d+$/);
        assert.ok(new X509Certificate(body).raw.equals(new X509Certificate(pem).raw), 'DER of the chain');
      }

      const full = await fetchBytes(`${herald.url}/pki/crl/${issuingId}.crl`);
      assert.equal(full.response.status, 200);
      const headers = full.response.headers;
      assert.equal(headers.get('content-type'), 'application/pkix-crl');
      const maxAge = Number(/^public, max-age=(\d+)$/.exec(headers.get('cache-control') ?? '')?.[1]);
      assert.ok(maxAge > 0 && maxAge <= 3600, `max-age ${maxAge}`);
      const lastModified = Date.parse(headers.get('last-modified') ?? '');
      const expires = Date.parse(headers.get('expires') ?? '');
      assert.ok(
        lastModified <= Date.now() && lastModified > Date.now() - 3_600_000,
        'Last-Modified: thisUpdate',
      );
      // Expires is the full CRL's nextUpdate: 168 hours (pki.crl.fullHours) after thisUpdate.
      assert.equal(expires - lastModified, 168 * 3_600_000);
      const etag = headers.get('etag');
      assert.ok(etag);
      const unchanged = await fetch(`${herald.url}/pki/crl/${issuingId}.crl`, {
        headers: { 'if-none-match': etag },
      });
      assert.equal(unchanged.status, 304);

      const delta = await fetchBytes(`${herald.url}/pki/crl/${issuingId}-delta.crl`);
      assert.equal(delta.response.status, 200);
      assert.equal(delta.response.headers.get('content-type'), 'application/pkix-crl');
      assert.equal(
        Date.parse(delta.response.headers.get('expires') ?? '') -
          Date.parse(delta.response.headers.get('last-modified') ?? ''),
        24 * 3_600_000,
      );
      const root = await fetchBytes(`${herald.url}/pki/crl/${rootId}.crl`);
      assert.equal(root.response.status, 200);

      dir.write('full.der', full.body);
      dir.write('delta.der', delta.body);
      const fullText = opensslOk(['crl', '-inform', 'DER', '-in', dir.file('full.der'), '-noout', '-text']);
      const deltaText = opensslOk(['crl', '-inform', 'DER', '-in', dir.file('delta.der'), '-noout', '-text']);
      const fullNumber = /X509v3 CRL Number: *\n *(\d+)/.exec(fullText)?.[1];
      assert.ok(fullNumber);
      assert.match(fullText, /Issuer: CN = Herald Issuing CA/);
      assert.ok(fullText.includes(`URI:${herald.url}/pki/crl/${issuingId}-delta.crl`), 'Freshest CRL');
      assert.match(deltaText, new RegExp(`X509v3 Delta CRL Indicator: critical\\n *${fullNumber}\\n`));
      // Both verify against the issuing CA fetched over HTTP.
      for (const crl of ['full.der', 'delta.der']) {
        const checked = openssl([
          'crl',
          '-inform',
          'DER',
          '-in',
          dir.file(crl),
          '-noout',
          '-CAfile',
          dir.file('issuing.pem'),
        ]);
        assert.match(checked.output, /verify OK/, crl);
      }

      for (const path of [
        `/pki/crl/${rootId}-delta.crl`, // a root publishes full CRLs only
        '/pki/crl/0123456789abcdef.crl',
        `/pki/crl/${issuingId}.pem`,
        '/pki/ca/0123456789abcdef.crt',
        `/pki/ca/${issuingId}.der`,
      ]) {
        const answer = await fetch(`${herald.url}${path}`);
        assert.equal(answer.status, 404, path);
        assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'not_found', path);
      }
    });

    test('issue from an openssl req CSR; openssl x509 and verify -crl_check accept it; herald ca revoke + crl, then refused', async () => {
      // The CSR asks for another subject and SAN: with lookup values the template decides.
      const csr = opensslCsr(dir, 'device', {
        subject: '/CN=administrator',
        addext: 'subjectAltName=email:ceo@contoso.example',
      });
      const issued = await api('POST', '/certificates', { template: 'ens', csr, values: ALICE_VALUES });
      assert.equal(issued.status, 201, issued.text);
      const certificate = issued.json.certificate as {
        serial: string;
        pem: string;
        status: string;
        subject: string;
      };
      assert.equal(certificate.status, 'issued');
      assert.equal(certificate.subject, `CN=${ALICE.deviceUid}, O=Contoso`);
      const leaf = dir.write('leaf.pem', certificate.pem);

      const text = opensslOk(['x509', '-in', leaf, '-noout', '-text']);
      assert.match(text, new RegExp(`Subject: CN = ${ALICE.deviceUid}, O = Contoso`));
      assert.doesNotMatch(text, /administrator|ceo@/);
      assert.ok(text.includes(`othername: UPN::${ALICE.user}`), text);
      assert.ok(text.includes(`email:${ALICE.email}`), text);
      assert.match(text, /X509v3 Extended Key Usage: *\n *TLS Web Client Authentication\n/);
      // The CDP points at this Herald; the CRL is fetched from exactly there.
      const cdp = uriAfter(text, 'X509v3 CRL Distribution Points');
      const freshest = uriAfter(text, 'X509v3 Freshest CRL');
      assert.equal(cdp, `${herald.url}/pki/crl/${issuingId}.crl`);
      assert.equal(freshest, `${herald.url}/pki/crl/${issuingId}-delta.crl`);

      const accepted = verify(leaf, [await fetchCrl(cdp, 'full-1')]);
      assert.equal(accepted.status, 0, accepted.output);
      assert.match(accepted.stdout, /leaf\.pem: OK/);

      // The operator revokes with the real CLI, on the same database: a new delta at once.
      const serialFromOpenssl = opensslOk(['x509', '-in', leaf, '-noout', '-serial']).trim();
      const revoked = await ca('revoke', serialFromOpenssl, '--reason', 'keyCompromise');
      assert.match(
        revoked.stdout,
        new RegExp(
          `revoked certificate ${certificate.serial} \\(keyCompromise\\); a new delta CRL is published`,
        ),
      );
      const withDelta = verify(
        leaf,
        [await fetchCrl(cdp, 'full-2'), await fetchCrl(freshest, 'delta-2')],
        ['-use_deltas'],
      );
      assert.notEqual(withDelta.status, 0);
      assert.match(withDelta.output, /certificate revoked/);

      // `herald ca crl`: a new full CRL lists it on its own.
      const regenerated = await ca('crl');
      assert.match(regenerated.stdout, new RegExp(`${issuingId} +full`));
      const rejected = verify(leaf, [await fetchCrl(cdp, 'full-3')]);
      assert.notEqual(rejected.status, 0);
      assert.match(rejected.output, /certificate revoked/);

      const shown = await api('GET', `/certificates/${certificate.serial.toUpperCase()}`);
      assert.equal(shown.json.status, 'revoked');
      assert.equal(shown.json.revocationReason, 'keyCompromise');
      const twice = await api('POST', `/certificates/${certificate.serial}/revoke`, { reason: 'superseded' });
      assert.equal(twice.status, 200);
      assert.equal(twice.json.alreadyRevoked, true);
      assert.equal(
        (twice.json.certificate as { revocationReason: string }).revocationReason,
        'keyCompromise',
      );
    });

    test('a generated key as PKCS #12 that openssl opens; list filters; revoke through the API; POST /crl', async () => {
      const answer = await api('POST', '/certificates', {
        template: 'ens',
        generateKey: true,
        values: { ...ALICE_VALUES, DeviceUid: 'AndroidP9' },
      });
      assert.equal(answer.status, 201, answer.text);
      const serial = (answer.json.certificate as { serial: string }).serial;
      const passphrase = String(answer.json.passphrase);
      dir.write('device.p12', Buffer.from(String(answer.json.pkcs12), 'base64'));
      const opened = opensslOk([
        'pkcs12',
        '-in',
        dir.file('device.p12'),
        '-passin',
        `pass:${passphrase}`,
        '-nodes',
      ]);
      assert.match(opened, /BEGIN PRIVATE KEY/);
      assert.match(opened, /subject=CN ?= ?AndroidP9, O ?= ?Contoso/);
      assert.match(opened, /subject=CN ?= ?Herald Issuing CA/, 'the chain is included');

      const issued = await api('GET', '/certificates?status=issued&template=ens');
      assert.deepEqual(
        (issued.json.certificates as Array<{ serial: string }>).map((c) => c.serial),
        [serial],
      );
      const revoked = await api('POST', `/certificates/${serial}/revoke`, {});
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.json.alreadyRevoked, false);
      assert.equal(revoked.json.crlPublished, true);
      assert.equal(
        (revoked.json.certificate as { revocationReason: string }).revocationReason,
        'unspecified',
      );
      assert.equal(
        ((await api('GET', '/certificates?status=issued')).json.certificates as unknown[]).length,
        0,
      );

      const listed = await ca('list', '--status', 'revoked');
      assert.match(listed.stdout, /^SERIAL +STATUS +TEMPLATE/);
      assert.ok(listed.stdout.includes(serial));
      const json = JSON.parse((await ca('list', '--json')).stdout) as unknown;
      assert.deepEqual(json, (await api('GET', '/certificates')).json);

      const before = await herald.service.store.pki.crls.latest(issuingId, 'full');
      const crls = await api('POST', '/crl');
      assert.equal(crls.status, 200, crls.text);
      const made = crls.json.crls as Array<{ authorityId: string; kind: string; number: number }>;
      assert.ok(
        made.some((c) => c.authorityId === issuingId && c.kind === 'full' && c.number > before!.number),
      );
      assert.ok(made.some((c) => c.authorityId === issuingId && c.kind === 'delta'));
    });

    test('error/issuing and revoking: bad CSR, both or neither of csr and generateKey, unknown serial or reason', async () => {
      const cases: Array<[string, string, string, unknown, number, string]> = [
        ['not a CSR', 'POST', '/certificates', { template: 'ens', csr: 'hello' }, 400, 'pki_invalid_csr'],
        [
          'csr and generateKey',
          'POST',
          '/certificates',
          { template: 'ens', csr: 'x', generateKey: true, values: ALICE_VALUES },
          400,
          'invalid_request',
        ],
        [
          'neither',
          'POST',
          '/certificates',
          { template: 'ens', values: ALICE_VALUES },
          400,
          'invalid_request',
        ],
        [
          'a generated key without values',
          'POST',
          '/certificates',
          { template: 'ens', generateKey: true },
          400,
          'invalid_request',
        ],
        [
          'an unknown lookup key',
          'POST',
          '/certificates',
          { template: 'ens', generateKey: true, values: { Upn: 'x' } },
          400,
          'invalid_request',
        ],
        [
          'an unknown template',
          'POST',
          '/certificates',
          { template: 'nope', generateKey: true, values: ALICE_VALUES },
          404,
          'pki_template_not_found',
        ],
        ['an unknown serial', 'POST', '/certificates/0abc/revoke', {}, 404, 'pki_certificate_not_found'],
        ['a serial that is not hex', 'GET', '/certificates/xyz', undefined, 400, 'invalid_request'],
        ['an unknown certificate', 'GET', '/certificates/0abc', undefined, 404, 'pki_certificate_not_found'],
      ];
      for (const [what, method, path, body, status, errorCode] of cases) {
        const answer = await api(method, path, body);
        assert.equal(answer.status, status, `${what}: ${answer.text}`);
        assert.equal(code(answer), errorCode, what);
      }
      const small = opensslCsr(dir, 'small', { bits: 1024 });
      const weak = await api('POST', '/certificates', { template: 'ens', csr: small, values: ALICE_VALUES });
      assert.equal(weak.status, 400);
      assert.equal(code(weak), 'pki_key_rejected');
      const some = (await api('GET', '/certificates')).json.certificates as Array<{ serial: string }>;
      const hold = await api('POST', `/certificates/${some[0]!.serial}/revoke`, {
        reason: 'certificateHold',
      });
      assert.equal(hold.status, 400);
      assert.equal(code(hold), 'pki_invalid_reason');
      // The CLI says the same, with the code, and exits 1.
      await assert.rejects(
        ca('revoke', '0abc'),
        (error: { code: number; stderr: string; stdout: string }) => {
          assert.equal(error.code, 1);
          assert.match(
            error.stderr,
            /no certificate with serial 0abc was issued by this CA \(pki_certificate_not_found\)/,
          );
          assert.equal(error.stdout, '');
          return true;
        },
      );
    });

    test('a device that unenrols through the device API has its certificates revoked (cessationOfOperation)', async () => {
      await herald.service.store.registrations.insert(
        exampleRegistration({
          id: 'reg-pki-1',
          tenantId: TENANT.id,
          pushToken: 'pki-unenrol-token-0123456789',
        }),
      );
      const issued = await api('POST', '/certificates', {
        template: 'ens',
        generateKey: true,
        values: ALICE_VALUES,
        registrationId: 'reg-pki-1',
      });
      assert.equal(issued.status, 201, issued.text);
      const serial = (issued.json.certificate as { serial: string }).serial;
      const device = deviceClient(herald.url, TENANT.apiToken);
      assert.equal((await device('DELETE', '/v1/registrations/reg-pki-1')).status, 204);

      const after = await api('GET', `/certificates/${serial}`);
      assert.equal(after.json.status, 'revoked');
      assert.equal(after.json.revocationReason, 'cessationOfOperation');
      // Published at once in the delta CRL.
      const { body } = await fetchBytes(`${herald.url}/pki/crl/${issuingId}-delta.crl`);
      dir.write('unenrol-delta.der', body);
      const text = opensslOk([
        'crl',
        '-inform',
        'DER',
        '-in',
        dir.file('unenrol-delta.der'),
        '-noout',
        '-text',
      ]);
      assert.ok(text.toLowerCase().includes(`serial number: ${serial}`), text);
      assert.match(text, /Cessation Of Operation/);
    });

    test('device profiles: .mobileconfig and Android .json, each with a new one-time challenge', async () => {
      const body = {
        template: 'ens',
        deviceUid: 'ApplF2LX9',
        user: ALICE.user,
        email: ALICE.email,
        gatewayHost: 'mail.contoso.example:8443',
        organization: 'Contoso',
      };
      const ios = await fetch(`${herald.url}/api/pki/v1/profiles/mobileconfig`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminTokenOf(herald)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(ios.status, 200);
      assert.equal(ios.headers.get('content-type'), 'application/x-apple-aspen-config');
      assert.equal(ios.headers.get('cache-control'), 'no-store');
      assert.match(
        ios.headers.get('content-disposition') ?? '',
        /^attachment; filename="[\w.-]+\.device\.ApplF2LX9\.mobileconfig"$/,
      );
      const plist = parsePlist(await ios.text()) as { PayloadContent: Array<Record<string, unknown>> };
      const scep = plist.PayloadContent.find((p) => p.PayloadType === 'com.apple.security.scep')!;
      const scepContent = scep.PayloadContent as { URL: string; Challenge: string };
      assert.equal(scepContent.URL, `${herald.url}/pki/scep`);
      assert.match(scepContent.Challenge, /^[0-9A-F]{32}$/);
      const eas = plist.PayloadContent.find((p) => p.PayloadType === 'com.apple.eas.account')!;
      assert.equal(eas.Host, 'mail.contoso.example:8443');

      // The operator contract's form: GET {deviceUid}.mobileconfig, the rest in the query.
      const query = new URLSearchParams({
        template: 'ens',
        user: ALICE.user,
        email: ALICE.email,
        gatewayHost: 'mail.contoso.example:8443',
      });
      const viaGet = await fetch(`${herald.url}/api/pki/v1/profiles/ApplF2LX9.mobileconfig?${query}`, {
        headers: { authorization: `Bearer ${adminTokenOf(herald)}` },
      });
      assert.equal(viaGet.status, 200);
      assert.equal(viaGet.headers.get('content-type'), 'application/x-apple-aspen-config');
      const got = parsePlist(await viaGet.text()) as { PayloadContent: Array<Record<string, unknown>> };
      const gotScep = got.PayloadContent.find((p) => p.PayloadType === 'com.apple.security.scep')!;
      const gotEas = got.PayloadContent.find((p) => p.PayloadType === 'com.apple.eas.account')!;
      assert.equal(gotEas.PayloadCertificateUUID, gotScep.PayloadUUID);
      assert.notEqual((gotScep.PayloadContent as { Challenge: string }).Challenge, scepContent.Challenge);
      const logged = herald.logs.text();
      assert.ok(!logged.includes(encodeURIComponent(ALICE.email)) && !logged.includes(ALICE.email));

      const android = await api('POST', '/profiles/android', body);
      assert.equal(android.status, 200, android.text);
      const certificate = android.json.certificate as { challenge: string; subject: string; scepUrl: string };
      assert.equal(certificate.subject, 'CN=ApplF2LX9, O=Contoso');
      assert.match(certificate.challenge, /^[0-9A-F]{32}$/);
      assert.notEqual(certificate.challenge, scepContent.Challenge, 'a new challenge per profile');
      const expires = Date.parse(android.headers.get('x-herald-challenge-expires') ?? '');
      assert.ok(expires > Date.now() + 59 * 60_000);

      const cases: Array<[string, string, unknown, number, string]> = [
        [
          'a static template',
          '/profiles/android',
          { ...body, template: 'kiosk' },
          400,
          'pki_invalid_template',
        ],
        [
          'a gateway given as a URL',
          '/profiles/android',
          { ...body, gatewayHost: 'https://mail' },
          400,
          'pki_invalid_values',
        ],
        [
          'no organization',
          '/profiles/android',
          { ...body, organization: undefined },
          400,
          'invalid_request',
        ],
        ['another platform', '/profiles/windows', body, 400, 'invalid_request'],
      ];
      for (const [what, path, payload, status, errorCode] of cases) {
        const answer = await api('POST', path, payload);
        assert.equal(answer.status, status, `${what}: ${answer.text}`);
        assert.equal(code(answer), errorCode, what);
      }
      assert.equal((await api('POST', '/profiles/android', body, null)).status, 401);
    });

    test('herald ca template add|list, challenge, issue --csr and --generate-key, as an operator runs them', async () => {
      const added = JSON.parse(
        (
          await ca(
            'template',
            'add',
            'laptops',
            '--subject',
            'CN={DeviceUid},OU=Laptops',
            '--san-upn',
            '{UserPrincipalName}',
            '--key-size',
            '3072',
            '--days',
            '90',
            '--renew-days',
            '14',
          )
        ).stdout,
      ) as Record<string, unknown>;
      assert.deepEqual((await api('GET', '/templates/laptops')).json, added);
      assert.equal(added.keySize, 3072);
      const table = (await ca('template', 'list')).stdout;
      assert.match(table, /^NAME +CHALLENGE +KEY +DAYS/);
      assert.match(table, /laptops +dynamic +3072 +90 +14 +yes +CN=\{DeviceUid\},OU=Laptops/);
      assert.equal(table.includes('static-secret'), false);

      const challenge = await ca(
        'challenge',
        '--template',
        'laptops',
        '--user',
        ALICE.user,
        '--device-uid',
        'LT-7',
      );
      assert.match(challenge.stdout, /^[0-9A-F]{32}\n$/);
      assert.match(challenge.stderr, /expires at \d{4}-/);

      opensslCsr(dir, 'laptop', { bits: 3072 });
      const pem = await ca(
        'issue',
        '--template',
        'laptops',
        '--csr',
        dir.file('laptop.csr'),
        '--user',
        ALICE.user,
        '--device-uid',
        'LT-7',
      );
      const laptop = new X509Certificate(pem.stdout);
      assert.equal(laptop.subject, 'CN=LT-7\nOU=Laptops');
      assert.equal(laptop.subjectAltName, `othername:UPN:${ALICE.user}`);
      assert.match(pem.stderr, new RegExp(`issued certificate ${laptop.serialNumber.toLowerCase()}`));

      const out = dir.file('generated.p12');
      const generated = JSON.parse(
        (
          await ca(
            'issue',
            '--template',
            'ens',
            '--generate-key',
            '--out',
            out,
            '--user',
            ALICE.user,
            '--email',
            ALICE.email,
            '--device-uid',
            'GEN-1',
          )
        ).stdout,
      ) as { serial: string; passphrase: string; file: string };
      assert.equal(generated.file, out);
      assert.equal(statSync(out).mode & 0o777, 0o600, 'the key file is private');
      const opened = opensslOk([
        'pkcs12',
        '-in',
        out,
        '-passin',
        `pass:${generated.passphrase}`,
        '-nokeys',
        '-clcerts',
      ]);
      assert.match(opened, /subject=CN ?= ?GEN-1, O ?= ?Contoso/);

      // Mistakes exit 1 with the code and store nothing.
      await assert.rejects(
        ca('template', 'add', 'laptops', '--subject', 'CN=x'),
        (error: { code: number; stderr: string }) => {
          assert.equal(error.code, 1);
          assert.match(error.stderr, /a template named laptops exists already \(pki_template_exists\)/);
          return true;
        },
      );
      await assert.rejects(ca('issue', '--template', 'ens'), /--csr FILE or --generate-key/);
    });

    test('the PKI routes are not in the device API OpenAPI document', async () => {
      const document = (await (await fetch(`${herald.url}/api/ens/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      const paths = Object.keys(document.paths);
      assert.ok(paths.length > 0);
      assert.deepEqual(
        paths.filter((path) => /pki|scep|crl/.test(path)),
        [],
      );
    });
  });
}
