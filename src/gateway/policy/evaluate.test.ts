import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compilePolicy,
  DEFAULT_POLICY_REASON,
  type GatewayRuleLike,
  MAX_USER_AGENT_LENGTH,
  type PolicyDecision,
  type PolicySubject,
} from './index.ts';

let counter = 0;
function rule(fields: Partial<GatewayRuleLike> & Pick<GatewayRuleLike, 'action'>): GatewayRuleLike {
  counter += 1;
  return {
    id: `rule_${counter}`,
    priority: 10,
    deviceId: null,
    deviceType: null,
    user: null,
    userAgent: null,
    reason: `reason ${counter}`,
    ...fields,
  };
}

const iphone: PolicySubject = {
  deviceId: 'ApplDNQX1234',
  deviceType: 'iPhone',
  users: ['alice@contoso.com', 'contoso\\alice'],
  userAgent: 'Apple-iPhone15C2/2104.112',
};

describe('compilePolicy / evaluate', () => {
  const cases: {
    name: string;
    rules: GatewayRuleLike[];
    defaultAction?: 'allow' | 'block';
    subject?: PolicySubject;
    expect: PolicyDecision;
  }[] = [
    {
      name: 'default/no rules: allow',
      rules: [],
      expect: { action: 'allow', reason: DEFAULT_POLICY_REASON },
    },
    {
      name: 'default/no rules: block',
      rules: [],
      defaultAction: 'block',
      expect: { action: 'block', reason: DEFAULT_POLICY_REASON },
    },
    {
      name: 'default/no rule matches',
      rules: [rule({ id: 'r-and', action: 'block', deviceType: 'Android' })],
      expect: { action: 'allow', reason: DEFAULT_POLICY_REASON },
    },
    {
      name: 'device id/ignores case',
      rules: [rule({ id: 'r1', action: 'block', deviceId: 'appldnqx1234', reason: 'lost phone' })],
      expect: { action: 'block', ruleId: 'r1', reason: 'lost phone' },
    },
    {
      name: 'device id/exact, not a substring',
      rules: [rule({ id: 'r1', action: 'block', deviceId: 'ApplDNQX' })],
      expect: { action: 'allow', reason: DEFAULT_POLICY_REASON },
    },
    {
      name: 'device type/ignores case',
      rules: [rule({ id: 'r1', action: 'allow', deviceType: 'IPHONE', reason: 'managed iPhones' })],
      defaultAction: 'block',
      expect: { action: 'allow', ruleId: 'r1', reason: 'managed iPhones' },
    },
    {
      name: 'user/matches any of the subject users, ignoring case',
      rules: [rule({ id: 'r1', action: 'block', user: 'CONTOSO\\Alice', reason: 'left the company' })],
      expect: { action: 'block', ruleId: 'r1', reason: 'left the company' },
    },
    {
      name: 'user/no subject users: a user rule cannot match',
      rules: [rule({ id: 'r1', action: 'block', user: 'alice@contoso.com' })],
      subject: { deviceId: 'x', users: [] },
      expect: { action: 'allow', reason: DEFAULT_POLICY_REASON },
    },
    {
      name: 'user agent/regex test, unanchored',
      rules: [rule({ id: 'r1', action: 'block', userAgent: 'iPhone1[45]C', reason: 'old iOS mail' })],
      expect: { action: 'block', ruleId: 'r1', reason: 'old iOS mail' },
    },
    {
      name: 'user agent/case-sensitive unless the pattern says otherwise',
      rules: [
        rule({ id: 'r-cs', action: 'block', userAgent: 'apple-iphone' }),
        rule({ id: 'r-ci', action: 'block', userAgent: '(?i:apple-iphone)', priority: 20, reason: 'ci' }),
      ],
      expect: { action: 'block', ruleId: 'r-ci', reason: 'ci' },
    },
    {
      name: 'user agent/a missing header is tested as the empty string',
      rules: [rule({ id: 'r1', action: 'block', userAgent: '^$', reason: 'no user agent' })],
      subject: { deviceId: 'x', users: [] },
      expect: { action: 'block', ruleId: 'r1', reason: 'no user agent' },
    },
    {
      name: 'all matchers/every set matcher must match',
      rules: [
        rule({ id: 'r1', action: 'block', deviceType: 'iPhone', user: 'bob@contoso.com' }),
        rule({
          id: 'r2',
          action: 'block',
          deviceType: 'iPhone',
          user: 'alice@contoso.com',
          userAgent: 'Outlook',
        }),
        rule({
          id: 'r3',
          action: 'block',
          deviceType: 'iPhone',
          user: 'alice@contoso.com',
          userAgent: 'Apple',
          reason: 'r3',
        }),
      ],
      expect: { action: 'block', ruleId: 'r3', reason: 'r3' },
    },
    {
      name: 'precedence/lower priority first, whatever the order given',
      rules: [
        rule({ id: 'late', action: 'block', priority: 50, deviceType: 'iPhone' }),
        rule({ id: 'early', action: 'allow', priority: 5, user: 'alice@contoso.com', reason: 'VIP' }),
      ],
      expect: { action: 'allow', ruleId: 'early', reason: 'VIP' },
    },
    {
      name: 'precedence/equal priorities keep the order given',
      rules: [
        rule({ id: 'first', action: 'block', priority: 10, deviceType: 'iPhone', reason: 'first' }),
        rule({ id: 'second', action: 'allow', priority: 10, deviceType: 'iPhone' }),
      ],
      expect: { action: 'block', ruleId: 'first', reason: 'first' },
    },
    {
      name: 'precedence/negative priorities come before zero',
      rules: [
        rule({ id: 'zero', action: 'allow', priority: 0, deviceType: 'iPhone' }),
        rule({ id: 'neg', action: 'block', priority: -1, deviceType: 'iPhone', reason: 'neg' }),
      ],
      expect: { action: 'block', ruleId: 'neg', reason: 'neg' },
    },
    {
      name: 'precedence/an allow rule before a block-all default',
      rules: [rule({ id: 'ok', action: 'allow', deviceId: 'ApplDNQX1234', reason: 'enrolled' })],
      defaultAction: 'block',
      expect: { action: 'allow', ruleId: 'ok', reason: 'enrolled' },
    },
    {
      name: 'invalid regex/the rule never matches, later rules still apply',
      rules: [
        rule({ id: 'broken', action: 'allow', priority: 1, userAgent: '([unclosed' }),
        rule({ id: 'next', action: 'block', priority: 2, deviceType: 'iPhone', reason: 'next' }),
      ],
      expect: { action: 'block', ruleId: 'next', reason: 'next' },
    },
    {
      name: 'user agent/a subject without device facts (EWS) matches user rules only',
      rules: [
        rule({ id: 'dev', action: 'block', deviceType: 'iPhone' }),
        rule({ id: 'usr', action: 'block', user: 'shared@contoso.com', priority: 20, reason: 'usr' }),
      ],
      subject: { users: ['herald-svc@contoso.com', 'shared@contoso.com'], userAgent: 'Herald/0.1' },
      expect: { action: 'block', ruleId: 'usr', reason: 'usr' },
    },
    {
      name: 'claimed users/a block rule matches a claimed name (EWS mailbox acted on)',
      rules: [rule({ id: 'bob', action: 'block', user: 'bob@contoso.com', reason: 'left the company' })],
      subject: { users: ['herald-svc@contoso.com'], claimedUsers: ['bob@contoso.com'] },
      expect: { action: 'block', ruleId: 'bob', reason: 'left the company' },
    },
    {
      name: 'claimed users/an allow rule never matches a claimed name (User= in the query)',
      rules: [rule({ id: 'vip', action: 'allow', user: 'ceo@contoso.com' })],
      defaultAction: 'block',
      subject: { users: ['mallory@contoso.com'], claimedUsers: ['ceo@contoso.com'] },
      expect: { action: 'block', reason: DEFAULT_POLICY_REASON },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const policy = compilePolicy(c.rules, c.defaultAction ?? 'allow');
      assert.deepEqual(policy.evaluate(c.subject ?? iphone), c.expect);
    });
  }

  test('invalid regex/reported in problems with the rule id; valid rules are not', () => {
    const policy = compilePolicy(
      [
        rule({ id: 'ok', action: 'block', userAgent: 'Outlook' }),
        rule({ id: 'bad', action: 'block', userAgent: '(?<' }),
        rule({ id: 'bad2', action: 'allow', userAgent: '*' }),
      ],
      'allow',
    );
    assert.deepEqual(
      policy.problems.map((p) => p.ruleId),
      ['bad', 'bad2'],
    );
    assert.match(policy.problems[0]!.message, /does not compile/);
    assert.ok(Object.isFrozen(policy.problems));
  });

  test('user agent/only the first MAX_USER_AGENT_LENGTH characters are tested', () => {
    const policy = compilePolicy([rule({ id: 'tail', action: 'block', userAgent: 'MARKER' })], 'allow');
    const within = `${'a'.repeat(MAX_USER_AGENT_LENGTH - 6)}MARKER`;
    const beyond = `${'a'.repeat(MAX_USER_AGENT_LENGTH - 5)}MARKER`;
    assert.equal(policy.evaluate({ users: [], userAgent: within }).action, 'block');
    assert.equal(policy.evaluate({ users: [], userAgent: beyond }).action, 'allow');
  });

  test('user agent/each pattern is compiled once, not per request', () => {
    const original = globalThis.RegExp;
    let constructed = 0;
    const Counting = new Proxy(original, {
      construct(target, args) {
        constructed += 1;
        return Reflect.construct(target, args);
      },
    });
    globalThis.RegExp = Counting;
    try {
      const policy = compilePolicy(
        [
          rule({ id: 'a', action: 'block', userAgent: 'X' }),
          rule({ id: 'b', action: 'block', userAgent: 'Y' }),
        ],
        'allow',
      );
      const afterCompile = constructed;
      assert.equal(afterCompile, 2);
      for (let i = 0; i < 100; i++) policy.evaluate({ users: [], userAgent: `agent ${i}` });
      assert.equal(constructed, afterCompile);
    } finally {
      globalThis.RegExp = original;
    }
  });

  test('the compiled policy does not change when the input rules do', () => {
    const rules = [rule({ id: 'r', action: 'block', deviceType: 'iPhone' })];
    const policy = compilePolicy(rules, 'allow');
    (rules[0] as { deviceType: string | null }).deviceType = 'Android';
    rules.push(rule({ id: 'added', action: 'block', deviceType: 'Android' }));
    assert.equal(policy.evaluate(iphone).ruleId, 'r');
    assert.equal(policy.evaluate({ ...iphone, deviceType: 'Android' }).action, 'allow');
    assert.ok(Object.isFrozen(policy));
  });
});
