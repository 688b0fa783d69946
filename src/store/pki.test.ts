/**
 * The certificate authority's repositories on SQLite and PostgreSQL: one active CA per role,
 * DER round trips, revocation as a compare-and-set, CRL numbering, single-use challenges.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Store, StoreConflictError } from './index.ts';
import { forEachDatabase } from './testing.ts';
import type { NewPkiAuthority, NewPkiCertificate } from './types.ts';

const DAY = 86_400_000;

function authority(overrides: Partial<NewPkiAuthority> = {}): NewPkiAuthority {
  return {
    id: 'root-1',
    role: 'root',
    subject: 'CN=Herald Root CA',
    fingerprint: randomBytes(32).toString('hex'),
    certificateDer: randomBytes(300),
    privateKeyEnc: 'v1.sealed',
    issuerId: null,
    active: true,
    notBefore: 1_700_000_000_000,
    notAfter: 1_700_000_000_000 + 365 * DAY,
    ...overrides,
  };
}

function certificate(overrides: Partial<NewPkiCertificate> = {}): NewPkiCertificate {
  return {
    serial: randomBytes(16).toString('hex'),
    authorityId: 'issuing-1',
    template: 'devices',
    subject: 'CN=device-1',
    sanEmail: 'alice@corp.example',
    sanUpn: 'alice@corp.example',
    notBefore: 1_700_000_000_000,
    notAfter: 1_700_000_000_000 + 30 * DAY,
    registrationId: null,
    transactionId: null,
    certificateDer: randomBytes(200),
    ...overrides,
  };
}

async function withCas(store: Store): Promise<void> {
  await store.pki.authorities.insert(authority());
  await store.pki.authorities.insert(
    authority({ id: 'issuing-1', role: 'issuing', subject: 'CN=Herald Issuing CA', issuerId: 'root-1' }),
  );
}

forEachDatabase(
  'pki/authorities: DER and sealed key round trip; one active per role',
  async (store, { clock }) => {
    const root = authority();
    const stored = await store.pki.authorities.insert(root);
    assert.deepEqual(stored, { ...root, createdAt: clock.now() });
    assert.ok(Buffer.isBuffer(stored.certificateDer));
    assert.deepEqual(await store.pki.authorities.get('root-1'), stored);
    assert.deepEqual(await store.pki.authorities.findByFingerprint(root.fingerprint), stored);
    assert.equal((await store.pki.authorities.active('root'))?.id, 'root-1');
    assert.equal(await store.pki.authorities.active('issuing'), undefined);

    // A second active root is refused by the partial unique index: two nodes on their first start.
    await assert.rejects(store.pki.authorities.insert(authority({ id: 'root-2' })), StoreConflictError);
    // The same certificate twice is refused too.
    await assert.rejects(
      store.pki.authorities.insert(authority({ id: 'root-3', active: false, fingerprint: root.fingerprint })),
      StoreConflictError,
    );
    // Inactive ones are fine, and replacing the active one works in a transaction.
    await store.pki.authorities.insert(authority({ id: 'root-old', active: false }));
    await store.transaction(async (tx) => {
      assert.equal(await tx.pki.authorities.deactivate('root'), true);
      await tx.pki.authorities.insert(authority({ id: 'root-2' }));
    });
    assert.equal((await store.pki.authorities.active('root'))?.id, 'root-2');
    assert.equal((await store.pki.authorities.get('root-1'))?.active, false);
    await assert.rejects(store.pki.authorities.activate('root-1'), StoreConflictError);
    assert.deepEqual(
      (await store.pki.authorities.list()).map((a) => a.id),
      ['root-1', 'root-2', 'root-old'],
    );
  },
);

forEachDatabase('pki/templates: create, get, list, duplicate refused', async (store) => {
  const template = {
    name: 'devices',
    subject: 'CN={DeviceUid},O=Contoso',
    sanEmail: '{EmailAddress}',
    sanUpn: null,
    keySize: 2048,
    days: 365,
    renewDays: 30,
    challenge: 'static' as const,
    challengeSecretEnc: 'v1.sealed-secret',
    revokeOnUnenrol: true,
  };
  const created = await store.pki.templates.create(template);
  assert.equal(created.revokeOnUnenrol, true);
  assert.deepEqual(await store.pki.templates.get('devices'), created);
  await assert.rejects(store.pki.templates.create(template), StoreConflictError);
  await store.pki.templates.create({ ...template, name: 'aa', revokeOnUnenrol: false, challenge: 'dynamic' });
  assert.deepEqual(
    (await store.pki.templates.list()).map((t) => [t.name, t.revokeOnUnenrol, t.challenge]),
    [
      ['aa', false, 'dynamic'],
      ['devices', true, 'static'],
    ],
  );
});

forEachDatabase(
  'pki/certificates: revoke is a compare-and-set; revoked() feeds CRLs',
  async (store, { clock }) => {
    await withCas(store);
    const a = await store.pki.certificates.insert(certificate({ serial: '0a', registrationId: 'reg-1' }));
    clock.advance(1000);
    const b = await store.pki.certificates.insert(certificate({ serial: '0b', transactionId: 'tx-1' }));
    clock.advance(1000);
    // Expired before the CRL's time: leaves the CRL.
    await store.pki.certificates.insert(certificate({ serial: '0c', notAfter: 1_700_000_000_000 + DAY }));
    await assert.rejects(store.pki.certificates.insert(certificate({ serial: '0a' })), StoreConflictError);
    assert.equal(a.status, 'issued');
    assert.deepEqual(await store.pki.certificates.get('0a'), a);
    assert.equal((await store.pki.certificates.findByTransaction('tx-1'))?.serial, b.serial);
    assert.equal(await store.pki.certificates.findByTransaction('tx-2'), undefined);

    const t1 = clock.advance(1000);
    const revoked = await store.pki.certificates.revoke('0a', 'keyCompromise', t1);
    assert.equal(revoked?.status, 'revoked');
    assert.equal(revoked?.revokedAt, t1);
    assert.equal(revoked?.revocationReason, 'keyCompromise');
    // Twice: nothing changes, the first reason stays.
    assert.equal(await store.pki.certificates.revoke('0a', 'superseded', t1 + 5), undefined);
    assert.equal((await store.pki.certificates.get('0a'))?.revocationReason, 'keyCompromise');
    assert.equal(await store.pki.certificates.revoke('ff', 'superseded', t1), undefined);
    const t2 = clock.advance(1000);
    await store.pki.certificates.revoke('0b', 'superseded', t2);
    await store.pki.certificates.revoke('0c', 'superseded', t2);

    const at = 1_700_000_000_000 + 2 * DAY;
    assert.deepEqual(await store.pki.certificates.revoked('issuing-1', { notExpiredAt: at }), [
      { serial: '0a', revokedAt: t1, revocationReason: 'keyCompromise' },
      { serial: '0b', revokedAt: t2, revocationReason: 'superseded' },
    ]);
    assert.deepEqual(
      (await store.pki.certificates.revoked('issuing-1', { notExpiredAt: at, revokedSince: t2 })).map(
        (e) => e.serial,
      ),
      ['0b'],
    );
    assert.deepEqual(await store.pki.certificates.revoked('root-1', { notExpiredAt: at }), []);

    assert.deepEqual(
      (await store.pki.certificates.list({ limit: 10 })).map((c) => c.serial),
      ['0c', '0b', '0a'],
    );
    assert.deepEqual(
      (await store.pki.certificates.list({ limit: 10, registrationId: 'reg-1' })).map((c) => c.serial),
      ['0a'],
    );
    assert.equal((await store.pki.certificates.list({ limit: 10, status: 'issued' })).length, 0);
    assert.equal((await store.pki.certificates.list({ limit: 2, template: 'devices' })).length, 2);
  },
);

forEachDatabase('pki/crls: numbering, latest per kind, conflicts, pruning', async (store) => {
  await withCas(store);
  assert.equal(await store.pki.crls.lastNumber('issuing-1'), 0);
  const base = {
    authorityId: 'issuing-1',
    baseNumber: null,
    thisUpdate: 1_700_000_000_000,
    nextUpdate: 1_700_000_000_000 + 7 * DAY,
    der: randomBytes(100),
  };
  await store.pki.crls.insert({ ...base, number: 1, kind: 'full' });
  await store.pki.crls.insert({ ...base, number: 2, kind: 'delta', baseNumber: 1 });
  const full3 = await store.pki.crls.insert({ ...base, number: 3, kind: 'full' });
  await assert.rejects(store.pki.crls.insert({ ...base, number: 3, kind: 'delta' }), StoreConflictError);
  assert.equal(await store.pki.crls.lastNumber('issuing-1'), 3);
  assert.equal(await store.pki.crls.lastNumber('root-1'), 0);
  assert.deepEqual(await store.pki.crls.latest('issuing-1', 'full'), full3);
  assert.equal((await store.pki.crls.latest('issuing-1', 'delta'))?.baseNumber, 1);
  assert.equal(await store.pki.crls.prune('issuing-1', 3), 2);
  assert.equal(await store.pki.crls.latest('issuing-1', 'delta'), undefined);
  assert.ok(Buffer.isBuffer(full3.der));
});

forEachDatabase('pki/challenges: single use, expiry, concurrent consumers', async (store, { clock }) => {
  const now = clock.now();
  const challenge = {
    hash: 'h'.repeat(64),
    template: 'devices',
    lookupValues: { DeviceUid: 'dev-1', EmailAddress: 'alice@corp.example' },
    registrationId: 'reg-1',
    expiresAt: now + 60 * 60_000,
  };
  const stored = await store.pki.challenges.insert(challenge);
  assert.deepEqual(stored, { ...challenge, usedAt: null, createdAt: now });

  const used = await store.pki.challenges.consume(challenge.hash, now + 1000);
  assert.deepEqual(used?.lookupValues, challenge.lookupValues);
  assert.equal(used?.usedAt, now + 1000);
  assert.equal(await store.pki.challenges.consume(challenge.hash, now + 2000), undefined);
  assert.equal(await store.pki.challenges.consume('x'.repeat(64), now), undefined);

  // Expired: refused at its expiry instant already.
  await store.pki.challenges.insert({ ...challenge, hash: 'e'.repeat(64) });
  assert.equal(await store.pki.challenges.consume('e'.repeat(64), challenge.expiresAt), undefined);
  assert.equal((await store.pki.challenges.get('e'.repeat(64)))?.usedAt, null);

  // Ten consumers at once: exactly one wins (PostgreSQL's pool runs them concurrently).
  await store.pki.challenges.insert({ ...challenge, hash: 'r'.repeat(64) });
  const results = await Promise.all(
    Array.from({ length: 10 }, () => store.pki.challenges.consume('r'.repeat(64), now + 5)),
  );
  assert.equal(results.filter((r) => r !== undefined).length, 1);

  assert.equal(await store.pki.challenges.deleteExpired(challenge.expiresAt + 1), 3);
  assert.equal(await store.pki.challenges.get(challenge.hash), undefined);
});
