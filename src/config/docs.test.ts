/**
 * The operator documentation and the example file are checked against the schema, so a new key
 * cannot ship undocumented.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { z } from 'zod';
import { configSchema, envVariableNames, loadConfig } from './index.ts';
import { objectShape, schemaAt, unwrap } from './meta.ts';

const root = new URL('../../', import.meta.url);
const docs = readFileSync(new URL('docs/configuration.md', root), 'utf8');
const exampleFile = new URL('config/herald.example.yaml', root).pathname;
const example = readFileSync(exampleFile, 'utf8');

/** Every key name in the schema, including those inside lists of objects. */
function keyNames(schema: z.ZodType, out = new Set<string>()): Set<string> {
  const inner = unwrap(schema);
  const element = schemaAt(inner, [0]);
  if (element) return keyNames(element, out);
  for (const [key, field] of Object.entries(objectShape(inner) ?? {})) {
    out.add(key);
    keyNames(field, out);
  }
  return out;
}

test('docs/every environment variable is in docs/configuration.md', () => {
  const missing = envVariableNames().filter((v) => !docs.includes(`| \`${v.path}\` | \`${v.name}\` |`));
  assert.deepEqual(missing, []);
});

test('docs/every key is in the example file', () => {
  const missing = [...keyNames(configSchema)].filter((key) => !new RegExp(`\\b${key}:`).test(example));
  assert.deepEqual(missing, []);
});

test('docs/the example file loads', () => {
  const config = loadConfig({ file: exampleFile, env: { CONTOSO_TOKEN: 'example-token-0123456789' } });
  assert.equal(config.tenants[0]!.id, 'contoso');
  assert.equal(config.publicUrl, 'https://ens.example.com');
});
