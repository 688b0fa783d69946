/**
 * The CA as `herald serve` runs it: nothing is created at start or by anonymous reads; the first
 * `get()` creates it once, however many ask at the same moment; an existing CA is opened at
 * start with its CRLs made fresh (a restart after a long stop) and its scheduler holding the
 * CRL lease until close(); unenrolment revokes only where a CA exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../test/support/wait.ts';
import { configSchema } from '../config/index.ts';
import { CRL_LEASE, PKI_DEFAULTS } from '../pki/index.ts';
import { silentLogger, TEST_MASTER } from '../pki/testing.ts';
import type { Store } from '../store/index.ts';
import { forEachDatabase } from '../store/testing.ts';
import { pkiSettingsFrom, ServedCertificateAuthority } from './certificate-authority.ts';

const DAY = 86_400_000;

function served(store: Store, now: () => number, owner?: string) {
  return new ServedCertificateAuthority({
    store,
    master: TEST_MASTER,
    publicUrl: 'http://herald.test:8080',
    logger: silentLogger(),
    settings: { rootKeyBits: 3072, issuingKeyBits: 2048 },
    now,
    ...(owner ? { owner } : {}),
  });
}

test('pkiSettingsFrom maps every pki key onto the CA settings', () => {
  const { pki } = configSchema.parse({
    pki: {
      rootKeyBits: 3072,
      issuingKeyBits: 4096,
      crl: { fullHours: 48, deltaHours: 6 },
      challengeMinutes: 30,
      schedulerIntervalMinutes: 5,
    },
  });
  assert.deepEqual(pkiSettingsFrom(pki), {
    rootKeyBits: 3072,
    issuingKeyBits: 4096,
    fullCrlHours: 48,
    deltaCrlHours: 6,
    challengeMinutes: 30,
    schedulerIntervalMinutes: 5,
  });
  // The defaults of the config are the CA's own.
  const defaults = pkiSettingsFrom(configSchema.parse({}).pki);
  for (const [key, value] of Object.entries(defaults)) {
    assert.equal(value, PKI_DEFAULTS[key as keyof typeof PKI_DEFAULTS], key);
  }
});

forEachDatabase(
  'service/ca: created on first use only, once for concurrent callers',
  async (store, { clock }) => {
    const ca = served(store, clock.now, 'node-a');
    await ca.start();
    assert.equal(ca.current(), undefined);
    assert.equal(await ca.existing(), undefined);
    assert.deepEqual(await ca.revokeForRegistration('reg-1'), []);
    assert.deepEqual(await store.pki.authorities.list(), [], 'nothing created by start or by asking');

    const [a, b] = await Promise.all([ca.get(), ca.get()]);
    assert.equal(a, b);
    assert.equal(ca.current(), a);
    assert.equal(await ca.existing(), a);
    assert.deepEqual((await store.pki.authorities.list()).map((x) => x.role).sort(), ['issuing', 'root']);
    // Its scheduler runs on this node.
    assert.equal((await store.leases.get(CRL_LEASE))?.owner, 'node-a');
    await ca.close();
    assert.equal(await store.leases.get(CRL_LEASE), undefined, 'close() handed the lease on');
  },
);

forEachDatabase(
  'service/ca: an existing CA is opened at start, stale CRLs remade',
  async (store, { clock }) => {
    const first = served(store, clock.now);
    const created = await first.get();
    const issuingId = created.issuingId;
    const before = await store.pki.crls.latest(issuingId, 'full');
    assert.ok(before);
    await first.close();

    // Herald was stopped for six days: less than a quarter of the 7-day full CRL is left.
    clock.advance(6 * DAY);
    const restarted = served(store, clock.now, 'node-b');
    await restarted.start();
    assert.equal(restarted.current()?.issuingId, issuingId, 'opened at start, not created again');
    const after = await store.pki.crls.latest(issuingId, 'full');
    assert.ok(after && after.number > before.number, 'a new full CRL at start');
    assert.equal(after.thisUpdate, clock.now());
    await waitFor(async () => (await store.leases.get(CRL_LEASE))?.owner === 'node-b', 'the CRL lease');
    await restarted.close();

    // A CLI-style handle (no owner) runs no scheduler.
    const cli = served(store, clock.now);
    await cli.start();
    assert.ok(cli.current());
    assert.equal(await store.leases.get(CRL_LEASE), undefined);
    await cli.close();
  },
);
