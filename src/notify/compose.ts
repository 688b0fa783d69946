/**
 * What a device is shown for one outbox event, under its content policy (DESIGN decision 5,
 * device-api.md "What the device receives"). Pure: the delivery worker fetches, this decides,
 * push/ puts it on the wire.
 */
import { createHash } from 'node:crypto';
import type { PushNotification } from '../push/index.ts';
import type { ContentPolicy, OutboxKind } from '../store/index.ts';

export interface ComposeInput {
  kind: OutboxKind;
  policy: ContentPolicy;
  registrationId: string;
  itemId?: string | undefined;
  /** Subject and sender, when they were fetched (policy full, Exchange answered). */
  mail?: { subject: string; from: { name?: string; address?: string } } | undefined;
  /** The Inbox unread count, when known. */
  unread?: number | undefined;
  /** The badge the device has now, so a refresh that changes nothing is not sent. */
  badgeSent?: number | null | undefined;
  expiresAt?: number | undefined;
}

/** APNs allows 64 bytes of collapse id: a digest keeps ids of any length inside that. */
export function collapseId(registrationId: string, scope: string): string {
  return createHash('sha256').update(`${registrationId}\n${scope}`).digest('base64url');
}

/** The notification to send, or undefined when there is nothing the device needs to see. */
export function compose(input: ComposeInput): PushNotification | undefined {
  const base = {
    registrationId: input.registrationId,
    ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
  };
  switch (input.kind) {
    case 'checkin':
      return { ...base, type: 'checkin', collapseId: collapseId(input.registrationId, 'checkin') };
    case 'badge_refresh': {
      // A read, move or delete elsewhere never raises an alert; it only keeps the badge true.
      if (input.policy === 'silent' || input.unread === undefined) return undefined;
      if (input.unread === input.badgeSent) return undefined;
      return {
        ...base,
        type: 'badge',
        badge: input.unread,
        collapseId: collapseId(input.registrationId, 'badge'),
      };
    }
    case 'new_mail': {
      const item = input.itemId === undefined ? {} : { itemId: input.itemId };
      const collapse = { collapseId: collapseId(input.registrationId, `mail:${input.itemId ?? ''}`) };
      const badge = input.unread === undefined ? {} : { badge: input.unread };
      if (input.policy === 'full' && input.mail) {
        const { subject, from } = input.mail;
        return {
          ...base,
          ...item,
          ...collapse,
          type: 'new_mail',
          alert: { title: from.name || from.address || 'New mail', body: subject || '(no subject)' },
          ...badge,
        };
      }
      if (input.policy === 'badge' && input.unread !== undefined) {
        return {
          ...base,
          type: 'badge',
          badge: input.unread,
          collapseId: collapseId(input.registrationId, 'badge'),
        };
      }
      // silent, or what could not be fetched: the app is woken and fetches for itself, with the
      // badge when one is known (never an alert without its text).
      return { ...base, ...item, ...collapse, type: 'new_mail', ...(input.policy === 'silent' ? {} : badge) };
    }
  }
}
