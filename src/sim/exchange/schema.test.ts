/**
 * Schema honesty: one representative of every message kind the simulator emits validates
 * against Microsoft's messages.xsd / types.xsd, and with `validateRequests` the simulator checks
 * what it receives the same way.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { soapBodyChild, validateEwsBody } from '../../../test/support/ews-schema.ts';
import { type ExchangeSimulator, startExchangeSimulator } from './index.ts';
import { ALICE, envelope, ews, faultCode, startReceiver, subscribe, subscribeXml } from './testkit.ts';

let sim: ExchangeSimulator;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const validatedRequests: string[] = [];

before(async () => {
  sim = await startExchangeSimulator({
    mailboxes: [ALICE],
    validateRequests: async (xml, operation) => {
      validatedRequests.push(operation ?? '?');
      return validateEwsBody(soapBodyChild(xml));
    },
  });
  receiver = await startReceiver(() => sim);
});
after(async () => {
  await sim.close();
  await receiver.close();
});

async function assertValid(kind: string, envelopeXml: string) {
  const result = await validateEwsBody(soapBodyChild(envelopeXml));
  assert.deepEqual(result.errors, [], `${kind} must validate`);
  assert.equal(result.valid, true, kind);
}

test("every kind of emitted message validates against Microsoft's EWS schemas", async () => {
  const subscribed = await ews(sim, subscribeXml({ url: receiver.url, statusFrequency: 1 }));
  await assertValid('SubscribeResponse', subscribed.text);
  const badUrl = await ews(sim, subscribeXml({ url: 'mailto:x@example.com' }));
  await assertValid('SubscribeResponse (error)', badUrl.text);

  const { itemId } = await sim.deliver(
    ALICE.email,
    { subject: 'Ünïcode & <xml>', from: { address: 'bob@example.com' } },
    { wait: true },
  );
  await assertValid('SendNotification (new mail)', receiver.received[0]!.body);
  await sim.markRead(ALICE.email, itemId, true, { wait: true });
  await assertValid('SendNotification (read)', receiver.received[1]!.body);
  await sim.advance(60_000);
  await assertValid('SendNotification (status)', receiver.received[2]!.body);

  const unknown = Buffer.from(itemId, 'base64');
  unknown[45]! ^= 0xff;
  const getItem = await ews(
    sim,
    envelope(
      `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:BodyType>HTML</t:BodyType></m:ItemShape><m:ItemIds><t:ItemId Id="${itemId}"/><t:ItemId Id="${unknown.toString('base64')}"/></m:ItemIds></m:GetItem>`,
    ),
  );
  assert.match(getItem.text, /ResponseClass="Success".*ResponseClass="Error"/);
  await assertValid('GetItemResponse', getItem.text);

  const getFolder = await ews(
    sim,
    envelope(
      '<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="drafts"/></m:FolderIds></m:GetFolder>',
    ),
  );
  assert.match(getFolder.text, /ResponseClass="Success".*ResponseClass="Error"/);
  await assertValid('GetFolderResponse', getFolder.text);

  const { subscriptionId } = await subscribe(sim, receiver.url);
  const unsubscribed = await ews(
    sim,
    envelope(`<m:Unsubscribe><m:SubscriptionId>${subscriptionId}</m:SubscriptionId></m:Unsubscribe>`),
  );
  await assertValid('UnsubscribeResponse', unsubscribed.text);

  assert.deepEqual(validatedRequests, [
    'Subscribe',
    'Subscribe',
    'GetItem',
    'GetFolder',
    'Subscribe',
    'Unsubscribe',
  ]);
});

test('with validateRequests, a request that breaks the schema gets an ErrorSchemaValidation fault', async () => {
  // StatusFrequency after URL: wrong order, which the simulator's own reader would not notice.
  const xml = subscribeXml({ url: receiver.url }).replace(
    /(<t:StatusFrequency>5<\/t:StatusFrequency>)(<t:URL>.*<\/t:URL>)/,
    '$2$1',
  );
  const { status, text } = await ews(sim, xml);
  assert.equal(status, 500);
  assert.equal(faultCode(text), 'ErrorSchemaValidation');
});
