/**
 * The CA's life: created on the first start with the issue's parameters, keys sealed under the
 * master key (the database never holds them in clear), loaded again on the next start, created
 * once when two nodes start together, CRLs regenerated when near nextUpdate, one scheduler at a time.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import { masterKeyFromBytes } from '../crypto/index.ts';
import { forEachDatabase } from '../store/testing.ts';
import { CA_KEY_PURPOSE } from './authorities.ts';
import { openCertificateAuthority } from './ca.ts';
import { isPkiError } from './errors.ts';
import {
  opensslOk,
  openTestCa,
  silentLogger,
  TEST_MASTER,
  TEST_PUBLIC_URL,
  tempDir,
  writeChain,
} from './testing.ts';

const HOUR = 3_600_000;

forEachDatabase(
  'pki/ca: first start creates the root and issuing CA; keys sealed, never in clear',
  async (store, { t }) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    // Production defaults: RSA 4096 root for 20 years, RSA 3072 issuing CA for 10 years.
    const ca = await openCertificateAuthority({
      store,
      master: TEST_MASTER,
      publicUrl: TEST_PUBLIC_URL,
      logger: silentLogger(),
    });
    const chain = writeChain(dir, ca);
    const root = opensslOk(['x509', '-in', chain.root, '-noout', '-text']);
    const issuing = opensslOk(['x509', '-in', chain.issuing, '-noout', '-text']);
    assert.match(root, /Subject: CN = Herald Root CA/);
    assert.match(root, /Issuer: CN = Herald Root CA/);
    assert.match(root, /Public-Key: \(4096 bit\)/);
    assert.match(root, /CA:TRUE\n/);
    assert.match(root, /Certificate Sign, CRL Sign/);
    assert.match(issuing, /Subject: CN = Herald Issuing CA/);
    assert.match(issuing, /Public-Key: \(3072 bit\)/);
    assert.match(issuing, /CA:TRUE, pathlen:0/);
    assert.ok(issuing.includes(`URI:${TEST_PUBLIC_URL}/pki/crl/${ca.rootId}.crl`));
    assert.ok(issuing.includes(`CA Issuers - URI:${TEST_PUBLIC_URL}/pki/ca/${ca.rootId}.crt`));
    assert.equal(opensslOk(['verify', '-CAfile', chain.root, chain.issuing]).trim(), `${chain.issuing}: OK`);
    const years = (text: string) => {
      const [, from, to] = /Not Before: (.+)\n\s*Not After : (.+)\n/.exec(text)!;
      return (Date.parse(to!) - Date.parse(from!)) / (365.25 * 24 * HOUR);
    };
    assert.ok(Math.abs(years(root) - 20) < 0.02, `root ${years(root)} years`);
    assert.ok(Math.abs(years(issuing) - 10) < 0.02, `issuing ${years(issuing)} years`);
    assert.equal(ca.chainPem().match(/BEGIN CERTIFICATE/g)?.length, 2);

    // The rows as stored: a sealed key, bound to its row; no PKCS #8 in any column.
    const rows = await sql<{ id: string; role: string; private_key_enc: string }>`
    select id, role, private_key_enc from pki_authorities order by role`.execute(store.db);
    assert.equal(rows.rows.length, 2);
    for (const row of rows.rows) {
      assert.match(row.private_key_enc, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
      const pkcs8 = TEST_MASTER.open(row.private_key_enc, CA_KEY_PURPOSE, row.id);
      const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      const certificate = ca.chainDer()[row.role === 'issuing' ? 0 : 1]!;
      assert.ok(
        createPublicKey(key)
          .export({ type: 'spki', format: 'der' })
          .equals(new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' })),
      );
      // Another row's id, or another master key, does not open it.
      const other = rows.rows.find((r) => r.id !== row.id)!;
      assert.throws(() => TEST_MASTER.open(row.private_key_enc, CA_KEY_PURPOSE, other.id));
      assert.throws(() =>
        masterKeyFromBytes(Buffer.alloc(32, 1)).open(row.private_key_enc, CA_KEY_PURPOSE, row.id),
      );
      const dump = JSON.stringify(
        (await sql`select * from pki_authorities where id = ${row.id}`.execute(store.db)).rows[0],
        (_, value) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value),
      );
      for (const needle of [
        pkcs8.toString('base64'),
        pkcs8.toString('hex'),
        pkcs8.subarray(40, 80).toString('base64'),
      ]) {
        assert.ok(!dump.includes(needle), 'the private key is not stored in clear');
      }
    }

    // The next start loads the same CA.
    const again = await openTestCa(store);
    assert.equal(again.issuingId, ca.issuingId);
    assert.equal(again.rootId, ca.rootId);
    assert.deepEqual(again.chainDer(), ca.chainDer());
    assert.equal((await again.listAuthorities()).length, 2);
  },
);

forEachDatabase('pki/ca: two nodes starting together end up with one CA', async (store) => {
  const [a, b, c] = await Promise.all([openTestCa(store), openTestCa(store), openTestCa(store)]);
  assert.equal(a.issuingId, b.issuingId);
  assert.equal(b.issuingId, c.issuingId);
  const authorities = await a.listAuthorities();
  assert.equal(authorities.filter((x) => x.active).length, 2);
  // The losers' pairs were never stored.
  assert.equal(authorities.length, 2);
});

forEachDatabase('pki/ca: without create, no CA is an error', async (store) => {
  await assert.rejects(
    openCertificateAuthority({
      store,
      master: TEST_MASTER,
      publicUrl: TEST_PUBLIC_URL,
      logger: silentLogger(),
      create: false,
    }),
    (error: unknown) => isPkiError(error, 'pki_unavailable'),
  );
});

forEachDatabase(
  'pki/crl: regenerated when near nextUpdate, at start and by the scheduler',
  async (store, { clock }) => {
    const ca = await openTestCa(store, { now: clock.now });
    const full1 = (await store.pki.crls.latest(ca.issuingId, 'full'))!;
    const delta1 = (await store.pki.crls.latest(ca.issuingId, 'delta'))!;
    assert.equal(full1.nextUpdate - full1.thisUpdate, 7 * 24 * HOUR);
    assert.equal(delta1.nextUpdate - delta1.thisUpdate, 24 * HOUR);
    assert.equal(delta1.baseNumber, full1.number);
    assert.ok(delta1.number > full1.number);
    const rootCrl = (await store.pki.crls.latest(ca.rootId, 'full'))!;
    assert.equal(rootCrl.nextUpdate - rootCrl.thisUpdate, 90 * 24 * HOUR);
    assert.equal(await store.pki.crls.latest(ca.rootId, 'delta'), undefined, 'the root has no deltas');

    // Fresh: nothing to do.
    assert.deepEqual(await ca.ensureFresh(), []);
    // 17 h: the delta still has more than 25 % of its day left.
    clock.advance(17 * HOUR);
    assert.deepEqual(await ca.ensureFresh(), []);
    // 19 h: less than 25 % left: a new delta on the same base.
    clock.advance(2 * HOUR);
    const made = await ca.ensureFresh();
    assert.deepEqual(
      made.map((crl) => [crl.kind, crl.baseNumber]),
      [['delta', full1.number]],
    );

    // Within 25 % of the full CRL's week (after 5.25 days): a new full CRL and a delta on it.
    clock.set(full1.thisUpdate + 5.3 * 24 * HOUR);
    const second = await ca.ensureFresh();
    const kinds = second.map((crl) => `${crl.authorityId === ca.rootId ? 'root' : 'issuing'}:${crl.kind}`);
    assert.deepEqual(kinds, ['issuing:full', 'issuing:delta']);
    const full2 = second[0]!;
    assert.ok(full2.number > delta1.number);
    assert.equal(second[1]!.baseNumber, full2.number);

    // A start after the CRLs expired (the server was down for two weeks) regenerates them at once.
    clock.advance(14 * 24 * HOUR);
    const restarted = await openTestCa(store, { now: clock.now });
    const full3 = (await store.pki.crls.latest(restarted.issuingId, 'full'))!;
    assert.equal(full3.thisUpdate, clock.now());
    assert.ok(full3.nextUpdate > clock.now());

    // A revocation whose delta was never published is caught by the next pass.
    await ca.addTemplate({ name: 't', subject: 'CN={DeviceUid}' });
    const key = await import('node:crypto').then((c) =>
      c.generateKeyPairSync('rsa', { modulusLength: 2048 }),
    );
    const { x509 } = await import('./x509.ts');
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=x',
      keys: {
        privateKey: await key.privateKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, [
          'sign',
        ]),
        publicKey: await key.publicKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, [
          'verify',
        ]),
      },
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    });
    const issued = await restarted.issueFromCsr(csr.toString('pem'), {
      template: 't',
      values: { DeviceUid: 'u' },
    });
    clock.advance(1000);
    // Revoked behind the CA's back (as if its node died before publishing).
    await store.pki.certificates.revoke(issued.serial, 'keyCompromise', clock.now());
    const caught = await restarted.ensureFresh();
    assert.deepEqual(
      caught.map((crl) => crl.kind),
      ['delta'],
    );
  },
);

forEachDatabase('pki/crl: one scheduler at a time, through the pki-crl lease', async (store, { clock }) => {
  const ca = await openTestCa(store, { now: clock.now });
  const one = ca.scheduler('node-1');
  const two = ca.scheduler('node-2');
  assert.equal(await one.run(), true);
  assert.equal(await two.run(), false, 'node-2 waits while node-1 holds the lease');
  // Long expired challenges are cleaned up by the pass.
  await store.pki.challenges.insert({
    hash: 'c'.repeat(64),
    template: 't',
    lookupValues: {},
    registrationId: null,
    expiresAt: clock.now() - 2 * 24 * HOUR,
  });
  assert.equal(await one.run(), true);
  assert.equal(await store.pki.challenges.get('c'.repeat(64)), undefined);
  await one.stop();
  // Released on stop: the other node takes over at once.
  assert.equal(await two.run(), true);
  await two.stop();
});
