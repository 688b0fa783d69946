import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadOrCreateAdminToken } from './index.ts';

test('admin token file is created once with mode 0600 (in a new directory) and read on later starts', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'herald-admin-')), 'nested', 'admin.token');
  const first = loadOrCreateAdminToken(file);
  assert.equal(first.created, true);
  assert.match(first.token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8'), `${first.token}\n`);
  const second = loadOrCreateAdminToken(file);
  assert.deepEqual(second, { token: first.token, created: false });
});

test('error/an admin token file that holds no usable token is refused, naming the file', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'herald-admin-')), 'admin.token');
  writeFileSync(file, 'too short\n');
  assert.throws(
    () => loadOrCreateAdminToken(file),
    (error: Error) => {
      assert.ok(error.message.includes(file));
      assert.equal(error.message.includes('too short'), false, 'the content is not quoted');
      return true;
    },
  );
});
