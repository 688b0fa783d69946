/**
 * The provider-neutral shapes every sender shares. The notification engine (notify/compose)
 * decides *what* to show; a sender only turns that into one provider's wire form and maps the
 * provider's answer onto four outcomes the outbox worker acts on.
 */

export type PushType = 'new_mail' | 'badge' | 'checkin';

export type PushProvider = 'apns' | 'fcm' | 'relay';

/**
 * Provider-neutral: what the notification engine (src/notify/compose) decided to show.
 * Neither alert nor badge ⇒ background push (APNs content-available, push type background,
 * priority 5; an FCM data message of normal priority unless it is a check-in).
 */
export interface PushNotification {
  type: PushType;
  registrationId: string;
  itemId?: string;
  /** Present ⇒ a visible alert (APNs: push type alert, priority 10, sound default, mutable-content 1). */
  alert?: { title: string; body: string };
  /** Present ⇒ set the app badge / FCM `unread`. */
  badge?: number;
  /** APNs apns-collapse-id (≤ 64 bytes; longer ids are hashed), FCM android.collapse_key. */
  collapseId?: string;
  /** Epoch ms → apns-expiration (seconds) / FCM android.ttl. A push already expired is not sent. */
  expiresAt?: number;
}

export interface PushTarget {
  platform: 'ios' | 'android';
  /** APNs device token (hex) or FCM registration token. Never logged. */
  token: string;
  /** Bundle id / package name: the APNs topic, and what selects the tenant's credentials. */
  appId: string;
  /** APNs only (FCM has one environment). */
  environment: 'production' | 'sandbox';
}

export type PushResult =
  | { status: 'sent'; provider: PushProvider; providerId?: string; latencyMs: number }
  /** The token is dead: deactivate the registration. */
  | { status: 'unregistered'; provider: PushProvider; reason: string; latencyMs: number }
  /** Transient: the caller reschedules (after retryAfterMs when the provider said so). */
  | { status: 'retry'; provider: PushProvider; reason: string; retryAfterMs?: number; latencyMs: number }
  /** Permanent: do not retry. */
  | { status: 'failed'; provider: PushProvider; reason: string; latencyMs: number };

export type PushStatus = PushResult['status'];

export interface PushSender {
  send(target: PushTarget, notification: PushNotification): Promise<PushResult>;
  /** Finishes pushes in flight, then closes connections; resolves when closed. */
  close(): Promise<void>;
}
