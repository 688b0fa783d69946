import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  attr,
  child,
  childText,
  descendant,
  parseXml,
  resolveQName,
  XmlError,
  XmlLimitError,
  XmlParseError,
} from './xml.ts';

const T = 'http://schemas.microsoft.com/exchange/services/2006/types';
const M = 'http://schemas.microsoft.com/exchange/services/2006/messages';

function assertXmlError(
  fn: () => unknown,
  code: string,
  type: abstract new (...args: never[]) => XmlError = XmlError,
) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

describe('namespaces, never prefixes', () => {
  test('the same namespace under different prefixes and as default namespace reads the same', () => {
    const docs = [
      `<m:R xmlns:m="${M}" xmlns:t="${T}"><t:Subject>Hi</t:Subject></m:R>`,
      `<x:R xmlns:x="${M}" xmlns:y="${T}"><y:Subject>Hi</y:Subject></x:R>`,
      `<R xmlns="${M}"><Subject xmlns="${T}">Hi</Subject></R>`,
      // prefix declared on the element itself, and a prefix swapped between the two namespaces
      `<t:R xmlns:t="${M}"><m:Subject xmlns:m="${T}">Hi</m:Subject></t:R>`,
    ];
    for (const doc of docs) {
      const root = parseXml(doc);
      assert.equal(root.ns, M);
      assert.equal(root.local, 'R');
      assert.equal(childText(root, T, 'Subject'), 'Hi', doc);
    }
  });

  test('the right prefix bound to a wrong namespace is not found', () => {
    const root = parseXml(`<m:R xmlns:m="${M}" xmlns:t="urn:not-ews"><t:Subject>Hi</t:Subject></m:R>`);
    assert.equal(child(root, T, 'Subject'), undefined);
    assert.equal(child(root, 'urn:not-ews', 'Subject')?.text, 'Hi');
  });

  test('an unprefixed element in no namespace is distinct from one in a default namespace', () => {
    const root = parseXml(`<R xmlns="${M}"><a xmlns="">x</a></R>`);
    assert.equal(child(root, M, 'a'), undefined);
    assert.equal(childText(root, '', 'a'), 'x');
  });

  test('attributes by local name, namespaced attributes by URI', () => {
    const root = parseXml(`<t:ItemId xmlns:t="${T}" xmlns:q="urn:q" Id="A=" ChangeKey="B" q:Id="other"/>`);
    assert.equal(attr(root, 'Id'), 'A=');
    assert.equal(attr(root, 'ChangeKey'), 'B');
    assert.equal(attr(root, 'Id', 'urn:q'), 'other');
    assert.equal(attr(root, 'xmlns'), undefined);
  });

  test('QNames in content resolve against the scope of their element', () => {
    const root = parseXml(
      `<a xmlns:s="urn:outer"><b xmlns:s="urn:inner"><c>s:Client</c></b><d>s:Server</d></a>`,
    );
    const c = descendant(root, '', 'c')!;
    assert.deepEqual(resolveQName(c, c.text), { ns: 'urn:inner', local: 'Client' });
    const d = child(root, '', 'd')!;
    assert.deepEqual(resolveQName(d, d.text), { ns: 'urn:outer', local: 'Server' });
    assert.deepEqual(resolveQName(d, 'x:Y'), { ns: '', local: 'Y' });
  });
});

describe('text', () => {
  test('the five predefined entities, character references and CDATA are expanded', () => {
    const root = parseXml('<a>&lt;&gt;&amp;&quot;&apos; &#65;&#x42; <![CDATA[<raw>&amp;]]></a>');
    assert.equal(root.text, `<>&"' AB <raw>&amp;`);
  });

  test('UTF-8 buffers are decoded, BOM included', () => {
    const root = parseXml(Buffer.from('\uFEFF<a>Grüße €</a>', 'utf8'));
    assert.equal(root.text, 'Grüße €');
  });
});

describe('hostile input', () => {
  test('XXE: a DTD with an external entity is refused', () => {
    assertXmlError(
      () => parseXml('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'),
      'doctype_forbidden',
      XmlParseError,
    );
  });

  test('billion laughs is refused before any expansion', () => {
    const lols = Array.from({ length: 9 }, (_, i) =>
      i === 0 ? '<!ENTITY lol0 "lol">' : `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`,
    ).join('');
    assertXmlError(() => parseXml(`<!DOCTYPE lolz [${lols}]><lolz>&lol8;</lolz>`), 'doctype_forbidden');
  });

  test('a DOCTYPE hidden after comments is still refused', () => {
    assertXmlError(() => parseXml('<!-- x --><!DOCTYPE a SYSTEM "http://evil/"><a/>'), 'doctype_forbidden');
  });

  test('an undeclared entity reference is malformed, not silently dropped', () => {
    assertXmlError(() => parseXml('<a>&e;</a>'), 'malformed', XmlParseError);
  });

  test('nesting deeper than the limit fails fast, at the limit it works', () => {
    const nest = (n: number) => '<a>'.repeat(n) + '</a>'.repeat(n);
    assert.equal(parseXml(nest(64)).local, 'a');
    assertXmlError(() => parseXml(nest(65)), 'too_deep', XmlLimitError);
    // 300 000 levels would overflow a recursive parser; the limit stops it at 65.
    assertXmlError(() => parseXml(nest(100_000)), 'too_deep', XmlLimitError);
  });

  test('more elements than the limit', () => {
    assert.equal(parseXml(`<r>${'<e/>'.repeat(9_999)}</r>`).children.length, 9_999);
    assertXmlError(() => parseXml(`<r>${'<e/>'.repeat(10_000)}</r>`), 'too_many_elements', XmlLimitError);
  });

  test('input larger than maxBytes, as string (counted in UTF-8) and as buffer', () => {
    const doc = `<a>${'é'.repeat(600)}</a>`; // 607 characters, 1207 bytes
    assert.equal(parseXml(doc, { maxBytes: 1207 }).text.length, 600);
    assertXmlError(() => parseXml(doc, { maxBytes: 1206 }), 'too_large', XmlLimitError);
    assertXmlError(() => parseXml(Buffer.from(doc), { maxBytes: 1206 }), 'too_large', XmlLimitError);
    assertXmlError(() => parseXml(`<a>${'x'.repeat(1024 * 1024)}</a>`), 'too_large', XmlLimitError);
  });

  test('text longer than maxTextLength, also when split by CDATA', () => {
    assert.equal(parseXml('<a>0123456789</a>', { maxTextLength: 10 }).text, '0123456789');
    assertXmlError(() => parseXml('<a>01234567890</a>', { maxTextLength: 10 }), 'text_too_long');
    assertXmlError(() => parseXml('<a>012345<![CDATA[67890]]></a>', { maxTextLength: 10 }), 'text_too_long');
    assert.equal(parseXml('<a b="0123456789"/>', { maxTextLength: 10 }).attributes.get('b'), '0123456789');
    assertXmlError(() => parseXml('<a b="01234567890"/>', { maxTextLength: 10 }), 'text_too_long');
  });

  const malformed: [string, string | Uint8Array][] = [
    ['empty', ''],
    ['text only', 'hello'],
    ['unclosed element', '<a><b></a>'],
    ['unbound prefix', '<t:a/>'],
    ['two roots', '<a/><b/>'],
    ['invalid UTF-8', Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x3e])],
    ['unterminated attribute', '<a b="c/>'],
    ['control character', '<a>\u0001</a>'],
  ];
  for (const [name, input] of malformed) {
    test(`malformed/${name}`, () => assertXmlError(() => parseXml(input), 'malformed', XmlParseError));
  }

  test('every truncation of a valid document throws an XmlError and nothing else', () => {
    const doc = `<?xml version="1.0"?><m:R xmlns:m="${M}" xmlns:t="${T}"><t:I Id="a&amp;b"/><![CDATA[x]]><!-- c --></m:R>`;
    for (let i = 0; i < doc.length; i++) {
      assert.throws(() => parseXml(doc.slice(0, i)), XmlError, `prefix of length ${i}`);
    }
    assert.equal(parseXml(doc).local, 'R');
  });
});
