import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { soapBodyChild, validateEwsBody } from '../../../test/support/ews-schema.ts';
import { HeraldError } from '../../errors/index.ts';
import { buildGetInboxRequest, parseGetInboxUnreadCount } from './operations/get-folder.ts';
import { buildGetItemRequest, parseGetItemResponse } from './operations/get-item.ts';
import { buildSubscribeRequest, parseSubscribeResponse } from './operations/subscribe.ts';
import { buildUnsubscribeRequest, parseUnsubscribeResponse } from './operations/unsubscribe.ts';
import { M_NS, readSoapBody, SOAP_NS, T_NS } from './soap.ts';
import * as fx from './test-fixtures.ts';
import { attr, child, childrenOf, childText, parseXml, XmlParseError } from './xml.ts';

async function assertSchemaValid(envelope: string) {
  const result = await validateEwsBody(soapBodyChild(envelope));
  assert.deepEqual(result.errors, []);
  assert.equal(result.valid, true);
}

function assertHeraldError(fn: () => unknown, code: string, details: Record<string, unknown>) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HeraldError, String(err));
    assert.equal(err.code, code);
    assert.deepEqual(err.details, details);
    return true;
  });
}

/** The header every request carries (MS-OXWSCDATA 2.2.3.9), read by namespace. */
function requestServerVersion(envelope: string): string | undefined {
  const root = parseXml(envelope);
  return attr(child(child(root, SOAP_NS, 'Header'), T_NS, 'RequestServerVersion'), 'Version');
}

const callbackUrl = 'https://herald.contoso.com/api/ens/v1/ews/notify/r1.k3y?a=1&b=<2>';

describe('request builders (validated against Microsoft schemas)', () => {
  test('Subscribe: push subscription on the Inbox for new/created/modified, escaped URL', async () => {
    const envelope = buildSubscribeRequest({ callbackUrl, statusFrequencyMinutes: 15 });
    await assertSchemaValid(envelope);
    assert.equal(requestServerVersion(envelope), 'Exchange2013');
    const push = child(readSoapBody(envelope), M_NS, 'PushSubscriptionRequest');
    assert.equal(attr(child(child(push, T_NS, 'FolderIds'), T_NS, 'DistinguishedFolderId'), 'Id'), 'inbox');
    assert.deepEqual(
      childrenOf(child(push, T_NS, 'EventTypes'), T_NS, 'EventType').map((e) => e.text),
      ['NewMailEvent', 'CreatedEvent', 'ModifiedEvent'],
    );
    assert.equal(childText(push, T_NS, 'StatusFrequency'), '15');
    assert.equal(childText(push, T_NS, 'URL'), callbackUrl);
  });

  test('Subscribe rejects what the schema would (frequency 1..1440) and non-http URLs', () => {
    for (const statusFrequencyMinutes of [0, 1441, 1.5, Number.NaN]) {
      assert.throws(() => buildSubscribeRequest({ callbackUrl, statusFrequencyMinutes }), RangeError);
    }
    assert.throws(
      () => buildSubscribeRequest({ callbackUrl: 'file:///etc/passwd', statusFrequencyMinutes: 1 }),
      RangeError,
    );
    assert.match(
      buildSubscribeRequest({ callbackUrl, statusFrequencyMinutes: 1440 }, 'Exchange2016'),
      /Exchange2016/,
    );
  });

  test('Unsubscribe by SubscriptionId', async () => {
    const envelope = buildUnsubscribeRequest(fx.ids.subscription, 'Exchange2010_SP1');
    await assertSchemaValid(envelope);
    assert.equal(requestServerVersion(envelope), 'Exchange2010_SP1');
    assert.equal(childText(readSoapBody(envelope), M_NS, 'SubscriptionId'), fx.ids.subscription);
  });

  test('GetItem: IdOnly plus subject, sender, read state and received time', async () => {
    const envelope = buildGetItemRequest(`${fx.ids.item}"&<`);
    await assertSchemaValid(envelope);
    const request = readSoapBody(envelope);
    const shape = child(request, M_NS, 'ItemShape');
    assert.equal(childText(shape, T_NS, 'BaseShape'), 'IdOnly');
    assert.deepEqual(
      childrenOf(child(shape, T_NS, 'AdditionalProperties'), T_NS, 'FieldURI').map((f) =>
        attr(f, 'FieldURI'),
      ),
      ['item:Subject', 'message:From', 'message:IsRead', 'item:DateTimeReceived'],
    );
    assert.equal(attr(child(child(request, M_NS, 'ItemIds'), T_NS, 'ItemId'), 'Id'), `${fx.ids.item}"&<`);
  });

  test('GetFolder: the distinguished Inbox with its UnreadCount', async () => {
    const envelope = buildGetInboxRequest();
    await assertSchemaValid(envelope);
    const request = readSoapBody(envelope);
    assert.equal(
      attr(child(child(request, M_NS, 'FolderIds'), T_NS, 'DistinguishedFolderId'), 'Id'),
      'inbox',
    );
    const paths = child(child(request, M_NS, 'FolderShape'), T_NS, 'AdditionalProperties');
    assert.equal(attr(child(paths, T_NS, 'FieldURI'), 'FieldURI'), 'folder:UnreadCount');
  });

  test('the RequestServerVersion header element is itself schema-valid', async () => {
    const envelope = buildGetInboxRequest('V2018_01_08');
    const header = /<t:RequestServerVersion [^>]*\/>/.exec(envelope)![0];
    const doc = header.replace('<t:RequestServerVersion', `<t:RequestServerVersion xmlns:t="${T_NS}"`);
    const result = await validateEwsBody(doc);
    assert.deepEqual(result.errors, []);
  });
});

describe('the response fixtures are realistic', () => {
  for (const [name, envelope] of [
    ['SubscribeResponse', fx.subscribeSuccess],
    ['GetItemResponse', fx.getItemSuccess],
    ['GetFolderResponse', fx.getFolderSuccess(4)],
    ['GetItemResponse with ErrorServerBusy', fx.serverBusy('GetItem', 5000)],
  ] as const) {
    test(`${name} validates against the schemas`, async () => assertSchemaValid(envelope));
  }
});

describe('response parsers', () => {
  test('Subscribe → SubscriptionId + Watermark, whatever the prefixes', () => {
    const expected = { subscriptionId: fx.ids.subscription, watermark: fx.ids.watermark };
    assert.deepEqual(parseSubscribeResponse(fx.subscribeSuccess), expected);
    assert.deepEqual(parseSubscribeResponse(Buffer.from(fx.subscribeSuccessOtherPrefixes)), expected);
  });

  test('Subscribe without SubscriptionId is malformed', () => {
    const broken = fx.subscribeSuccess.replace(/<m:SubscriptionId>.*<\/m:SubscriptionId>/, '');
    assert.throws(() => parseSubscribeResponse(broken), XmlParseError);
  });

  test('Subscribe: the right prefix in the wrong namespace is not accepted', () => {
    const wrong = fx.subscribeSuccess.replace(`xmlns:m="${M_NS}"`, 'xmlns:m="urn:not-ews"');
    assert.throws(() => parseSubscribeResponse(wrong), XmlParseError);
  });

  test('Unsubscribe → ok', () => {
    assert.equal(parseUnsubscribeResponse(fx.unsubscribeSuccess), undefined);
  });

  test('GetItem → MailItem with sender name and address', () => {
    assert.deepEqual(parseGetItemResponse(fx.getItemSuccess), {
      itemId: fx.ids.item,
      changeKey: fx.ids.changeKey,
      subject: 'Q3 numbers & forecast',
      from: { name: 'Adele Vance', address: 'AdeleV@contoso.com' },
      isRead: false,
      dateTimeReceived: '2024-05-02T09:15:00Z',
    });
  });

  test('GetItem on another item type with other prefixes', () => {
    assert.deepEqual(parseGetItemResponse(fx.getItemOtherPrefixes), {
      itemId: fx.ids.item,
      subject: 'Sync',
      from: { address: 'ext@fabrikam.com' },
      isRead: true,
    });
  });

  test('GetFolder → UnreadCount', () => {
    assert.equal(parseGetInboxUnreadCount(fx.getFolderSuccess(0)), 0);
    assert.equal(parseGetInboxUnreadCount(fx.getFolderSuccess(1234)), 1234);
    assert.throws(() => parseGetInboxUnreadCount(fx.getFolderSuccess(-1)), XmlParseError);
  });
});

describe('errors in responses', () => {
  test('ErrorServerBusy → exchange_busy with BackOffMilliseconds', () => {
    assertHeraldError(() => parseGetItemResponse(fx.serverBusy('GetItem', 297749)), 'exchange_busy', {
      responseCode: 'ErrorServerBusy',
      responseClass: 'Error',
      backOffMs: 297749,
    });
    assertHeraldError(() => parseSubscribeResponse(fx.serverBusy('Subscribe', 1)), 'exchange_busy', {
      responseCode: 'ErrorServerBusy',
      responseClass: 'Error',
      backOffMs: 1,
    });
  });

  test('another ResponseCode → exchange_error; the MessageText (it names the mailbox) stays internal', () => {
    assert.throws(
      () => parseGetItemResponse(fx.itemNotFound),
      (err: unknown) => {
        assert.ok(err instanceof HeraldError);
        assert.equal(err.code, 'exchange_error');
        assert.deepEqual(err.details, { responseCode: 'ErrorItemNotFound', responseClass: 'Error' });
        assert.doesNotMatch(err.message, /contoso/);
        assert.doesNotMatch(JSON.stringify(err.toBody()), /contoso/);
        assert.match(String((err.cause as Error).message), /not found/);
        return true;
      },
    );
  });

  test('ResponseClass Warning is not a success', () => {
    const warning = fx.unsubscribeSuccess
      .replace('ResponseClass="Success"', 'ResponseClass="Warning"')
      .replace('>NoError<', '>ErrorBatchProcessingStopped<');
    assertHeraldError(() => parseUnsubscribeResponse(warning), 'exchange_error', {
      responseCode: 'ErrorBatchProcessingStopped',
      responseClass: 'Warning',
    });
  });

  test('soap:Fault with an EWS ResponseCode in its detail', () => {
    assertHeraldError(() => parseGetItemResponse(fx.schemaValidationFault), 'exchange_error', {
      responseCode: 'ErrorSchemaValidation',
      soapFault: 'ErrorSchemaValidation',
    });
  });

  test('throttling as a soap:Fault → exchange_busy with the back-off from the detail', () => {
    assertHeraldError(() => parseGetInboxUnreadCount(fx.serverBusyFault(1500)), 'exchange_busy', {
      responseCode: 'ErrorServerBusy',
      soapFault: 'ErrorServerBusy',
      backOffMs: 1500,
    });
  });

  test('a plain SOAP 1.1 fault without EWS detail', () => {
    const fault = `<e:Envelope xmlns:e="${SOAP_NS}"><e:Body><e:Fault><faultcode>e:Server</faultcode><faultstring>boom</faultstring></e:Fault></e:Body></e:Envelope>`;
    assertHeraldError(() => parseSubscribeResponse(fault), 'exchange_error', {
      responseCode: 'unknown',
      soapFault: 'Server',
    });
  });

  test('an answer for another operation is malformed', () => {
    assert.throws(() => parseGetItemResponse(fx.subscribeSuccess), XmlParseError);
    assert.throws(() => parseGetItemResponse('<html><body>Login</body></html>'), XmlParseError);
  });
});
