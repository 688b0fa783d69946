import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { soapBodyChild, validateEwsBody } from '../../../test/support/ews-schema.ts';
import { buildSendNotificationResult, buildSoapFault, parseSendNotification } from './index.ts';
import { M_NS, readSoapBody, readSoapFault, SOAP_NS } from './soap.ts';
import * as fx from './test-fixtures.ts';
import { child, childText, XmlError, XmlLimitError, XmlParseError } from './xml.ts';

describe('parseSendNotification', () => {
  test('the fixture with every event type is schema-valid', async () => {
    const result = await validateEwsBody(soapBodyChild(fx.sendNotificationAllEvents));
    assert.deepEqual(result.errors, []);
  });

  test('reads every event type of NotificationType with its ids', () => {
    const parsed = parseSendNotification(Buffer.from(fx.sendNotificationAllEvents));
    assert.deepEqual(parsed, {
      subscriptionId: fx.ids.subscription,
      previousWatermark: fx.ids.watermark,
      moreEvents: true,
      events: [
        {
          type: 'NewMailEvent',
          watermark: 'W1',
          timeStamp: '2024-05-02T09:15:00Z',
          itemId: fx.ids.item,
          parentFolderId: fx.ids.inbox,
        },
        {
          type: 'CreatedEvent',
          watermark: 'W2',
          timeStamp: '2024-05-02T09:15:01Z',
          itemId: fx.ids.item,
          parentFolderId: fx.ids.inbox,
        },
        {
          type: 'ModifiedEvent',
          watermark: 'W3',
          timeStamp: '2024-05-02T09:15:02Z',
          folderId: fx.ids.inbox,
          parentFolderId: 'root',
          unreadCount: 7,
        },
        {
          type: 'DeletedEvent',
          watermark: 'W4',
          timeStamp: '2024-05-02T09:15:03Z',
          itemId: 'gone',
          parentFolderId: fx.ids.inbox,
        },
        {
          type: 'MovedEvent',
          watermark: 'W5',
          timeStamp: '2024-05-02T09:15:04Z',
          itemId: 'moved-new',
          parentFolderId: fx.ids.drafts,
          oldItemId: 'moved-old',
          oldParentFolderId: fx.ids.inbox,
        },
        {
          type: 'CopiedEvent',
          watermark: 'W6',
          timeStamp: '2024-05-02T09:15:05Z',
          folderId: 'copy-new',
          parentFolderId: 'root',
          oldFolderId: 'copy-old',
          oldParentFolderId: 'root',
        },
        {
          type: 'FreeBusyChangedEvent',
          watermark: 'W7',
          timeStamp: '2024-05-02T09:15:06Z',
          itemId: 'fb',
          parentFolderId: 'cal',
        },
        { type: 'StatusEvent', watermark: 'W8' },
      ],
    });
  });

  test('a status ping written with default namespaces and other prefixes', () => {
    assert.deepEqual(parseSendNotification(fx.sendNotificationStatusOtherPrefixes), {
      subscriptionId: fx.ids.subscription,
      previousWatermark: fx.ids.watermark,
      moreEvents: false,
      events: [{ type: 'StatusEvent', watermark: 'W9' }],
    });
  });

  test('events in a foreign namespace under the t: prefix are not read', () => {
    const spoofed = fx.sendNotificationAllEvents.replace(
      '<t:StatusEvent><t:Watermark>W8</t:Watermark></t:StatusEvent>',
      '<t:StatusEvent xmlns:t="urn:evil"><t:Watermark>W8</t:Watermark></t:StatusEvent>',
    );
    const parsed = parseSendNotification(spoofed);
    assert.equal(parsed.events.length, 7);
    assert.ok(parsed.events.every((e) => e.type !== 'StatusEvent'));
  });

  const broken: [string, string][] = [
    [
      'no SubscriptionId',
      fx.sendNotificationAllEvents.replace(/<t:SubscriptionId>[^<]*<\/t:SubscriptionId>/, ''),
    ],
    ['no events', fx.sendNotificationStatusOtherPrefixes.replace(/<StatusEvent>.*<\/StatusEvent>/, '')],
    ['item event without ids', fx.sendNotificationAllEvents.replace('<t:ItemId Id="gone"/>', '')],
    ['ItemId without Id', fx.sendNotificationAllEvents.replace('<t:ItemId Id="gone"/>', '<t:ItemId/>')],
    ['UnreadCount not a number', fx.sendNotificationAllEvents.replace('>7<', '>seven<')],
    ['UnreadCount beyond xs:int', fx.sendNotificationAllEvents.replace('>7<', '>2147483648<')],
    ['an ItemId over 1 KB', fx.sendNotificationAllEvents.replace('Id="gone"', `Id="${'g'.repeat(1025)}"`)],
    ['a Watermark over 1 KB', fx.sendNotificationAllEvents.replace('>W4<', `>${'w'.repeat(1025)}<`)],
    [
      'a SubscriptionId over 1 KB',
      fx.sendNotificationAllEvents.replace(fx.ids.subscription, 's'.repeat(1025)),
    ],
    ['MoreEvents not a boolean', fx.sendNotificationAllEvents.replace('>true<', '>yes<')],
    ['another operation', fx.subscribeSuccess],
    ['not SOAP', `<m:SendNotification xmlns:m="${M_NS}"/>`],
    [
      'SendNotification in the wrong namespace',
      fx.sendNotificationAllEvents.replace(`xmlns:m="${M_NS}"`, 'xmlns:m="urn:x"'),
    ],
  ];
  for (const [name, body] of broken) {
    test(`malformed/${name}`, () => {
      assert.throws(
        () => parseSendNotification(body),
        (err: unknown) => err instanceof XmlParseError && err.code === 'unexpected_structure',
      );
    });
  }

  test('hostile bodies are refused with typed errors', () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]>${fx.sendNotificationAllEvents.slice(38).replace('W1', '&e;')}`;
    assert.throws(
      () => parseSendNotification(xxe),
      (err: unknown) => err instanceof XmlError && err.code === 'doctype_forbidden',
    );
    assert.throws(
      () => parseSendNotification(fx.sendNotificationAllEvents, { maxBytes: 1000 }),
      XmlLimitError,
    );
    assert.throws(() => parseSendNotification(fx.sendNotificationAllEvents.slice(0, -30)), XmlParseError);
  });

  test('several response messages for one subscription are merged; mixed subscriptions refused', () => {
    const message = /<m:SendNotificationResponseMessage.*<\/m:SendNotificationResponseMessage>/.exec(
      fx.sendNotificationAllEvents,
    )![0];
    const twice = fx.sendNotificationAllEvents.replace(message, message + message);
    assert.equal(parseSendNotification(twice).events.length, 16);
    const mixed = fx.sendNotificationAllEvents.replace(
      message,
      message + message.replace(fx.ids.subscription, 'other'),
    );
    assert.throws(() => parseSendNotification(mixed), XmlParseError);
  });
});

describe('answers to Exchange', () => {
  for (const status of ['OK', 'Unsubscribe'] as const) {
    test(`SendNotificationResult ${status} is schema-valid and says ${status}`, async () => {
      const envelope = buildSendNotificationResult(status);
      const result = await validateEwsBody(soapBodyChild(envelope));
      assert.deepEqual(result.errors, []);
      const body = readSoapBody(envelope);
      assert.equal(body.ns, M_NS);
      assert.equal(body.local, 'SendNotificationResult');
      assert.equal(childText(body, M_NS, 'SubscriptionStatus'), status);
    });
  }

  test('SendNotificationResult refuses any other status at run time', () => {
    assert.throws(() => buildSendNotificationResult('Maybe' as 'OK'), RangeError);
  });

  test('SOAP 1.1 faults: unqualified faultcode/faultstring, code resolved in the envelope namespace', () => {
    for (const code of ['soap:Client', 'soap:Server'] as const) {
      const envelope = buildSoapFault(code, 'bad <input> & "quotes"');
      const fault = readSoapFault(readSoapBody(envelope));
      assert.deepEqual(fault, {
        faultcode: { ns: SOAP_NS, local: code.slice(5) },
        faultstring: 'bad <input> & "quotes"',
      });
      assert.ok(child(readSoapBody(envelope), '', 'faultcode'));
    }
    assert.throws(() => buildSoapFault('soap:Other' as 'soap:Client', 'x'), RangeError);
  });
});
