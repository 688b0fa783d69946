/** The FCM v1 message: data-only, string values, Android priority/ttl/collapse key, size limit. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ELLIPSIS } from '../text.ts';
import { FCM_MAX_DATA_BYTES, fcmMessage } from './message.ts';

const now = Date.UTC(2030, 0, 1);

test('message/full: sender, subject, unread as strings; high priority; ttl from expiresAt; collapse key', () => {
  assert.deepEqual(
    fcmMessage(
      'tok',
      {
        type: 'new_mail',
        registrationId: 'reg-1',
        itemId: 'AAMk=',
        alert: { title: 'Alice', body: 'Lunch?' },
        badge: 3,
        collapseId: 'c1',
        expiresAt: now + 86_400_000,
      },
      { now },
    ),
    {
      token: 'tok',
      data: {
        type: 'new_mail',
        registrationId: 'reg-1',
        itemId: 'AAMk=',
        sender: 'Alice',
        subject: 'Lunch?',
        unread: '3',
      },
      android: { priority: 'high', ttl: '86400s', collapse_key: 'c1' },
    },
  );
});

test('message/badge: unread only, normal priority, no ttl without expiresAt', () => {
  assert.deepEqual(fcmMessage('tok', { type: 'badge', registrationId: 'r', badge: 0 }), {
    token: 'tok',
    data: { type: 'badge', registrationId: 'r', unread: '0' },
    android: { priority: 'normal' },
  });
});

test('message/silent new mail is normal priority; a check-in request is high', () => {
  assert.equal(fcmMessage('t', { type: 'new_mail', registrationId: 'r' }).android.priority, 'normal');
  assert.equal(fcmMessage('t', { type: 'checkin', registrationId: 'r' }).android.priority, 'high');
});

test('message/ttl: rounded up to whole seconds, 0s once expired', () => {
  const ttl = (expiresAt: number) =>
    fcmMessage('t', { type: 'checkin', registrationId: 'r', expiresAt }, { now }).android.ttl;
  assert.equal(ttl(now + 1500), '2s');
  assert.equal(ttl(now - 5000), '0s');
});

test('message/size: a huge CJK/emoji subject is cut on a character boundary to fit 4000 bytes', () => {
  const body = '漢字😀'.repeat(5000);
  const { data } = fcmMessage('t', {
    type: 'new_mail',
    registrationId: 'r',
    alert: { title: 'Zoë', body },
    badge: 1,
  });
  assert.ok(Buffer.byteLength(JSON.stringify(data)) <= FCM_MAX_DATA_BYTES);
  assert.ok(data.subject!.endsWith(ELLIPSIS));
  const kept = data.subject!.slice(0, -1);
  assert.ok(body.startsWith(kept) && kept.isWellFormed());
  assert.equal(data.sender, 'Zoë');
  assert.equal(data.unread, '1');
});
