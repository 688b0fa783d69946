/** Unsubscribe by SubscriptionId (messages.xsd UnsubscribeType; "Unsubscribe operation"). */
import { buildEnvelope, escapeXml, expectResponseMessage, readSoapBody } from '../soap.ts';
import type { XmlLimits } from '../xml.ts';

export function buildUnsubscribeRequest(subscriptionId: string, requestServerVersion?: string): string {
  if (!subscriptionId) throw new RangeError('subscriptionId must not be empty');
  return buildEnvelope(
    `<m:Unsubscribe><m:SubscriptionId>${escapeXml(subscriptionId)}</m:SubscriptionId></m:Unsubscribe>`,
    requestServerVersion,
  );
}

/** Returns normally when Exchange answered Success; throws the mapped error otherwise. */
export function parseUnsubscribeResponse(body: string | Uint8Array, limits?: Partial<XmlLimits>): void {
  expectResponseMessage(readSoapBody(body, limits), 'Unsubscribe');
}
