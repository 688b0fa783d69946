import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCatalogue, HeraldError } from './index.ts';

test('docs/errors.md lists every code with its status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(errorCatalogue)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), code);
  }
});

test('a HeraldError sends its code and public message, never its cause', () => {
  const error = new HeraldError('exchange_error', {
    cause: new Error('secret internals'),
    details: { responseCode: 'X' },
  });
  assert.equal(error.status, 502);
  assert.deepEqual(error.toBody(), {
    error: { code: 'exchange_error', message: errorCatalogue.exchange_error.message, responseCode: 'X' },
  });
  assert.equal(JSON.stringify(error.toBody()).includes('secret internals'), false);
});
