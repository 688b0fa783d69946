/**
 * The gateway's compliance rules in the store: what add() refuses, the default priority, the
 * evaluation order list() returns, get and remove; on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { StoreInvalidError } from './errors.ts';
import { forEachDatabase } from './testing.ts';
import type { NewGatewayRule } from './types.ts';

const BLOCK_JAILBROKEN: NewGatewayRule = {
  action: 'block',
  deviceId: 'ApplF17XQ0AAAAA',
  reason: 'reported stolen',
};

forEachDatabase(
  'gateway-rules/add stores the rule as given, user lower-cased, strings trimmed',
  async (store, { clock }) => {
    const rule = await store.gatewayRules.add({
      action: 'allow',
      priority: 5,
      deviceId: ' ApplF17XQ0AAAAA ',
      deviceType: 'iPhone',
      user: ' Alice@Contoso.Example ',
      userAgent: '^Apple-iPhone\\d+C\\d+/',
      reason: ' managed device of the CFO ',
    });
    assert.match(rule.id, /^rule_[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(rule, {
      id: rule.id,
      action: 'allow',
      priority: 5,
      deviceId: 'ApplF17XQ0AAAAA',
      deviceType: 'iPhone',
      user: 'alice@contoso.example',
      userAgent: '^Apple-iPhone\\d+C\\d+/',
      reason: 'managed device of the CFO',
      createdAt: clock.now(),
      updatedAt: clock.now(),
    });
    assert.deepEqual(await store.gatewayRules.get(rule.id), rule);
    // Only the matchers given are set.
    const byType = await store.gatewayRules.add({ action: 'block', deviceType: 'WindowsMail', reason: 'r' });
    assert.deepEqual(
      [byType.deviceId, byType.deviceType, byType.user, byType.userAgent],
      [null, 'WindowsMail', null, null],
    );
    // A space inside or around a pattern can matter: the user agent is not trimmed.
    const spaced = await store.gatewayRules.add({ action: 'block', userAgent: ' Android ', reason: 'r' });
    assert.equal(spaced.userAgent, ' Android ');
    assert.notEqual(spaced.id, byType.id);
  },
);

forEachDatabase('gateway-rules/error/add refuses a rule the gateway could not apply', async (store) => {
  const refused: Array<[string, NewGatewayRule, RegExp]> = [
    [
      'no matcher',
      { action: 'block', reason: 'everything' },
      /at least one of deviceId, deviceType, user or userAgent/,
    ],
    [
      'only null matchers',
      { action: 'block', deviceId: null, user: null, reason: 'everything' },
      /at least one/,
    ],
    ['an empty matcher', { action: 'block', deviceId: '  ', reason: 'r' }, /deviceId is empty/],
    ['an empty user agent', { action: 'block', userAgent: '', reason: 'r' }, /userAgent is empty/],
    [
      'an unterminated group',
      { action: 'block', userAgent: 'Outlook(', reason: 'r' },
      /not a valid regular expression/,
    ],
    [
      'a dangling quantifier',
      { action: 'block', userAgent: '*Android', reason: 'r' },
      /not a valid regular expression/,
    ],
    [
      'a 501-character pattern',
      { action: 'block', userAgent: 'a'.repeat(501), reason: 'r' },
      /501 characters long; at most 500/,
    ],
    ['no reason', { action: 'block', deviceType: 'iPhone', reason: '   ' }, /needs a reason/],
    ['an unknown action', { action: 'deny' as 'block', deviceType: 'iPhone', reason: 'r' }, /allow or block/],
    ['a fractional priority', { ...BLOCK_JAILBROKEN, priority: 1.5 }, /priority must be an integer/],
    ['a priority beyond int4', { ...BLOCK_JAILBROKEN, priority: 2 ** 31 }, /priority must be an integer/],
  ];
  for (const [name, input, message] of refused) {
    await assert.rejects(
      store.gatewayRules.add(input),
      (error: unknown) => {
        assert.ok(error instanceof StoreInvalidError, `${name}: ${String(error)}`);
        assert.equal(error.code, 'invalid');
        assert.match(error.message, message, name);
        return true;
      },
      name,
    );
  }
  assert.deepEqual(await store.gatewayRules.list(), [], 'nothing was stored');
  // The limits themselves are accepted.
  const longest = await store.gatewayRules.add({ action: 'block', userAgent: 'a'.repeat(500), reason: 'r' });
  assert.equal(longest.userAgent?.length, 500);
  const lowest = await store.gatewayRules.add({ ...BLOCK_JAILBROKEN, priority: -(2 ** 31) });
  assert.equal(lowest.priority, -(2 ** 31));
});

forEachDatabase('gateway-rules/priority defaults to the highest + 10', async (store) => {
  const first = await store.gatewayRules.add(BLOCK_JAILBROKEN);
  assert.equal(first.priority, 10);
  const second = await store.gatewayRules.add({ action: 'allow', deviceType: 'iPad', reason: 'r' });
  assert.equal(second.priority, 20);
  await store.gatewayRules.add({ action: 'allow', deviceType: 'iPod', priority: 500, reason: 'r' });
  await store.gatewayRules.add({ action: 'allow', deviceType: 'Palm', priority: -3, reason: 'r' });
  assert.equal(
    (await store.gatewayRules.add({ action: 'allow', user: 'a@b.example', reason: 'r' })).priority,
    510,
  );
  // After the highest is removed, the next default follows the new highest.
  const top = await store.gatewayRules.add({ action: 'allow', user: 'c@b.example', reason: 'r' });
  assert.equal(top.priority, 520);
  assert.equal(await store.gatewayRules.remove(top.id), true);
  assert.equal(
    (await store.gatewayRules.add({ action: 'allow', user: 'd@b.example', reason: 'r' })).priority,
    520,
  );
  // Beyond the integer range: refused rather than wrapped or stored on one dialect only.
  await store.gatewayRules.add({
    action: 'allow',
    user: 'max@b.example',
    priority: 2 ** 31 - 5,
    reason: 'r',
  });
  await assert.rejects(store.gatewayRules.add(BLOCK_JAILBROKEN), StoreInvalidError);
});

forEachDatabase(
  'gateway-rules/list in evaluation order: priority, then the older first',
  async (store, { clock }) => {
    const added: Record<string, string> = {};
    for (const [name, priority] of [
      ['late-30', 30],
      ['first-10', 10],
      ['tie-20-a', 20],
      ['negative', -5],
    ] as const) {
      added[name] = (
        await store.gatewayRules.add({ action: 'block', deviceType: name, priority, reason: name })
      ).id;
      clock.advance(1000);
    }
    // Same priority as tie-20-a, added later: after it.
    added['tie-20-b'] = (
      await store.gatewayRules.add({ action: 'allow', deviceType: 'b', priority: 20, reason: 'b' })
    ).id;
    const listed = await store.gatewayRules.list();
    assert.deepEqual(
      listed.map((r) => r.id),
      ['negative', 'first-10', 'tie-20-a', 'tie-20-b', 'late-30'].map((name) => added[name]),
    );
    assert.deepEqual(
      listed.map((r) => r.priority),
      [-5, 10, 20, 20, 30],
    );
  },
);

forEachDatabase('gateway-rules/get and remove; unknown ids', async (store) => {
  const rule = await store.gatewayRules.add(BLOCK_JAILBROKEN);
  const other = await store.gatewayRules.add({ action: 'allow', deviceType: 'iPhone', reason: 'r' });
  assert.equal(await store.gatewayRules.get('rule_unknown'), undefined);
  assert.equal(await store.gatewayRules.remove('rule_unknown'), false);
  assert.equal(await store.gatewayRules.remove(rule.id), true);
  assert.equal(await store.gatewayRules.get(rule.id), undefined);
  assert.equal(await store.gatewayRules.remove(rule.id), false, 'a second remove finds nothing');
  assert.deepEqual(await store.gatewayRules.list(), [other]);
});

forEachDatabase('gateway-rules/add composes with a transaction', async (store) => {
  await assert.rejects(
    store.transaction(async (tx) => {
      await tx.gatewayRules.add(BLOCK_JAILBROKEN);
      assert.equal((await tx.gatewayRules.list()).length, 1);
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(await store.gatewayRules.list(), []);
});
