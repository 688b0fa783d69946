import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ewsSpecDir, soapBodyChild, validateEwsBody } from '../../../test/support/ews-schema.ts';
import {
  EWS_INSPECT_BYTES,
  ewsOperation,
  ewsOperationNames,
  inspectEwsRequest,
  mailboxesFromEwsRequest,
} from './index.ts';

const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';
const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
const M = 'http://schemas.microsoft.com/exchange/services/2006/messages';
const T = 'http://schemas.microsoft.com/exchange/services/2006/types';

/** A request the way EWS clients write it: soap:/m:/t: prefixes declared on the envelope. */
function envelope(body: string, header = ''): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    `<soap:Envelope xmlns:soap="${SOAP}" xmlns:m="${M}" xmlns:t="${T}">\n` +
    `  <soap:Header>\n    <t:RequestServerVersion Version="Exchange2013"/>${header}\n  </soap:Header>\n` +
    `  <soap:Body>\n    ${body}\n  </soap:Body>\n</soap:Envelope>\n`
  );
}

const impersonate = (element: string, value: string) =>
  `<t:ExchangeImpersonation><t:ConnectingSID><t:${element}>${value}</t:${element}></t:ConnectingSID></t:ExchangeImpersonation>`;

const folderOf = (id: string, mailbox?: string) =>
  mailbox === undefined
    ? `<t:DistinguishedFolderId Id="${id}"/>`
    : `<t:DistinguishedFolderId Id="${id}"><t:Mailbox><t:EmailAddress>${mailbox}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`;

const fixtures = {
  subscribeImpersonated: envelope(
    '<m:Subscribe><m:PushSubscriptionRequest>' +
      `<t:FolderIds>${folderOf('inbox')}</t:FolderIds>` +
      '<t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType></t:EventTypes>' +
      '<t:StatusFrequency>15</t:StatusFrequency>' +
      '<t:URL>https://herald.contoso.com/api/ens/v1/ews/notify/r1.k3y</t:URL>' +
      '</m:PushSubscriptionRequest></m:Subscribe>',
    impersonate('PrimarySmtpAddress', 'Alice@Contoso.com'),
  ),
  getItem: envelope(
    '<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>' +
      '<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="message:From"/></t:AdditionalProperties></m:ItemShape>' +
      '<m:ItemIds><t:ItemId Id="AAMkADk0N2Y1MzQ4LWJkMDgtNDNiZC05ZTUzLWQ2ZDhmZjhiYWY3NABGAAAAAADWz0dt=" ' +
      'ChangeKey="CQAAABYAAACLmYpvjQN9Tqt5o1HEnnlaAAAOd3VF"/></m:ItemIds></m:GetItem>',
  ),
  getFolderShared: envelope(
    '<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>' +
      `<m:FolderIds>${folderOf('inbox', 'Shared.Inbox@Contoso.com')}${folderOf('calendar', 'room1@contoso.com')}` +
      `${folderOf('drafts')}</m:FolderIds></m:GetFolder>`,
  ),
  createItemWithRecipients: envelope(
    '<m:CreateItem MessageDisposition="SendAndSaveCopy">' +
      `<m:SavedItemFolderId>${folderOf('sentitems', 'shared@contoso.com')}</m:SavedItemFolderId>` +
      '<m:Items><t:Message><t:Subject>Hello</t:Subject><t:Body BodyType="Text">Hi Bob</t:Body>' +
      '<t:ToRecipients><t:Mailbox><t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox></t:ToRecipients>' +
      '</t:Message></m:Items></m:CreateItem>',
  ),
  getDelegate: envelope(
    '<m:GetDelegate IncludePermissions="true"><m:Mailbox><t:EmailAddress>Boss@Contoso.com</t:EmailAddress></m:Mailbox></m:GetDelegate>',
  ),
  expandDl: envelope(
    '<m:ExpandDL><m:Mailbox><t:EmailAddress>all-staff@contoso.com</t:EmailAddress></m:Mailbox></m:ExpandDL>',
  ),
  getOof: envelope(
    '<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>Boss@Contoso.com</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>',
  ),
};

describe('EWS fixtures are real request shapes', () => {
  for (const [name, xml] of Object.entries(fixtures)) {
    test(`schema/${name} validates against messages.xsd`, async () => {
      const result = await validateEwsBody(soapBodyChild(xml));
      assert.deepEqual(result.errors, []);
      assert.equal(result.valid, true);
    });
  }
});

describe('mailboxesFromEwsRequest', () => {
  const cases: { name: string; xml: string | Buffer; mailboxes: string[]; operation: string }[] = [
    {
      name: 'Subscribe with ExchangeImpersonation/PrimarySmtpAddress',
      xml: fixtures.subscribeImpersonated,
      mailboxes: ['alice@contoso.com'],
      operation: 'Subscribe',
    },
    {
      name: 'GetItem on the own mailbox names none',
      xml: fixtures.getItem,
      mailboxes: [],
      operation: 'GetItem',
    },
    {
      name: 'GetFolder with DistinguishedFolderId/Mailbox, several folders',
      xml: fixtures.getFolderShared,
      mailboxes: ['shared.inbox@contoso.com', 'room1@contoso.com'],
      operation: 'GetFolder',
    },
    {
      name: 'CreateItem: the saved-items mailbox, not the recipient',
      xml: fixtures.createItemWithRecipients,
      mailboxes: ['shared@contoso.com'],
      operation: 'CreateItem',
    },
    {
      name: 'GetDelegate: the m:Mailbox it acts on',
      xml: fixtures.getDelegate,
      mailboxes: ['boss@contoso.com'],
      operation: 'GetDelegate',
    },
    {
      name: 'ExpandDL: a distribution list is no mailbox acted on',
      xml: fixtures.expandDl,
      mailboxes: [],
      operation: 'ExpandDL',
    },
    {
      name: 'GetUserOofSettingsRequest: t:Mailbox/t:Address',
      xml: fixtures.getOof,
      mailboxes: ['boss@contoso.com'],
      operation: 'GetUserOofSettingsRequest',
    },
    {
      name: 'impersonation by SmtpAddress and a folder mailbox, deduplicated',
      xml: envelope(
        `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${folderOf('inbox', 'ALICE@contoso.com')}</m:FolderIds></m:GetFolder>`,
        impersonate('SmtpAddress', 'alice@contoso.com'),
      ),
      mailboxes: ['alice@contoso.com'],
      operation: 'GetFolder',
    },
    {
      name: 'impersonation by PrincipalName',
      xml: envelope(
        fixtures.getItem.match(/<m:GetItem>.*<\/m:GetItem>/s)![0],
        impersonate('PrincipalName', 'Carol@corp.contoso.com'),
      ),
      mailboxes: ['carol@corp.contoso.com'],
      operation: 'GetItem',
    },
    {
      name: 'impersonation by SID names no address',
      xml: envelope('<m:GetItem/>', impersonate('SID', 'S-1-5-21-1-2-3-1001')),
      mailboxes: [],
      operation: 'GetItem',
    },
    {
      name: 'other prefixes and default namespaces',
      xml:
        `<e:Envelope xmlns:e="${SOAP}"><e:Header><ExchangeImpersonation xmlns="${T}"><ConnectingSID>` +
        '<PrimarySmtpAddress> dave@contoso.com </PrimarySmtpAddress></ConnectingSID></ExchangeImpersonation></e:Header>' +
        `<e:Body><GetFolder xmlns="${M}" xmlns:x="${T}"><FolderShape><x:BaseShape>IdOnly</x:BaseShape></FolderShape>` +
        '<FolderIds><x:DistinguishedFolderId Id="inbox"><x:Mailbox><x:EmailAddress>eve@contoso.com</x:EmailAddress>' +
        '</x:Mailbox></x:DistinguishedFolderId></FolderIds></GetFolder></e:Body></e:Envelope>',
      mailboxes: ['dave@contoso.com', 'eve@contoso.com'],
      operation: 'GetFolder',
    },
    {
      name: 'look-alike elements in another namespace are ignored',
      xml: envelope(
        '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>' +
          '<t:DistinguishedFolderId Id="inbox"><x:Mailbox xmlns:x="urn:not-ews"><t:EmailAddress>mallory@contoso.com</t:EmailAddress></x:Mailbox></t:DistinguishedFolderId>' +
          '</m:FolderIds></m:GetFolder>',
        '<ExchangeImpersonation><ConnectingSID><PrimarySmtpAddress>trudy@contoso.com</PrimarySmtpAddress></ConnectingSID></ExchangeImpersonation>',
      ),
      mailboxes: [],
      operation: 'GetFolder',
    },
    {
      name: 'impersonation outside the header is ignored',
      xml: envelope(`<m:GetItem>${impersonate('PrimarySmtpAddress', 'frank@contoso.com')}</m:GetItem>`),
      mailboxes: [],
      operation: 'GetItem',
    },
    {
      name: 'a non-SOAP document names nothing',
      xml: `<m:GetFolder xmlns:m="${M}" xmlns:t="${T}"><m:FolderIds>${folderOf('inbox', 'x@contoso.com')}</m:FolderIds></m:GetFolder>`,
      mailboxes: [],
      operation: 'other',
    },
    {
      name: 'SOAP 1.2 envelope',
      xml: `<s:Envelope xmlns:s="${SOAP12}" xmlns:m="${M}" xmlns:t="${T}"><s:Body><m:GetFolder><m:FolderIds>${folderOf('inbox', 'Grace@contoso.com')}</m:FolderIds></m:GetFolder></s:Body></s:Envelope>`,
      mailboxes: ['grace@contoso.com'],
      operation: 'GetFolder',
    },
    {
      name: 'CDATA and entities in the address',
      xml: envelope(
        `<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress><![CDATA[o'brien]]>&#64;contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`,
      ),
      mailboxes: ["o'brien@contoso.com"],
      operation: 'GetFolder',
    },
    {
      name: 'a Buffer with a BOM',
      xml: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(fixtures.getFolderShared)]),
      mailboxes: ['shared.inbox@contoso.com', 'room1@contoso.com'],
      operation: 'GetFolder',
    },
    { name: 'an unknown operation', xml: envelope('<m:Frobnicate/>'), mailboxes: [], operation: 'other' },
    {
      name: 'a body element in another namespace',
      xml: envelope(`<t:GetItem/>`),
      mailboxes: [],
      operation: 'other',
    },
    {
      name: 'no body at all',
      xml: `<soap:Envelope xmlns:soap="${SOAP}"><soap:Header/></soap:Envelope>`,
      mailboxes: [],
      operation: 'other',
    },
    { name: 'empty input', xml: '', mailboxes: [], operation: 'other' },
    { name: 'not XML', xml: '{"json": true}', mailboxes: [], operation: 'other' },
  ];
  for (const c of cases) {
    test(`mailboxes/${c.name}`, () => {
      assert.deepEqual(mailboxesFromEwsRequest(c.xml), c.mailboxes);
      assert.equal(ewsOperation(c.xml), c.operation);
    });
  }

  test('cut/a body cut anywhere gives what was complete before the cut, never a partial address', () => {
    const xml = fixtures.getFolderShared;
    const bytes = Buffer.from(xml);
    const firstEnd = xml.indexOf('</t:EmailAddress>') + '</t:EmailAddress>'.length;
    const secondEnd = xml.indexOf('</t:EmailAddress>', firstEnd) + '</t:EmailAddress>'.length;
    const operationAt = xml.indexOf('<m:GetFolder>') + '<m:GetFolder>'.length;
    for (let cut = 0; cut <= bytes.length; cut++) {
      const result = inspectEwsRequest(bytes.subarray(0, cut));
      const expected = [
        ...(cut >= firstEnd ? ['shared.inbox@contoso.com'] : []),
        ...(cut >= secondEnd ? ['room1@contoso.com'] : []),
      ];
      assert.deepEqual(result.mailboxes, expected, `cut at ${cut}`);
      assert.equal(result.operation, cut >= operationAt ? 'GetFolder' : 'other', `cut at ${cut}`);
      assert.equal(result.complete, true, `cut at ${cut}: a cut is not an error`);
    }
  });

  test('cut/inside a multi-byte character', () => {
    const xml = envelope(
      `<m:GetFolder><m:FolderIds>${folderOf('inbox', 'zoë@contoso.com')}${folderOf('inbox', 'zoë@contoso.com')}`,
    );
    const bytes = Buffer.from(xml);
    const second = bytes.lastIndexOf(Buffer.from('ë'));
    const result = inspectEwsRequest(bytes.subarray(0, second + 1)); // first byte of 'ë' only
    assert.deepEqual(result.mailboxes, ['zoë@contoso.com']);
  });

  test('malformed/reading stops at the malformation and keeps what came before', () => {
    const xml = envelope(
      `<m:GetFolder><m:FolderIds>${folderOf('inbox', 'kept@contoso.com')}</m:Wrong>${folderOf('inbox', 'lost@contoso.com')}</m:FolderIds></m:GetFolder>`,
    );
    const result = inspectEwsRequest(xml);
    assert.deepEqual(result.mailboxes, ['kept@contoso.com']);
    assert.equal(result.complete, false);
  });

  test('malformed/a DTD stops the reading before the document', () => {
    const xml =
      '<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY who "x@contoso.com">]>' +
      envelope(`<m:GetFolder><m:FolderIds>${folderOf('inbox', '&who;')}</m:FolderIds></m:GetFolder>`).replace(
        /^<\?xml[^>]*>\n/,
        '',
      );
    const result = inspectEwsRequest(xml);
    assert.deepEqual(result, { operation: 'other', mailboxes: [], complete: false });
  });

  test('malformed/an unbound prefix stops the reading', () => {
    const result = inspectEwsRequest(
      `<soap:Envelope xmlns:soap="${SOAP}"><soap:Body><q:GetItem/></soap:Body></soap:Envelope>`,
    );
    assert.equal(result.complete, false);
    assert.deepEqual(result.mailboxes, []);
  });

  test('bounds/the element limit stops the reading', () => {
    const padding = '<t:FieldURI FieldURI="item:Subject"/>'.repeat(50);
    const xml = envelope(
      `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${padding}</t:AdditionalProperties></m:ItemShape>` +
        `<m:ParentFolderIds>${folderOf('inbox', 'late@contoso.com')}</m:ParentFolderIds></m:FindItem>`,
    );
    assert.deepEqual(inspectEwsRequest(xml).mailboxes, ['late@contoso.com']);
    const bounded = inspectEwsRequest(xml, { maxElements: 40 });
    assert.deepEqual(bounded, { operation: 'FindItem', mailboxes: [], complete: false });
  });

  test('bounds/the depth limit stops the reading', () => {
    const deep = `${'<t:X>'.repeat(100)}${'</t:X>'.repeat(100)}`;
    const xml = envelope(`<m:GetItem>${deep}</m:GetItem>`);
    assert.equal(inspectEwsRequest(xml).complete, false);
    assert.equal(inspectEwsRequest(xml, { maxDepth: 200 }).complete, true);
  });

  test('bounds/only the first EWS_INSPECT_BYTES are read', () => {
    // The mailbox sits after a comment of `pad` bytes: readable below the limit, not above it.
    const withMailboxAfter = (pad: number) =>
      envelope(
        '<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>' +
          `${folderOf('inbox')}<!--${'p'.repeat(pad)}-->${folderOf('inbox', 'far@contoso.com')}</m:FolderIds></m:GetFolder>`,
      );
    assert.deepEqual(mailboxesFromEwsRequest(withMailboxAfter(1000)), ['far@contoso.com']);
    const far = withMailboxAfter(EWS_INSPECT_BYTES);
    assert.deepEqual(mailboxesFromEwsRequest(far), []);
    assert.deepEqual(mailboxesFromEwsRequest(Buffer.from(far)), []);
    assert.deepEqual(inspectEwsRequest(far, { maxBytes: 2 * EWS_INSPECT_BYTES }).mailboxes, [
      'far@contoso.com',
    ]);
  });

  test('bounds/an absurdly long address is ignored', () => {
    const xml = envelope(
      `<m:GetFolder><m:FolderIds>${folderOf('inbox', `${'a'.repeat(400)}@contoso.com`)}</m:FolderIds></m:GetFolder>`,
    );
    assert.deepEqual(mailboxesFromEwsRequest(xml), []);
  });

  test('never throws on random input', () => {
    let seed = 11;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const pieces = [
      '<',
      '>',
      '/',
      'soap:',
      't:',
      'm:',
      'Mailbox',
      'EmailAddress',
      '&',
      ';',
      '"',
      '=',
      'x',
      ' ',
      '<![CDATA[',
    ];
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({ length: next() % 40 }, () => pieces[next() % pieces.length]).join('');
      const result = inspectEwsRequest(i % 2 ? fixtures.getFolderShared.slice(0, next() % 600) + text : text);
      assert.ok(Array.isArray(result.mailboxes));
    }
  });
});

describe('operation labels', () => {
  test('labels/ewsOperationNames is every request element of messages.xsd, in order', () => {
    const xsd = readFileSync(join(ewsSpecDir, 'messages.xsd'), 'utf8');
    // complexType name → base of its extension (if any), read textually from the schema.
    const bases = new Map<string, string>();
    for (const m of xsd.matchAll(/<xs:complexType name="(\w+)"[^>/]*>([\s\S]*?)<\/xs:complexType>/g)) {
      const base = /<xs:extension base="m:(\w+)"/.exec(m[2]!);
      if (base) bases.set(m[1]!, base[1]!);
    }
    const isRequest = (type: string): boolean => {
      for (let t: string | undefined = type, hops = 0; t && hops < 20; t = bases.get(t), hops++) {
        if (t === 'BaseRequestType') return true;
      }
      return false;
    };
    const requests = [...xsd.matchAll(/^ {4}<xs:element name="(\w+)" type="m:(\w+)"\/>/gm)]
      .filter((m) => isRequest(m[2]!))
      .map((m) => m[1]!);
    assert.ok(requests.includes('Subscribe') && requests.includes('GetStreamingEvents'));
    assert.deepEqual([...ewsOperationNames], requests);
  });

  test('labels/every listed operation is its own label; anything else is other', () => {
    for (const name of ewsOperationNames) assert.equal(ewsOperation(envelope(`<m:${name}/>`)), name);
    assert.equal(ewsOperation(envelope('<m:SendNotification/>')), 'other');
    assert.equal(ewsOperation(envelope('<m:GetItemResponse/>')), 'other');
  });
});
