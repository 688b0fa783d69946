/**
 * The shared provider-token store: a compare-and-set on (name, issued_at) so that nodes racing to
 * refresh an APNs provider token agree on one winner.
 */
import assert from 'node:assert/strict';
import { forEachDatabase } from './testing.ts';

const T = 1_700_000_000_000;
const NAME = 'apns/TEAM123456/KEY1234567';

forEachDatabase('provider-tokens/absent until the first replace, which inserts', async (store, { clock }) => {
  assert.equal(await store.providerTokens.get(NAME), undefined);
  assert.equal(await store.providerTokens.replace(NAME, { tokenEnc: 'sealed-1', issuedAt: T }, null), true);
  assert.deepEqual(await store.providerTokens.get(NAME), {
    name: NAME,
    tokenEnc: 'sealed-1',
    issuedAt: T,
    updatedAt: clock.now(),
  });
  // Names are independent.
  assert.equal(await store.providerTokens.get('apns/TEAM123456/OTHERKEY00'), undefined);
});

forEachDatabase(
  'provider-tokens/insert refused when a token exists; replace only the one seen',
  async (store, { clock }) => {
    await store.providerTokens.replace(NAME, { tokenEnc: 'sealed-1', issuedAt: T }, null);
    assert.equal(
      await store.providerTokens.replace(NAME, { tokenEnc: 'sealed-x', issuedAt: T + 1 }, null),
      false,
    );
    // Expecting another token than the stored one: nothing changes.
    assert.equal(
      await store.providerTokens.replace(NAME, { tokenEnc: 'sealed-x', issuedAt: T + 1 }, T - 1),
      false,
    );
    assert.equal((await store.providerTokens.get(NAME))?.tokenEnc, 'sealed-1');
    clock.advance(50 * 60_000);
    const later = T + 50 * 60_000;
    assert.equal(
      await store.providerTokens.replace(NAME, { tokenEnc: 'sealed-2', issuedAt: later }, T),
      true,
    );
    assert.deepEqual(await store.providerTokens.get(NAME), {
      name: NAME,
      tokenEnc: 'sealed-2',
      issuedAt: later,
      updatedAt: clock.now(),
    });
    // The old expectation is stale now.
    assert.equal(
      await store.providerTokens.replace(NAME, { tokenEnc: 'sealed-3', issuedAt: later + 1 }, T),
      false,
    );
  },
);

forEachDatabase(
  'provider-tokens/race: of concurrent replaces of one token exactly one wins',
  async (store) => {
    for (let round = 0; round < 5; round++) {
      const name = `${NAME}/${round}`;
      const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
      // The first token: concurrent inserts.
      const inserted = await Promise.all(
        nodes.map((n, i) =>
          store.providerTokens.replace(name, { tokenEnc: `first-${n}`, issuedAt: T + i }, null),
        ),
      );
      assert.equal(inserted.filter(Boolean).length, 1, `round ${round} insert: ${inserted.join(',')}`);
      const first = await store.providerTokens.get(name);
      assert.equal(first?.tokenEnc, `first-${nodes[inserted.indexOf(true)]}`);
      // The refresh: every node saw the same token and replaces it with its own.
      const replaced = await Promise.all(
        nodes.map((n, i) =>
          store.providerTokens.replace(
            name,
            { tokenEnc: `second-${n}`, issuedAt: T + 100 + i },
            first!.issuedAt,
          ),
        ),
      );
      assert.equal(replaced.filter(Boolean).length, 1, `round ${round} replace: ${replaced.join(',')}`);
      const winner = nodes[replaced.indexOf(true)]!;
      assert.deepEqual(
        [(await store.providerTokens.get(name))?.tokenEnc, (await store.providerTokens.get(name))?.issuedAt],
        [`second-${winner}`, T + 100 + nodes.indexOf(winner)],
      );
    }
  },
);

forEachDatabase('provider-tokens/replace composes with a transaction', async (store) => {
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.providerTokens.replace(NAME, { tokenEnc: 'sealed-1', issuedAt: T }, null);
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await store.providerTokens.get(NAME), undefined);
});
