/**
 * The EWS client's public contract, fixed before the implementation so the notification engine
 * and the client can be built side by side. See ../../../../shared/specs/ews/ for the schemas.
 */
import type { Dispatcher } from 'undici';

/** How Herald authenticates to EWS for one mailbox (decrypted from the device's JWE). */
export type EwsAuth =
  | { type: 'basic'; username: string; password: string }
  | { type: 'oauth'; accessToken: string }
  | { type: 'certificate'; pkcs12: Buffer; passphrase: string };

export interface EwsTarget {
  /** e.g. https://mail.contoso.com/EWS/Exchange.asmx */
  url: string;
  auth: EwsAuth;
}

export interface SubscribeOptions {
  /** The URL Exchange posts SendNotification to. */
  callbackUrl: string;
  /** StatusFrequency in minutes (1..1440); Herald's default is 15. */
  statusFrequencyMinutes: number;
}

export interface SubscribeResult {
  subscriptionId: string;
  watermark: string;
}

export interface MailItem {
  itemId: string;
  changeKey?: string;
  subject: string;
  /** Sender display name and address, as far as Exchange gives them. */
  from: { name?: string; address?: string };
  isRead?: boolean;
  dateTimeReceived?: string;
}

export interface EwsClient {
  subscribe(target: EwsTarget, options: SubscribeOptions): Promise<SubscribeResult>;
  unsubscribe(target: EwsTarget, subscriptionId: string): Promise<void>;
  getItem(target: EwsTarget, itemId: string): Promise<MailItem>;
  /** GetFolder on distinguished folder `inbox`: its UnreadCount. */
  getInboxUnreadCount(target: EwsTarget): Promise<number>;
}

export interface EwsClientOptions {
  /** Sent on every request: `Herald/<version> (+<publicUrl>)` (operator.md, "Identity towards Exchange"). */
  userAgent: string;
  /** RequestServerVersion Version attribute; default 'Exchange2013'. */
  requestServerVersion?: string;
  /** Per-request timeout; default 30 000 ms. */
  timeoutMs?: number;
  /** Extra trusted CA certificates (PEM), added to the system store. */
  ca?: string[];
  /** Outbound HTTP proxy URL, if any. */
  proxyUrl?: string;
  /**
   * Herald's secure email gateway: every request goes to this origin instead of the account's
   * (same path), with Herald's own client certificate (PEM) when given. A 403 that the gateway
   * marks `X-Herald-Gateway: blocked` becomes `mailbox_blocked`.
   */
  gateway?: { origin: string; cert?: string; key?: string };
  /**
   * Dispatcher for Basic and OAuth requests (tests aim it at a local server; default: a
   * client-owned undici Agent). Certificate auth always uses client-owned per-certificate agents,
   * because the client certificate belongs to the TLS connection.
   */
  dispatcher?: Dispatcher;
  /** Largest response body accepted; default 1 MiB (also the XML reader's input limit). */
  maxResponseBytes?: number;
  /** How many per-certificate agents are kept open (least recently used evicted); default 100. */
  maxCertificateAgents?: number;
}

/** What createEwsClient returns: the client plus the means to close the agents it owns. */
export interface EwsClientHandle extends EwsClient {
  /** Close every agent the client created (an injected dispatcher is left alone). */
  close(): Promise<void>;
}

/** The events a push notification can carry (types.xsd NotificationType). */
export type EwsEventType =
  | 'StatusEvent'
  | 'NewMailEvent'
  | 'CreatedEvent'
  | 'ModifiedEvent'
  | 'DeletedEvent'
  | 'MovedEvent'
  | 'CopiedEvent'
  | 'FreeBusyChangedEvent';

export interface EwsEvent {
  type: EwsEventType;
  watermark?: string;
  timeStamp?: string;
  /** Set for item events. */
  itemId?: string;
  /** Set for folder events. */
  folderId?: string;
  parentFolderId?: string;
  oldItemId?: string;
  /** MovedEvent/CopiedEvent on a folder (types.xsd MovedCopiedEventType OldFolderId). */
  oldFolderId?: string;
  oldParentFolderId?: string;
  /** ModifiedEvent on a folder carries the new UnreadCount. */
  unreadCount?: number;
}

/** One parsed SendNotification request (messages.xsd SendNotificationResponseMessageType). */
export interface SendNotification {
  subscriptionId: string;
  previousWatermark?: string;
  moreEvents: boolean;
  events: EwsEvent[];
}

/** What Herald answers Exchange: keep sending, or drop the subscription. */
export type SubscriptionStatus = 'OK' | 'Unsubscribe';
