import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { identitiesFromAuthorization, type RequestIdentity } from './index.ts';

const basic = (userPass: string, charset: BufferEncoding = 'utf8') =>
  `Basic ${Buffer.from(userPass, charset).toString('base64')}`;
const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** An unsigned-looking JWS: the gateway never verifies, so the signature is just bytes. */
const jwt = (payload: unknown) => `${segment({ alg: 'RS256', typ: 'JWT' })}.${segment(payload)}.c2lnbmF0dXJl`;

const cases: { name: string; header: string | undefined; expect: RequestIdentity }[] = [
  { name: 'none/no header', header: undefined, expect: { users: [] } },
  {
    name: 'basic/UPN as given, lower-cased',
    header: basic('Alice@Contoso.com:pa:ss'),
    expect: { scheme: 'basic', user: 'alice@contoso.com', users: ['alice@contoso.com'] },
  },
  {
    name: 'basic/down-level DOMAIN\\user gives both forms',
    header: basic('CONTOSO\\Alice:secret'),
    expect: { scheme: 'basic', user: 'contoso\\alice', users: ['contoso\\alice', 'alice'] },
  },
  {
    name: 'basic/scheme token in any case, extra spaces',
    header: `  bAsIc   ${Buffer.from('bob:x').toString('base64')}  `,
    expect: { scheme: 'basic', user: 'bob', users: ['bob'] },
  },
  {
    name: 'basic/UTF-8 user-id',
    header: basic('jürgen@contoso.com:x'),
    expect: { scheme: 'basic', user: 'jürgen@contoso.com', users: ['jürgen@contoso.com'] },
  },
  {
    name: 'basic/Latin-1 user-id from an older client',
    header: basic('jürgen@contoso.com:x', 'latin1'),
    expect: { scheme: 'basic', user: 'jürgen@contoso.com', users: ['jürgen@contoso.com'] },
  },
  { name: 'basic/no colon', header: basic('alice'), expect: { scheme: 'basic', users: [] } },
  { name: 'basic/empty user-id', header: basic(':secret'), expect: { scheme: 'basic', users: [] } },
  { name: 'basic/not base64', header: 'Basic !!!not-base64!!!', expect: { scheme: 'basic', users: [] } },
  { name: 'basic/no credentials', header: 'Basic', expect: { scheme: 'basic', users: [] } },
  {
    name: 'bearer/Entra ID v1 token: upn and unique_name, deduplicated',
    header: `Bearer ${jwt({ aud: 'https://outlook.office365.com', upn: 'Alice@Contoso.com', unique_name: 'alice@contoso.com', oid: '0f1e' })}`,
    expect: { scheme: 'bearer', user: 'alice@contoso.com', users: ['alice@contoso.com'] },
  },
  {
    name: 'bearer/every user claim in claim order',
    header: `Bearer ${jwt({ smtp: 'a@x.example', email: 'b@x.example', preferred_username: 'c@x.example', unique_name: 'd@x.example', upn: 'e@x.example' })}`,
    expect: {
      scheme: 'bearer',
      user: 'e@x.example',
      users: ['e@x.example', 'd@x.example', 'c@x.example', 'b@x.example', 'a@x.example'],
    },
  },
  {
    name: 'bearer/non-string claims are ignored',
    header: `Bearer ${jwt({ upn: 42, email: ['x@y.example'], preferred_username: null, smtp: 'ok@y.example' })}`,
    expect: { scheme: 'bearer', user: 'ok@y.example', users: ['ok@y.example'] },
  },
  {
    name: 'bearer/payload is an array',
    header: `Bearer ${jwt(['upn'])}`,
    expect: { scheme: 'bearer', users: [] },
  },
  {
    name: 'bearer/payload is not JSON',
    header: `Bearer ${segment({})}.${Buffer.from('{not json').toString('base64url')}.sig`,
    expect: { scheme: 'bearer', users: [] },
  },
  { name: 'bearer/opaque token', header: 'Bearer EwBwA8l6BAAU', expect: { scheme: 'bearer', users: [] } },
  {
    name: 'bearer/a JWE (five parts) is opaque',
    header: `Bearer ${segment({ alg: 'RSA-OAEP' })}.${segment({ upn: 'x@y.example' })}.iv.ct.tag`,
    expect: { scheme: 'bearer', users: [] },
  },
  {
    name: 'bearer/oversize token is not decoded',
    header: `Bearer ${jwt({ upn: 'big@x.example', pad: 'a'.repeat(20_000) })}`,
    expect: { scheme: 'bearer', users: [] },
  },
  {
    name: 'bearer/an absurdly long claim is dropped',
    header: `Bearer ${jwt({ upn: `${'a'.repeat(400)}@x.example`, email: 'short@x.example' })}`,
    expect: { scheme: 'bearer', user: 'short@x.example', users: ['short@x.example'] },
  },
  {
    name: 'bearer/__proto__ payload key does not leak into claims',
    header: `Bearer ${segment({})}.${Buffer.from('{"__proto__":{"upn":"evil@x.example"}}').toString('base64url')}.s`,
    expect: { scheme: 'bearer', users: [] },
  },
  {
    name: 'negotiate/scheme only',
    header: 'Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1',
    expect: { scheme: 'negotiate', users: [] },
  },
  {
    name: 'ntlm/scheme only',
    header: 'NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==',
    expect: { scheme: 'ntlm', users: [] },
  },
  { name: 'other/Digest', header: 'Digest username="alice"', expect: { scheme: 'other', users: [] } },
  { name: 'other/empty header', header: '', expect: { scheme: 'other', users: [] } },
  { name: 'other/garbage bytes', header: '\u0000\uffff \u0001', expect: { scheme: 'other', users: [] } },
];

describe('identitiesFromAuthorization', () => {
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(identitiesFromAuthorization(c.header), c.expect);
    });
  }

  test('basic/the password appears nowhere in the result', () => {
    const result = identitiesFromAuthorization(basic('CONTOSO\\alice:S3cret-Passw0rd'));
    assert.doesNotMatch(JSON.stringify(result), /S3cret|passw0rd/i);
  });

  test('never throws on random input', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const prefixes = ['Basic ', 'Bearer ', 'Bearer a.', 'NTLM ', ''];
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(Array.from({ length: next() % 64 }, () => next() % 256));
      const body = i % 2 ? bytes.toString('base64') : bytes.toString('latin1');
      const result = identitiesFromAuthorization(prefixes[i % prefixes.length] + body + (i % 3 ? '' : '.x'));
      assert.ok(Array.isArray(result.users));
    }
  });
});
