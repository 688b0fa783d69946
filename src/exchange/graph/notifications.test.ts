import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GraphNotificationError } from './errors.ts';
import { handshakeFromUrl, handshakeResponse } from './handshake.ts';
import {
  maxLifetimeMs,
  needsRenewal,
  OUTLOOK_MESSAGE_LIMITS,
  renewAt,
  subscriptionExpiration,
} from './limits.ts';
import { checkClientState, hashClientState, newClientState, parseNotifications } from './notifications.ts';

const TENANT = '84bd8158-6d4d-4958-8b9f-9d6445542f95';
const change = {
  subscriptionId: '76619225-ff6b-4489-96ca-4ef547e78b22',
  subscriptionExpirationDateTime: '2026-03-20T11:00:00.0000000Z',
  changeType: 'created',
  resource: 'Users/x/Messages/AAMkAG=',
  resourceData: {
    '@odata.type': '#Microsoft.Graph.Message',
    '@odata.id': 'Users/x/Messages/AAMkAG=',
    id: 'AAMkAG=',
  },
  clientState: 'state',
  tenantId: TENANT,
};
const lifecycle = (event: string) => ({
  subscriptionId: change.subscriptionId,
  subscriptionExpirationDateTime: change.subscriptionExpirationDateTime,
  tenantId: TENANT,
  clientState: 'state',
  lifecycleEvent: event,
});

const reason = (r: string) => (e: unknown) => e instanceof GraphNotificationError && e.reason === r;

describe('parseNotifications', () => {
  test('change and lifecycle items, raw or pre-parsed, mixed in one collection', () => {
    const body = {
      value: [
        change,
        lifecycle('reauthorizationRequired'),
        lifecycle('subscriptionRemoved'),
        lifecycle('missed'),
      ],
    };
    for (const input of [JSON.stringify(body), Buffer.from(JSON.stringify(body)), body]) {
      const parsed = parseNotifications(input);
      assert.equal(parsed.changes.length, 1);
      assert.equal(parsed.changes[0]!.messageId, 'AAMkAG=');
      assert.equal(
        parsed.changes[0]!.subscriptionExpirationDateTime.toISOString(),
        '2026-03-20T11:00:00.000Z',
      );
      assert.deepEqual(
        parsed.lifecycle.map((l) => l.lifecycleEvent),
        ['reauthorizationRequired', 'subscriptionRemoved', 'missed'],
      );
      assert.deepEqual(parsed.validationTokens, []);
    }
    const org = parseNotifications({
      value: [{ ...lifecycle('missed'), tenantId: undefined, organizationId: TENANT }],
    });
    assert.equal(org.lifecycle[0]!.tenantId, TENANT);
  });

  test('hostile bodies get GraphNotificationError and nothing else', () => {
    assert.throws(() => parseNotifications('x'.repeat(2_000_000)), reason('too_large'));
    assert.throws(() => parseNotifications('{"value": [', {}), reason('invalid_json'));
    assert.throws(() => parseNotifications('{"value":[1]}', { maxBytes: 4 }), reason('too_large'));
    const bad: unknown[] = [
      null,
      42,
      'null',
      '[]',
      {},
      { value: [] },
      { value: 'x' },
      { value: [{}] },
      { value: [{ ...change, changeType: 'exploded' }] },
      { value: [{ ...change, resourceData: {} }] },
      { value: [{ ...change, subscriptionExpirationDateTime: 'soon' }] },
      { value: [{ ...change, clientState: 'x'.repeat(129) }] },
      {
        value: [
          {
            ...change,
            encryptedContent: { data: '!!', dataKey: '', dataSignature: '', encryptionCertificateId: 'c' },
          },
        ],
      },
      { value: [lifecycle('somethingNew')] },
      { value: [change], validationTokens: 'abc' },
      { value: Array.from({ length: 1001 }, () => change) },
      { value: [{ ...change, subscriptionId: { $ne: 1 } }] },
      JSON.parse('{"value":[{"__proto__":{"x":1}}]}'),
    ];
    for (const body of bad)
      assert.throws(
        () => parseNotifications(body),
        GraphNotificationError,
        JSON.stringify(body)?.slice(0, 80),
      );
  });
});

describe('clientState', () => {
  test('fresh values are 256-bit base64url; hashes compare only with the same value (and key)', () => {
    const a = newClientState();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, newClientState());
    const stored = hashClientState(a);
    assert.equal(checkClientState(stored, a), true);
    assert.equal(checkClientState(stored, `${a}x`), false);
    for (const given of [undefined, null, 1, '', 'x'.repeat(200), {}])
      assert.equal(checkClientState(stored, given), false);
    assert.equal(checkClientState('garbage', a), false);
    assert.equal(checkClientState(`${stored.slice(0, -2)}`, a), false);
    assert.throws(() => hashClientState(''), TypeError);
  });
});

describe('handshake', () => {
  test('echoes the decoded token as text/plain; refuses what Graph would never send', () => {
    const token = 'Validation: Testing client application reachability for subscription Request-Id: 1a2b';
    assert.deepEqual(
      handshakeFromUrl(`/graph/notify?tenant=t&validationToken=${encodeURIComponent(token)}`),
      {
        status: 200,
        contentType: 'text/plain; charset=utf-8',
        body: token,
      },
    );
    assert.equal(handshakeFromUrl('/graph/notify'), undefined, 'a notification, not a handshake');
    assert.equal(handshakeResponse(undefined), undefined);
    for (const bad of ['', 'a\r\nSet-Cookie: x=1', 'x'.repeat(1025), 'tab\there', ['a', 'b'], 5]) {
      assert.equal(handshakeResponse(bad)?.status, 400, JSON.stringify(bad).slice(0, 40));
    }
    assert.equal(handshakeFromUrl('/n?validationToken=a&validationToken=b')?.status, 400);
    assert.equal(handshakeFromUrl('/n?validationToken=%0d%0aX')?.status, 400);
  });
});

describe('limits and renewal', () => {
  test('documented maxima, parameters, and the renewal window', () => {
    assert.equal(OUTLOOK_MESSAGE_LIMITS.maxLifetimeMinutes, 10_080);
    assert.equal(OUTLOOK_MESSAGE_LIMITS.maxLifetimeMinutesWithResourceData, 1_440);
    const now = Date.parse('2026-01-01T00:00:00Z');
    const exp = subscriptionExpiration(now);
    assert.equal(+exp - now, (10_080 - 5) * 60_000);
    assert.equal(+subscriptionExpiration(now, { includeResourceData: true }) - now, (1_440 - 5) * 60_000);
    assert.equal(
      +subscriptionExpiration(now, { limits: { maxLifetimeMinutes: 4_230 } }) - now,
      4_225 * 60_000,
    );
    // 7-day subscription: renew 3 360 minutes (a third) before expiry.
    assert.equal(+exp - +renewAt(exp, now), 3_360 * 60_000);
    // 1-day rich subscription: 480 minutes before.
    const rich = subscriptionExpiration(now, { includeResourceData: true });
    assert.equal(+rich - +renewAt(rich, now, { includeResourceData: true }), 480 * 60_000);
    // Short lifetimes: the 60-minute floor wins.
    const short = { limits: { maxLifetimeMinutes: 90 } };
    assert.equal(+exp - +renewAt(exp, now, short), 60 * 60_000);
    // Already inside the window: due now.
    assert.equal(+renewAt(now + 10 * 60_000, now), now);
    assert.equal(needsRenewal(now + 10 * 60_000, now), true);
    assert.equal(needsRenewal(exp, now), false);
    assert.equal(needsRenewal(exp, +renewAt(exp, now)), true);
    assert.equal(maxLifetimeMs(true), 1_440 * 60_000);
    assert.throws(() => renewAt(exp, now, { policy: { fraction: 1.5 } }), RangeError);
    assert.throws(() => renewAt(Number.NaN, now), RangeError);
    assert.throws(() => subscriptionExpiration(now, { limits: { maxLifetimeMinutes: 2 } }), RangeError);
  });
});
