import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEnvelope, escapeXml } from './soap.ts';
import { attr, parseXml } from './xml.ts';

test('escapeXml round-trips through the parser in text and attributes, whitespace included', () => {
  const values = ['plain', `a & b < c > d " e ' f`, 'line\r\nbreak\tand tab', 'ünïcödé 😀', ']]>', '&amp;'];
  for (const value of values) {
    const doc = parseXml(`<a v="${escapeXml(value)}">${escapeXml(value)}</a>`);
    assert.equal(attr(doc, 'v'), value);
    assert.equal(doc.text, value);
  }
});

test('escapeXml refuses characters XML 1.0 cannot carry', () => {
  for (const bad of ['\u0000', 'a\u0001b', '\u001F', '\uFFFE', '\uD800', 'x\uDC00']) {
    assert.throws(() => escapeXml(bad), RangeError, JSON.stringify(bad));
  }
});

test('buildEnvelope escapes the version attribute', () => {
  assert.match(buildEnvelope('<m:X/>', 'a"b'), /Version="a&quot;b"/);
});
