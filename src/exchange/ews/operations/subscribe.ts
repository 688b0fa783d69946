/**
 * Subscribe with a PushSubscriptionRequest on the Inbox (messages.xsd SubscribeType,
 * types.xsd PushSubscriptionRequestType; "Subscribe operation" in the EWS reference).
 */

import { buildEnvelope, escapeXml, expectResponseMessage, M_NS, readSoapBody } from '../soap.ts';
import type { SubscribeOptions, SubscribeResult } from '../types.ts';
import { childText, type XmlLimits, XmlParseError } from '../xml.ts';

/** The events Herald needs: new mail (the push), created/modified (read state, unread count). */
export const subscribedEventTypes = ['NewMailEvent', 'CreatedEvent', 'ModifiedEvent'] as const;

export function buildSubscribeRequest(options: SubscribeOptions, requestServerVersion?: string): string {
  const frequency = options.statusFrequencyMinutes;
  // types.xsd SubscriptionStatusFrequencyType: xs:int 1..1440.
  if (!Number.isInteger(frequency) || frequency < 1 || frequency > 1440) {
    throw new RangeError('statusFrequencyMinutes must be an integer from 1 to 1440');
  }
  const url = new URL(options.callbackUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RangeError('callbackUrl must be an http or https URL');
  }
  const eventTypes = subscribedEventTypes.map((type) => `<t:EventType>${type}</t:EventType>`).join('');
  return buildEnvelope(
    '<m:Subscribe><m:PushSubscriptionRequest>' +
      '<t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>' +
      `<t:EventTypes>${eventTypes}</t:EventTypes>` +
      `<t:StatusFrequency>${frequency}</t:StatusFrequency>` +
      `<t:URL>${escapeXml(options.callbackUrl)}</t:URL>` +
      '</m:PushSubscriptionRequest></m:Subscribe>',
    requestServerVersion,
  );
}

export function parseSubscribeResponse(
  body: string | Uint8Array,
  limits?: Partial<XmlLimits>,
): SubscribeResult {
  const message = expectResponseMessage(readSoapBody(body, limits), 'Subscribe');
  // SubscribeResponseMessageType declares both as minOccurs=0, but a push subscription that
  // succeeded without an id is useless: treat it as a malformed answer.
  const subscriptionId = childText(message, M_NS, 'SubscriptionId');
  const watermark = childText(message, M_NS, 'Watermark');
  if (!subscriptionId || !watermark) {
    throw new XmlParseError(
      'unexpected_structure',
      'SubscribeResponseMessage lacks SubscriptionId or Watermark',
    );
  }
  return { subscriptionId, watermark };
}
