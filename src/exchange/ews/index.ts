/**
 * Herald's EWS adapter: the client for the operations the engine needs, and the codec for the
 * push callback (SendNotification in, SendNotificationResult or a SOAP fault out).
 */
export { createEwsClient } from './client.ts';
export { buildSendNotificationResult, buildSoapFault, parseSendNotification } from './notification.ts';
export { exchangeVersions } from './soap.ts';
export type * from './types.ts';
export { XmlError, type XmlErrorCode, XmlLimitError, type XmlLimits, XmlParseError } from './xml.ts';
