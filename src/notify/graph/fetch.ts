/**
 * What a push about a Graph mailbox shows, for the delivery workers:
 * - app-only: the message's subject and sender and the Inbox unread count, read with the
 *   tenant's application token (a message gone meanwhile raises no alert);
 * - delegated: the notification's own encrypted content, opened with Herald's key ring, and the
 *   last known unread count (no token exists at this point).
 */

import type { MasterKey } from '../../crypto/index.ts';
import type { MailItem } from '../../exchange/ews/index.ts';
import {
  decryptMessage,
  type GraphMessage,
  GraphNotificationError,
  GraphRequestError,
  toHeraldError,
} from '../../exchange/graph/index.ts';
import type { Logger } from '../../log/index.ts';
import type { OutboxEvent, Registration } from '../../store/index.ts';
import { openMailbox } from '../account.ts';
import type { Fetched } from '../delivery.ts';
import type { GraphEncryptionKeys } from './encryption-keys.ts';
import type { GraphOutboxPayload } from './intake.ts';
import type { GraphSubscriptions } from './subscriptions.ts';

const TRANSIENT = new Set(['exchange_unreachable', 'exchange_busy']);

export class GraphFetcher {
  readonly #o: {
    master: MasterKey;
    subscriptions: GraphSubscriptions;
    keys: GraphEncryptionKeys;
    logger: Logger;
  };

  constructor(options: {
    master: MasterKey;
    subscriptions: GraphSubscriptions;
    keys: GraphEncryptionKeys;
    logger: Logger;
  }) {
    this.#o = options;
  }

  async fetch(
    event: OutboxEvent,
    registration: Registration,
    want: { mail: boolean; unread: boolean },
  ): Promise<Fetched> {
    const payload = (event.payload ?? {}) as GraphOutboxPayload;
    const client = this.#o.subscriptions.access.appClient(registration.tenantId);
    if (!client) return this.#delegated(registration, payload, want);
    const mailbox = openMailbox(this.#o.master, registration).email;
    const [mail, unread] = await Promise.allSettled([
      want.mail && event.itemId ? client.getMessage(mailbox, event.itemId) : Promise.resolve(undefined),
      want.unread ? client.getInboxUnreadCount(mailbox) : Promise.resolve(undefined),
    ]);
    const fetched: Fetched = {};
    if (mail.status === 'fulfilled' && mail.value) fetched.mail = mailItem(mail.value);
    if (unread.status === 'fulfilled' && unread.value !== undefined) fetched.unread = unread.value;
    for (const outcome of [mail, unread]) {
      if (outcome.status === 'fulfilled') continue;
      const error = outcome.reason;
      if (error instanceof GraphRequestError && error.status === 404 && outcome === mail) {
        fetched.itemGone = true;
        continue;
      }
      const mapped = toHeraldError(error);
      if (TRANSIENT.has(mapped.code) || (error instanceof GraphRequestError && error.retryable)) {
        fetched.transient = mapped;
        continue;
      }
      // An app that lost its permission is the tenant administrator's to fix, not the device's:
      // the push goes out without the fields.
      this.#o.logger.warn(
        { registrationId: registration.id, code: mapped.code, details: mapped.details },
        'graph: could not read the notification fields with the application; pushing without them',
      );
    }
    return fetched;
  }

  async #delegated(
    registration: Registration,
    payload: GraphOutboxPayload,
    want: { mail: boolean; unread: boolean },
  ): Promise<Fetched> {
    const fetched: Fetched = {};
    const unread = payload.unread ?? registration.unreadCount ?? undefined;
    if (want.unread && unread !== undefined) {
      fetched.unread = unread;
      // The intake moved the stored count on; writing it back could undo a later notification's.
      if (payload.unread === undefined) fetched.unreadFromStore = true;
    }
    const content = payload.encryptedContent;
    if (want.mail && content) {
      try {
        const ring = await this.#o.keys.ring(content.encryptionCertificateId);
        const message = decryptMessage(content, ring);
        fetched.mail = mailItem(message);
      } catch (error) {
        if (!(error instanceof GraphNotificationError)) throw error;
        this.#o.logger.warn(
          { registrationId: registration.id, reason: error.reason },
          'graph: the stored encrypted content does not open; pushing without the fields',
        );
      }
    }
    return fetched;
  }
}

function mailItem(message: GraphMessage): MailItem {
  return {
    itemId: message.id,
    subject: message.subject ?? '',
    from: {
      ...(message.from?.name ? { name: message.from.name } : {}),
      ...(message.from?.address ? { address: message.from.address } : {}),
    },
    ...(message.isRead === undefined ? {} : { isRead: message.isRead }),
    ...(message.receivedDateTime ? { dateTimeReceived: message.receivedDateTime } : {}),
  };
}
