import assert from 'node:assert/strict';
import { test } from 'node:test';
import { soapBodyChild, validateEwsBody } from './ews-schema.ts';

const M = 'http://schemas.microsoft.com/exchange/services/2006/messages';

test('schema helper accepts a valid SendNotificationResult and rejects a wrong one', async () => {
  const good = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="${M}"><soap:Body><m:SendNotificationResult><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResult></soap:Body></soap:Envelope>`;
  const result = await validateEwsBody(soapBodyChild(good));
  assert.deepEqual(result.errors, []);
  assert.equal(result.valid, true);
  const bad = good.replace('>OK<', '>Maybe<');
  const badResult = await validateEwsBody(soapBodyChild(bad));
  assert.equal(badResult.valid, false);
  assert.ok(badResult.errors.length > 0);
});
