import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ActiveSyncQuery,
  ActiveSyncQueryError,
  activeSyncCommandCodes,
  activeSyncCommandLabel,
  activeSyncCommandNames,
  MAX_ACTIVESYNC_QUERY_LENGTH,
  parseActiveSyncQuery,
} from './index.ts';

// ---- byte-by-byte builders for MS-ASHTTP 2.2.1.1.1.1 ----

const ascii = (s: string) => [...Buffer.from(s, 'utf8')];
const lengthPrefixed = (bytes: number[]) => [bytes.length, ...bytes];
const param = (tag: number, value: number[]) => [tag, value.length, ...value];
const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');

interface Header {
  version?: number;
  command?: number;
  locale?: number;
  deviceId?: number[];
  policyKey?: number[];
  deviceType?: number[];
}

function header(h: Header = {}): number[] {
  const locale = h.locale ?? 0x0409;
  return [
    h.version ?? 141,
    h.command ?? 0,
    locale & 0xff, // little-endian
    locale >> 8,
    ...lengthPrefixed(h.deviceId ?? ascii('ApplDNQX1234')),
    ...lengthPrefixed(h.policyKey ?? []),
    ...lengthPrefixed(h.deviceType ?? ascii('iPhone')),
  ];
}

function assertQueryError(raw: string, reason: RegExp | string) {
  assert.throws(
    () => parseActiveSyncQuery(raw),
    (err: unknown) => {
      assert.ok(err instanceof ActiveSyncQueryError, String(err));
      if (typeof reason === 'string') assert.equal(err.reason, reason);
      else assert.match(err.reason, reason);
      return true;
    },
  );
}

describe('base64 query (MS-ASHTTP 2.2.1.1.1.1)', () => {
  test('base64/the example of 2.2.1.1.1.1, field by field', () => {
    // /Microsoft-Server-ActiveSync?jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l
    const bytes = [
      0x8c, // protocol version 140 = 14.0
      0x00, // command code 0 = Sync
      0x09,
      0x04, // locale 0x0409 = 1033 (en-US), little-endian
      0x0a,
      ...ascii('v140Device'), // device id length 10 + device id
      0x00, // policy key length 0: no policy key
      0x0a,
      ...ascii('SmartPhone'), // device type length 10 + device type
    ];
    assert.equal(b64(bytes), 'jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l');
    assert.deepEqual(parseActiveSyncQuery('jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l'), {
      encoding: 'base64',
      protocolVersion: '14.0',
      commandCode: 0,
      command: 'Sync',
      locale: 1033,
      deviceId: 'v140Device',
      deviceType: 'SmartPhone',
      parameters: {},
    } satisfies ActiveSyncQuery);
  });

  test('base64/every field: policy key, parameters by tag, User out of the parameters', () => {
    const bytes = [
      ...header({
        version: 161,
        command: 3, // SmartReply
        locale: 0x0407, // de-DE
        deviceId: ascii('ABCDEF0123456789'),
        policyKey: [0x59, 0xd3, 0x05, 0xeb], // 0xEB05D359 little-endian
        deviceType: ascii('Android'),
      }),
      ...param(1, ascii('5')), // CollectionId
      ...param(3, ascii('5:12')), // ItemId
      ...param(7, [0x01]), // Options: SaveInSent
      ...param(6, ascii('20250101T090000Z')), // Occurrence
      ...param(8, ascii('alice@contoso.com')), // User
      ...param(0, ascii('att 1.pdf')), // AttachmentName
      ...param(4, ascii('RgAAAAB')), // LongId
    ];
    assert.deepEqual(parseActiveSyncQuery(b64(bytes)), {
      encoding: 'base64',
      protocolVersion: '16.1',
      commandCode: 3,
      command: 'SmartReply',
      locale: 1031,
      deviceId: 'ABCDEF0123456789',
      policyKey: 0xeb05d359,
      deviceType: 'Android',
      user: 'alice@contoso.com',
      parameters: {
        CollectionId: '5',
        ItemId: '5:12',
        Options: '1',
        Occurrence: '20250101T090000Z',
        AttachmentName: 'att 1.pdf',
        LongId: 'RgAAAAB',
      },
    } satisfies ActiveSyncQuery);
  });

  const cases: { name: string; bytes: number[]; expect: Partial<ActiveSyncQuery> }[] = [
    { name: 'version 12.1', bytes: header({ version: 121 }), expect: { protocolVersion: '12.1' } },
    { name: 'version 14.1', bytes: header({ version: 141 }), expect: { protocolVersion: '14.1' } },
    { name: 'version 16.0', bytes: header({ version: 160 }), expect: { protocolVersion: '16.0' } },
    { name: 'Ping (18)', bytes: header({ command: 18 }), expect: { command: 'Ping', commandCode: 18 } },
    {
      name: 'FolderSync (9)',
      bytes: header({ command: 9 }),
      expect: { command: 'FolderSync', commandCode: 9 },
    },
    {
      name: 'Provision (20)',
      bytes: header({ command: 20 }),
      expect: { command: 'Provision', commandCode: 20 },
    },
    { name: 'Find (23)', bytes: header({ command: 23 }), expect: { command: 'Find', commandCode: 23 } },
    {
      name: 'unassigned code 7',
      bytes: header({ command: 7 }),
      expect: { command: 'Unknown(7)', commandCode: 7 },
    },
    {
      name: 'unknown code 200',
      bytes: header({ command: 200 }),
      expect: { command: 'Unknown(200)', commandCode: 200 },
    },
    {
      name: 'binary device id (a GUID) as upper-case hex',
      bytes: header({ deviceId: [0x00, 0x1f, 0xab, 0xcd, 0x20, 0x41] }),
      expect: { deviceId: '001FABCD2041' },
    },
    { name: 'empty device type', bytes: header({ deviceType: [] }), expect: { deviceType: undefined } },
    {
      name: 'UTF-8 device type',
      bytes: header({ deviceType: ascii('Télé') }),
      expect: { deviceType: 'Télé' },
    },
    {
      name: 'unassigned parameter tag 2 kept as Unknown(2)',
      bytes: [...header(), ...param(2, ascii('x'))],
      expect: { parameters: { 'Unknown(2)': 'x' } },
    },
    {
      name: 'empty parameter value',
      bytes: [...header(), ...param(1, [])],
      expect: { parameters: { CollectionId: '' } },
    },
    {
      name: 'Options AcceptMultiPart (0x02)',
      bytes: [...header(), ...param(7, [0x02])],
      expect: { parameters: { Options: '2' } },
    },
  ];
  for (const c of cases) {
    test(`base64/${c.name}`, () => {
      const parsed = parseActiveSyncQuery(b64(c.bytes));
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(parsed[key as keyof ActiveSyncQuery], value, key);
      }
    });
  }

  test('base64/percent-encoded base64 characters are decoded first', () => {
    const bytes = [...header({ deviceId: [0xfb, 0xff, 0xbf] }), ...param(8, ascii('bob'))];
    const plain = b64(bytes);
    assert.match(plain, /[+/=]/, 'the fixture must contain characters a client may percent-encode');
    const encoded = encodeURIComponent(plain);
    assert.notEqual(encoded, plain);
    assert.deepEqual(parseActiveSyncQuery(encoded), parseActiveSyncQuery(plain));
    assert.equal(parseActiveSyncQuery(encoded).user, 'bob');
  });

  test('base64/unpadded base64 is read', () => {
    const bytes = header({ deviceType: ascii('iPad') }); // 22 bytes: needs padding
    const padded = b64(bytes);
    assert.ok(padded.endsWith('='));
    assert.deepEqual(parseActiveSyncQuery(padded.replace(/=+$/, '')), parseActiveSyncQuery(padded));
  });

  test('base64/every truncation fails, except at a field boundary that ends the parameters', () => {
    const head = header({ policyKey: [1, 2, 3, 4] });
    const params = [param(1, ascii('17')), param(8, ascii('carol')), param(7, [1])];
    const full = [...head, ...params.flat()];
    const boundaries = new Set<number>();
    let at = head.length;
    boundaries.add(at);
    for (const p of params) {
      at += p.length;
      boundaries.add(at);
    }
    assert.equal(at, full.length);
    let parsedCount = 0;
    for (let cut = 1; cut <= full.length; cut++) {
      const raw = b64(full.slice(0, cut));
      if (boundaries.has(cut)) {
        assert.equal(parseActiveSyncQuery(raw).deviceId, 'ApplDNQX1234', `cut ${cut}`);
        parsedCount++;
      } else {
        assert.throws(() => parseActiveSyncQuery(raw), ActiveSyncQueryError, `cut ${cut}`);
      }
    }
    assert.equal(parsedCount, 4);
  });

  const malformed: { name: string; raw: string; reason: RegExp | string }[] = [
    {
      name: 'device id length past the end',
      raw: b64([141, 0, 9, 4, 40, ...ascii('short')]),
      reason: /truncated/,
    },
    {
      name: 'parameter length past the end',
      raw: b64([...header(), 1, 10, ...ascii('abc')]),
      reason: 'truncated in the parameter value',
    },
    {
      name: 'a parameter tag without its length',
      raw: b64([...header(), 1]),
      reason: 'truncated in the parameter length',
    },
    { name: 'empty device id', raw: b64(header({ deviceId: [] })), reason: 'empty device id' },
    {
      name: 'policy key of 2 bytes',
      raw: b64(header({ policyKey: [1, 2] })),
      reason: 'policy key length is neither 0 nor 4',
    },
    {
      name: 'Options of 2 bytes',
      raw: b64([...header(), ...param(7, [1, 2])]),
      reason: 'Options is not one byte',
    },
    {
      name: 'duplicate parameter tag',
      raw: b64([...header(), ...param(8, ascii('a')), ...param(8, ascii('b'))]),
      reason: 'duplicate parameter',
    },
    {
      name: 'device type not UTF-8',
      raw: b64(header({ deviceType: [0xc3, 0x28] })),
      reason: 'device type is not UTF-8',
    },
    {
      name: 'parameter value not UTF-8',
      raw: b64([...header(), ...param(3, [0xff])]),
      reason: 'parameter value is not UTF-8',
    },
    { name: 'characters outside base64', raw: 'jAAJBAp2MTQw!GV2aWNl', reason: 'not base64' },
    { name: 'URL-safe alphabet', raw: 'jAAJBAp2MTQw_GV2aWNl', reason: 'not base64' },
    { name: 'impossible length', raw: 'jAAJB', reason: 'not base64' },
    { name: 'padding in a string of the wrong length', raw: 'jAAJBA=', reason: 'not base64' },
    { name: 'bad percent-encoding', raw: 'jAAJ%ZZBA', reason: 'bad percent-encoding' },
    { name: 'one byte', raw: 'jA==', reason: 'truncated in the command code' },
    { name: 'oversize', raw: 'A'.repeat(MAX_ACTIVESYNC_QUERY_LENGTH + 1), reason: 'query too long' },
  ];
  for (const c of malformed) {
    test(`error/${c.name}`, () => assertQueryError(c.raw, c.reason));
  }

  test('error/the message never quotes the query', () => {
    const raw = b64([...header({ deviceId: ascii('SecretDevice') }), ...param(8, ascii('secret-user')), 1]);
    assert.throws(
      () => parseActiveSyncQuery(raw),
      (err: unknown) => {
        assert.ok(err instanceof ActiveSyncQueryError);
        assert.doesNotMatch(err.message, /Secret|secret/);
        return true;
      },
    );
  });
});

describe('plain query (MS-ASHTTP 2.2.1.1.1.2)', () => {
  test('plain/the FolderSync example of MS-ASHTTP 4.1', () => {
    assert.deepEqual(
      parseActiveSyncQuery('Cmd=FolderSync&User=fakename&DeviceId=v140Device&DeviceType=SmartPhone'),
      {
        encoding: 'plain',
        command: 'FolderSync',
        commandCode: 9,
        user: 'fakename',
        deviceId: 'v140Device',
        deviceType: 'SmartPhone',
        parameters: {},
      } satisfies ActiveSyncQuery,
    );
  });

  const cases: { name: string; raw: string; expect: Partial<ActiveSyncQuery> }[] = [
    {
      name: 'names ignore case, command spelled canonically',
      raw: 'cmd=sync&user=alice&deviceid=ABC&DEVICETYPE=iPhone',
      expect: { command: 'Sync', commandCode: 0, user: 'alice', deviceId: 'ABC', deviceType: 'iPhone' },
    },
    {
      name: 'command parameters by their MS-ASHTTP names, others as given',
      raw: 'Cmd=SmartForward&collectionid=7&ITEMID=7%3A1&SaveInSent=T&X-Custom=1',
      expect: {
        command: 'SmartForward',
        commandCode: 2,
        parameters: { CollectionId: '7', ItemId: '7:1', SaveInSent: 'T', 'X-Custom': '1' },
      },
    },
    {
      name: 'unknown command kept as given, without a code',
      raw: 'Cmd=Frobnicate&DeviceId=A',
      expect: { command: 'Frobnicate', commandCode: undefined },
    },
    {
      name: 'percent-encoding and + decoded',
      raw: 'Cmd=Ping&User=CONTOSO%5Calice&DeviceType=Outlook+Mobile',
      expect: { user: 'CONTOSO\\alice', deviceType: 'Outlook Mobile' },
    },
    {
      name: 'empty known parameters count as absent',
      raw: 'Cmd=Sync&DeviceId=&User=',
      expect: { deviceId: undefined, user: undefined },
    },
    {
      name: 'a parameter named __proto__ is an ordinary key',
      raw: 'Cmd=Sync&__proto__=x',
      expect: { parameters: { ['__proto__']: 'x' } },
    },
    {
      name: 'the empty query (OPTIONS)',
      raw: '',
      expect: { encoding: 'plain', command: undefined, parameters: {} },
    },
  ];
  for (const c of cases) {
    test(`plain/${c.name}`, () => {
      const parsed = parseActiveSyncQuery(c.raw);
      assert.equal(parsed.encoding, 'plain');
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(parsed[key as keyof ActiveSyncQuery], value, key);
      }
    });
  }

  test('plain/the parameters object has no inherited surprises', () => {
    const parsed = parseActiveSyncQuery('Cmd=Sync&__proto__=x');
    assert.equal(Object.getPrototypeOf(parsed.parameters), Object.prototype);
    assert.deepEqual(Object.keys(parsed.parameters), ['__proto__']);
  });

  test('plain/a query of exactly the limit is read', () => {
    const raw = `Cmd=Sync&X=${'a'.repeat(MAX_ACTIVESYNC_QUERY_LENGTH - 'Cmd=Sync&X='.length)}`;
    assert.equal(raw.length, MAX_ACTIVESYNC_QUERY_LENGTH);
    assert.equal(parseActiveSyncQuery(raw).command, 'Sync');
  });

  const malformed: { name: string; raw: string; reason: string }[] = [
    { name: 'duplicate DeviceId', raw: 'Cmd=Sync&DeviceId=A&DeviceId=B', reason: 'duplicate parameter' },
    { name: 'duplicate Cmd in another case', raw: 'Cmd=Sync&cmd=Ping', reason: 'duplicate parameter' },
    { name: 'parameter without a name', raw: 'Cmd=Sync&=x', reason: 'parameter without a name' },
    {
      name: 'oversize',
      raw: `Cmd=Sync&X=${'a'.repeat(MAX_ACTIVESYNC_QUERY_LENGTH)}`,
      reason: 'query too long',
    },
  ];
  for (const c of malformed) {
    test(`error/plain ${c.name}`, () => assertQueryError(c.raw, c.reason));
  }
});

describe('command labels (metrics)', () => {
  test('labels/known names in any case, everything else is other', () => {
    const cases: [string | undefined, string][] = [
      ['Sync', 'Sync'],
      ['sync', 'Sync'],
      ['ITEMOPERATIONS', 'ItemOperations'],
      ['Unknown(7)', 'other'],
      ['Frobnicate', 'other'],
      ['', 'other'],
      [undefined, 'other'],
    ];
    for (const [command, label] of cases)
      assert.equal(activeSyncCommandLabel(command), label, String(command));
  });

  test('labels/the set is bounded: the 20 commands of 2.2.1.1.1.1.2 with unique codes', () => {
    assert.equal(activeSyncCommandNames.length, 20);
    const codes = activeSyncCommandNames.map((name) => activeSyncCommandCodes[name]);
    assert.equal(new Set(codes).size, codes.length);
    assert.deepEqual(
      codes.filter((code) => code >= 5 && code <= 8),
      [],
      'codes 5 to 8 are unassigned',
    );
    assert.ok(Object.isFrozen(activeSyncCommandNames));
  });

  test('labels/every parsed base64 command maps to its own label', () => {
    for (const name of activeSyncCommandNames) {
      const parsed = parseActiveSyncQuery(b64(header({ command: activeSyncCommandCodes[name] })));
      assert.equal(activeSyncCommandLabel(parsed.command), name);
    }
  });
});
