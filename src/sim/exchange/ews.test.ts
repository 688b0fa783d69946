import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ExchangeSimulator, startExchangeSimulator } from './index.ts';
import {
  ALICE,
  basic,
  code,
  envelope,
  ews,
  faultCode,
  responseMessages,
  subscribe,
  subscribeXml,
  tText,
} from './testkit.ts';
import { child, NS } from './xml.ts';

const BOB = {
  email: 'bob@contoso.com',
  username: 'CONTOSO\\bob',
  password: 'hunter2',
  tokens: ['bob-1', 'bob-2'],
};
const getItemXml = (ids: string[], shape = 'IdOnly', extra: string[] = []) =>
  envelope(
    `<m:GetItem><m:ItemShape><t:BaseShape>${shape}</t:BaseShape>${
      extra.length
        ? `<t:AdditionalProperties>${extra.map((f) => `<t:FieldURI FieldURI="${f}"/>`).join('')}</t:AdditionalProperties>`
        : ''
    }</m:ItemShape><m:ItemIds>${ids.map((id) => `<t:ItemId Id="${id}"/>`).join('')}</m:ItemIds></m:GetItem>`,
  );
const getInboxXml = (shape = 'Default') =>
  envelope(
    `<m:GetFolder><m:FolderShape><t:BaseShape>${shape}</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`,
  );

let sim: ExchangeSimulator;
before(async () => {
  sim = await startExchangeSimulator({ mailboxes: [ALICE, BOB] });
});
after(() => sim.close());

describe('authentication', () => {
  test('Basic with the email or the configured username, and Bearer tokens, are accepted', async () => {
    for (const auth of [
      basic(ALICE.email, ALICE.password),
      basic(BOB.username, BOB.password),
      'Bearer bob-1',
    ]) {
      const { status, text } = await ews(sim, getInboxXml(), auth);
      assert.equal(status, 200, auth);
      assert.equal(code(responseMessages(text)[0]), 'NoError');
    }
  });

  test('missing or wrong credentials get 401 with WWW-Authenticate challenges', async () => {
    for (const auth of [
      '',
      basic(ALICE.email, 'wrong'),
      basic('nobody@contoso.com', 'secret'),
      'Negotiate abc',
    ]) {
      const { status, headers, text } = await ews(sim, getInboxXml(), auth);
      assert.equal(status, 401, auth);
      assert.equal(text, '');
      const challenges = headers.get('www-authenticate') ?? '';
      assert.match(challenges, /Basic realm="127\.0\.0\.1:\d+"/);
      assert.match(challenges, /Bearer client_id="00000002-0000-0ff1-ce00-000000000000"/);
      assert.doesNotMatch(challenges, /invalid_token/);
    }
  });

  test('a revoked bearer token gets 401 with error="invalid_token", the other token still works', async () => {
    assert.equal((await ews(sim, getInboxXml(), 'Bearer bob-2')).status, 200);
    const revoke = await fetch(`${sim.url}/sim/tokens/revoke`, {
      method: 'POST',
      body: JSON.stringify({ token: 'bob-2' }),
    });
    assert.deepEqual(await revoke.json(), { revoked: true });
    const { status, headers } = await ews(sim, getInboxXml(), 'Bearer bob-2');
    assert.equal(status, 401);
    assert.match(headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.match(headers.get('x-ms-diagnostics') ?? '', /invalid_token/);
    assert.equal((await ews(sim, getInboxXml(), 'Bearer bob-1')).status, 200);
  });
});

describe('GetItem and GetFolder', () => {
  test('GetItem returns Subject, From, IsRead and DateTimeReceived when asked', async () => {
    const { itemId } = await sim.deliver(ALICE.email, {
      subject: 'Lunch & <more>',
      from: { name: 'Carol', address: 'carol@example.com' },
    });
    const fields = ['item:Subject', 'message:From', 'message:IsRead', 'item:DateTimeReceived'];
    const { text } = await ews(sim, getItemXml([itemId], 'IdOnly', fields));
    const [message] = responseMessages(text);
    assert.equal(message?.attrs.ResponseClass, 'Success');
    const item = child(child(message, NS.m, 'Items'), NS.t, 'Message');
    assert.deepEqual(
      item?.children.map((c) => c.local),
      ['ItemId', 'Subject', 'DateTimeReceived', 'From', 'IsRead'],
    );
    assert.equal(child(item, NS.t, 'ItemId')?.attrs.Id, itemId);
    assert.equal(tText(item, 'Subject'), 'Lunch & <more>');
    assert.equal(tText(item, 'IsRead'), 'false');
    assert.equal(
      tText(child(child(item, NS.t, 'From'), NS.t, 'Mailbox'), 'EmailAddress'),
      'carol@example.com',
    );
    assert.equal(tText(child(child(item, NS.t, 'From'), NS.t, 'Mailbox'), 'Name'), 'Carol');
    assert.equal(tText(item, 'DateTimeReceived'), new Date(sim.now()).toISOString().replace(/\.\d+Z$/, 'Z'));

    await sim.markRead(ALICE.email, itemId);
    const again = child(
      child(responseMessages((await ews(sim, getItemXml([itemId], 'AllProperties'))).text)[0], NS.m, 'Items'),
      NS.t,
      'Message',
    );
    assert.equal(tText(again, 'IsRead'), 'true');
  });

  test('the Default shape leaves out IsRead and DateTimeReceived, as Exchange does', async () => {
    const { itemId } = await sim.deliver(ALICE.email, { subject: 'x', from: { address: 'd@example.com' } });
    const item = child(
      child(responseMessages((await ews(sim, getItemXml([itemId], 'Default'))).text)[0], NS.m, 'Items'),
      NS.t,
      'Message',
    );
    const names = item!.children.map((c) => c.local);
    assert.ok(names.includes('Subject') && names.includes('From'));
    assert.ok(!names.includes('IsRead') && !names.includes('DateTimeReceived'));
  });

  test("unknown and malformed ids, and another mailbox's items, are errors per item", async () => {
    const { itemId: bobsItem } = await sim.deliver(BOB.email, {
      subject: 'bob only',
      from: { address: 'e@example.com' },
    });
    const { itemId: alicesItem } = await sim.deliver(ALICE.email, {
      subject: 'mine',
      from: { address: 'e@example.com' },
    });
    const unknown = Buffer.alloc(46, 7);
    unknown[0] = 0;
    unknown[1] = 3;
    const { status, text } = await ews(
      sim,
      getItemXml([bobsItem, unknown.toString('base64'), 'nope!', alicesItem]),
    );
    assert.equal(status, 200);
    const messages = responseMessages(text);
    assert.deepEqual(
      messages.map((m) => [m.attrs.ResponseClass, code(m)]),
      [
        ['Error', 'ErrorItemNotFound'],
        ['Error', 'ErrorItemNotFound'],
        ['Error', 'ErrorInvalidIdMalformed'],
        ['Success', 'NoError'],
      ],
    );
  });

  test('GetFolder on the Inbox gives DisplayName, TotalCount and UnreadCount', async () => {
    const before = sim.mailbox(ALICE.email).inbox;
    await sim.deliver(ALICE.email, { subject: 'count me', from: { address: 'f@example.com' } });
    const folder = child(
      child(responseMessages((await ews(sim, getInboxXml())).text)[0], NS.m, 'Folders'),
      NS.t,
      'Folder',
    );
    assert.equal(tText(folder, 'DisplayName'), 'Inbox');
    assert.equal(tText(folder, 'TotalCount'), String(before.totalCount + 1));
    assert.equal(tText(folder, 'UnreadCount'), String(before.unreadCount + 1));
    assert.equal(child(folder, NS.t, 'FolderId')?.attrs.Id, before.folderId);

    const other = envelope(
      `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="sentitems"/><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>bob@contoso.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`,
    );
    assert.deepEqual(responseMessages((await ews(sim, other)).text).map(code), [
      'ErrorFolderNotFound',
      'ErrorAccessDenied',
    ]);
  });
});

describe('SOAP handling', () => {
  test('elements are matched by namespace, not prefix: default namespaces and odd prefixes work', async () => {
    const xml = `<?xml version="1.0"?><e:Envelope xmlns:e="${NS.soap}"><e:Body><GetFolder xmlns="${NS.m}"><FolderShape><BaseShape xmlns="${NS.t}">IdOnly</BaseShape></FolderShape><FolderIds><x:DistinguishedFolderId xmlns:x="${NS.t}" Id="inbox"/></FolderIds></GetFolder></e:Body></e:Envelope>`;
    const { status, text } = await ews(sim, xml);
    assert.equal(status, 200);
    assert.equal(code(responseMessages(text)[0]), 'NoError');
    // The right local names in the wrong namespace are not EWS.
    const wrong = xml.replace(`xmlns="${NS.m}"`, 'xmlns="urn:not-ews"');
    const answer = await ews(sim, wrong);
    assert.equal(answer.status, 500);
    assert.equal(faultCode(answer.text), 'ErrorInvalidRequest');
  });

  test('a DTD is refused, so entities are never expanded', async () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>${envelope('<m:GetFolder/>').replace(/^<\?xml[^>]*>/, '')}`;
    const { status, text } = await ews(sim, xml);
    assert.equal(status, 500);
    assert.equal(faultCode(text), 'ErrorSchemaValidation');
    assert.match(text, /DTD/);
  });

  test('unknown operations, bad versions, impersonation and non-XML content types are refused', async () => {
    const findItem = await ews(sim, envelope('<m:FindItem Traversal="Shallow"/>'));
    assert.equal(findItem.status, 500);
    assert.equal(faultCode(findItem.text), 'ErrorInvalidRequest');
    const version = await ews(
      sim,
      envelope('<m:GetFolder/>', '<t:RequestServerVersion Version="Exchange1999"/>'),
    );
    assert.equal(faultCode(version.text), 'ErrorInvalidServerVersion');
    const impersonation = await ews(
      sim,
      envelope(
        '<m:GetFolder/>',
        '<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>bob@contoso.com</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>',
      ),
    );
    assert.equal(faultCode(impersonation.text), 'ErrorImpersonationDenied');
    const json = await fetch(sim.ewsUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: basic(ALICE.email, ALICE.password) },
      body: '{}',
    });
    assert.equal(json.status, 415);
  });

  test('the endpoint path is case-insensitive', async () => {
    const response = await fetch(sim.ewsUrl.replace('/EWS/Exchange.asmx', '/ews/exchange.ASMX'), {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml', Authorization: basic(ALICE.email, ALICE.password) },
      body: getInboxXml(),
    });
    assert.equal(response.status, 200);
  });
});

describe('Subscribe and Unsubscribe', () => {
  const url = 'http://127.0.0.1:9/callback';

  test('invalid requests get the errors Exchange gives', async () => {
    const zero = await ews(sim, subscribeXml({ url, statusFrequency: 0 }));
    assert.equal(zero.status, 500);
    assert.equal(faultCode(zero.text), 'ErrorSchemaValidation');
    assert.equal(
      faultCode((await ews(sim, subscribeXml({ url, statusFrequency: 1441 }))).text),
      'ErrorSchemaValidation',
    );
    assert.equal(
      faultCode((await ews(sim, subscribeXml({ url, eventTypes: ['MailArrived'] }))).text),
      'ErrorSchemaValidation',
    );

    const cases: Array<[string, string]> = [
      [subscribeXml({ url: 'not a url' }), 'ErrorInvalidPushSubscriptionUrl'],
      [subscribeXml({ url: 'ftp://example.com/x' }), 'ErrorInvalidPushSubscriptionUrl'],
      [subscribeXml({ url, folder: '<t:DistinguishedFolderId Id="calendar"/>' }), 'ErrorFolderNotFound'],
      [subscribeXml({ url, watermark: 'AQAAAA==' }), 'ErrorInvalidWatermark'],
      [
        envelope(
          '<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>',
        ),
        'ErrorInvalidSubscriptionRequest',
      ],
    ];
    for (const [xml, expected] of cases) {
      const { status, text } = await ews(sim, xml);
      assert.equal(status, 200);
      const [message] = responseMessages(text);
      assert.equal(message?.attrs.ResponseClass, 'Error');
      assert.equal(code(message), expected);
    }
  });

  test('a subscription on the Inbox by its FolderId works too', async () => {
    const folderId = sim.mailbox(ALICE.email).inbox.folderId;
    const { text } = await ews(sim, subscribeXml({ url, folder: `<t:FolderId Id="${folderId}"/>` }));
    const id = tText(responseMessages(text)[0], 'SubscriptionId') ?? '';
    assert.equal(code(responseMessages(text)[0]), 'NoError');
    assert.equal(child(responseMessages(text)[0], NS.m, 'SubscriptionId') !== undefined, true, id);
  });

  test('Unsubscribe on a push subscription is ErrorInvalidSubscription (MS-OXWSNTIF 3.1.4.4)', async () => {
    const { subscriptionId } = await subscribe(sim, url);
    const unsubscribeXml = (id: string) =>
      envelope(`<m:Unsubscribe><m:SubscriptionId>${id}</m:SubscriptionId></m:Unsubscribe>`);
    assert.equal(
      code(responseMessages((await ews(sim, unsubscribeXml(subscriptionId))).text)[0]),
      'ErrorInvalidSubscription',
    );
    assert.equal(sim.subscription(subscriptionId).state, 'active');
    assert.equal(
      code(responseMessages((await ews(sim, unsubscribeXml(subscriptionId), 'Bearer bob-1')).text)[0]),
      'ErrorSubscriptionAccessDenied',
    );
    assert.equal(
      code(responseMessages((await ews(sim, unsubscribeXml('bm9uZQ=='))).text)[0]),
      'ErrorSubscriptionNotFound',
    );
  });
});
