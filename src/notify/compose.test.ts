import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collapseId, compose } from './compose.ts';

const mail = { subject: 'Quarterly numbers', from: { name: 'Bob Jones', address: 'bob@contoso.com' } };
const base = { registrationId: 'reg1', itemId: 'AAMk=', expiresAt: 1_000 };

describe('compose', () => {
  test('full: alert with sender and subject, badge = unread, collapse id per registration and item', () => {
    const n = compose({ ...base, kind: 'new_mail', policy: 'full', mail, unread: 3 });
    assert.deepEqual(n, {
      registrationId: 'reg1',
      expiresAt: 1_000,
      itemId: 'AAMk=',
      collapseId: collapseId('reg1', 'mail:AAMk='),
      type: 'new_mail',
      alert: { title: 'Bob Jones', body: 'Quarterly numbers' },
      badge: 3,
    });
    assert.ok(Buffer.byteLength(n!.collapseId!) <= 64);
    assert.notEqual(collapseId('reg1', 'mail:A'), collapseId('reg2', 'mail:A'));
  });

  test('full: the address stands in for a missing name; an empty subject is named', () => {
    const n = compose({
      ...base,
      kind: 'new_mail',
      policy: 'full',
      mail: { subject: '', from: { address: 'x@y.z' } },
    });
    assert.deepEqual(n?.alert, { title: 'x@y.z', body: '(no subject)' });
    assert.equal(n?.badge, undefined);
  });

  test('full without fetched fields: no alert, the known badge, so never an alert without text', () => {
    const n = compose({ ...base, kind: 'new_mail', policy: 'full', unread: 7 });
    assert.equal(n?.alert, undefined);
    assert.equal(n?.badge, 7);
    assert.equal(n?.type, 'new_mail');
  });

  test('badge: only the unread count', () => {
    const n = compose({ ...base, kind: 'new_mail', policy: 'badge', mail, unread: 2 });
    assert.deepEqual(n, {
      registrationId: 'reg1',
      expiresAt: 1_000,
      type: 'badge',
      badge: 2,
      collapseId: collapseId('reg1', 'badge'),
    });
  });

  test('silent: no alert and no badge, whatever is known', () => {
    const n = compose({ ...base, kind: 'new_mail', policy: 'silent', mail, unread: 2 });
    assert.equal(n?.alert, undefined);
    assert.equal(n?.badge, undefined);
    assert.equal(n?.type, 'new_mail');
    assert.equal(n?.itemId, 'AAMk=');
  });

  test('badge refresh: sent only when the count differs from the badge the device has', () => {
    assert.equal(
      compose({ ...base, kind: 'badge_refresh', policy: 'full', unread: 4, badgeSent: 4 }),
      undefined,
    );
    assert.equal(compose({ ...base, kind: 'badge_refresh', policy: 'full', badgeSent: 4 }), undefined);
    assert.equal(
      compose({ ...base, kind: 'badge_refresh', policy: 'silent', unread: 1, badgeSent: 4 }),
      undefined,
    );
    const n = compose({ ...base, kind: 'badge_refresh', policy: 'badge', unread: 1, badgeSent: 4 });
    assert.equal(n?.type, 'badge');
    assert.equal(n?.badge, 1);
    assert.equal(n?.alert, undefined);
    assert.equal(
      compose({ ...base, kind: 'badge_refresh', policy: 'full', unread: 0, badgeSent: null })?.badge,
      0,
    );
  });

  test('checkin: a background push whatever the policy', () => {
    for (const policy of ['full', 'badge', 'silent'] as const) {
      const n = compose({ ...base, kind: 'checkin', policy });
      assert.equal(n?.type, 'checkin');
      assert.equal(n?.alert, undefined);
      assert.equal(n?.badge, undefined);
    }
  });
});
