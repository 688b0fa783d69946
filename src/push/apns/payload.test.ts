/**
 * The APNs wire form: the three payload shapes of device-api.md, the headers, and cutting long
 * texts to 4096 bytes on character boundaries.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ELLIPSIS } from '../text.ts';
import type { PushNotification } from '../types.ts';
import { APNS_MAX_PAYLOAD_BYTES, apnsCollapseId, apnsRequest } from './payload.ts';

const topic = 'com.example.mail';
const base = { registrationId: 'reg-1', itemId: 'AAMkAD=' } as const;

function bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** True if the string holds a lone (unpaired) UTF-16 surrogate. */
function hasLoneSurrogate(text: string): boolean {
  return !text.isWellFormed();
}

test('payload/full: alert, badge, sound, mutable-content, herald data; alert push type, priority 10', () => {
  const { headers, payload } = apnsRequest(
    { ...base, type: 'new_mail', alert: { title: 'Alice', body: 'Lunch?' }, badge: 3, collapseId: 'c1' },
    { topic },
  );
  assert.deepEqual(JSON.parse(payload), {
    aps: { alert: { title: 'Alice', body: 'Lunch?' }, badge: 3, sound: 'default', 'mutable-content': 1 },
    herald: { type: 'new_mail', registrationId: 'reg-1', itemId: 'AAMkAD=' },
  });
  assert.deepEqual(headers, {
    'apns-topic': topic,
    'apns-push-type': 'alert',
    'apns-priority': '10',
    'apns-collapse-id': 'c1',
  });
});

test('payload/full without badge or item: no badge key, no itemId', () => {
  const { payload } = apnsRequest(
    { type: 'new_mail', registrationId: 'r', alert: { title: 't', body: 'b' } },
    { topic },
  );
  assert.deepEqual(JSON.parse(payload), {
    aps: { alert: { title: 't', body: 'b' }, sound: 'default', 'mutable-content': 1 },
    herald: { type: 'new_mail', registrationId: 'r' },
  });
});

test('payload/badge only: exactly {"aps":{"badge":n}}, alert push type, priority 5', () => {
  const { headers, payload } = apnsRequest({ ...base, type: 'badge', badge: 0 }, { topic });
  assert.equal(payload, '{"aps":{"badge":0}}');
  assert.equal(headers['apns-push-type'], 'alert');
  assert.equal(headers['apns-priority'], '5');
});

test('payload/silent: content-available with herald data, background push type, priority 5', () => {
  for (const type of ['new_mail', 'checkin'] as const) {
    const { headers, payload } = apnsRequest({ ...base, type }, { topic });
    assert.deepEqual(JSON.parse(payload), {
      aps: { 'content-available': 1 },
      herald: { type, registrationId: 'reg-1', itemId: 'AAMkAD=' },
    });
    assert.equal(headers['apns-push-type'], 'background');
    assert.equal(headers['apns-priority'], '5');
  }
});

test('headers/expiration in seconds, 0 once expired; apns-id when given', () => {
  const n: PushNotification = { ...base, type: 'new_mail', expiresAt: 1_700_000_123_456 };
  assert.equal(apnsRequest(n, { topic })?.headers['apns-expiration'], '1700000123');
  assert.equal(apnsRequest(n, { topic, now: 1_700_000_000_000 }).headers['apns-expiration'], '1700000123');
  assert.equal(apnsRequest(n, { topic, now: 1_800_000_000_000 }).headers['apns-expiration'], '0');
  const id = '6a1b6f3e-3b0e-4c39-9d0e-2a8f2d3c1b7a';
  assert.equal(apnsRequest(n, { topic, id }).headers['apns-id'], id);
  assert.equal(
    'apns-expiration' in apnsRequest({ ...base, type: 'badge', badge: 1 }, { topic }).headers,
    false,
  );
});

test('headers/collapse id: kept up to 64 bytes, a digest beyond (stable, ≤ 64 bytes)', () => {
  const ok = 'x'.repeat(64);
  assert.equal(apnsCollapseId(ok), ok);
  const long = 'y'.repeat(65);
  const digest = apnsCollapseId(long);
  assert.notEqual(digest, long);
  assert.ok(bytes(digest) <= 64);
  assert.equal(apnsCollapseId(long), digest, 'the same input collapses with itself');
  assert.notEqual(apnsCollapseId('é'.repeat(40)), 'é'.repeat(40), 'non-ASCII ids are digested too');
  assert.notEqual(apnsCollapseId('a\r\nb'), 'a\r\nb');
});

test('truncation/ASCII: a huge subject is cut with an ellipsis to at most 4096 bytes', () => {
  const body = 'S'.repeat(100_000);
  const { payload } = apnsRequest(
    { ...base, type: 'new_mail', alert: { title: 'Alice', body }, badge: 12 },
    { topic },
  );
  assert.ok(bytes(payload) <= APNS_MAX_PAYLOAD_BYTES);
  assert.ok(bytes(payload) > APNS_MAX_PAYLOAD_BYTES - 8, 'uses the space there is');
  const parsed = JSON.parse(payload);
  assert.ok(parsed.aps.alert.body.endsWith(ELLIPSIS));
  assert.equal(parsed.aps.alert.title, 'Alice', 'the title is kept when cutting the body suffices');
  assert.equal(parsed.aps.badge, 12);
  assert.equal(parsed.herald.registrationId, 'reg-1');
});

const cases: Array<[string, string]> = [
  ['emoji (surrogate pairs)', '😀'.repeat(3000)],
  ['ZWJ family emoji', '👨‍👩‍👧‍👦'.repeat(500)],
  ['flags', '🇫🇷🇩🇪'.repeat(1000)],
  ['CJK (3-byte UTF-8)', '漢字かな交じり文'.repeat(600)],
  ['combining marks', 'e\u0301'.repeat(3000)],
  ['mixed, with characters JSON escapes', 'a"\\\n\u0001😀漢'.repeat(900)],
];

for (const [name, body] of cases) {
  test(`truncation/${name}: ≤ 4096 bytes, whole characters, a prefix of the original`, () => {
    const { payload } = apnsRequest(
      { ...base, type: 'new_mail', alert: { title: 'Zoë 🐙', body } },
      { topic },
    );
    assert.ok(bytes(payload) <= APNS_MAX_PAYLOAD_BYTES, `${bytes(payload)} bytes`);
    const cut: string = JSON.parse(payload).aps.alert.body;
    assert.ok(cut.endsWith(ELLIPSIS));
    const kept = cut.slice(0, -ELLIPSIS.length);
    assert.ok(kept.length > 0);
    assert.ok(body.startsWith(kept), 'the kept text is a prefix of the subject');
    assert.equal(hasLoneSurrogate(kept), false, 'no surrogate pair is split');
    // A grapheme boundary: the next grapheme of the original starts where the cut text ends.
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const boundaries = new Set(Array.from(segmenter.segment(body), (s) => s.index));
    assert.ok(boundaries.has(kept.length), 'cut between grapheme clusters');
    // UTF-8 round trip is lossless (no broken sequence).
    assert.equal(Buffer.from(payload, 'utf8').toString('utf8'), payload);
  });
}

test('truncation/title: cut too when the body alone cannot make room', () => {
  const { payload } = apnsRequest(
    { ...base, type: 'new_mail', alert: { title: '📧'.repeat(5000), body: 'hello' } },
    { topic },
  );
  assert.ok(bytes(payload) <= APNS_MAX_PAYLOAD_BYTES);
  const { title, body } = JSON.parse(payload).aps.alert;
  assert.equal(body, '');
  assert.ok(title.endsWith(ELLIPSIS));
  assert.equal(hasLoneSurrogate(title), false);
});

test('truncation/none: a payload that fits is left alone', () => {
  const body = 'é'.repeat(1500);
  const { payload } = apnsRequest({ ...base, type: 'new_mail', alert: { title: 'x', body } }, { topic });
  assert.equal(JSON.parse(payload).aps.alert.body, body);
});
