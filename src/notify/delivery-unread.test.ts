/**
 * The unread count of a delegated Graph registration is moved on by the intake (one statement per
 * notification); a delivery shows the count it read but never writes it back, so a notification
 * counted while a push is in flight is not undone (it used to be overwritten with the older value).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { masterKeyFromBytes } from '../crypto/index.ts';
import type { EwsClient } from '../exchange/ews/index.ts';
import { createLogger } from '../log/index.ts';
import type { PushNotification, PushSender } from '../push/index.ts';
import { exampleRegistration, exampleTenant, forEachDatabase } from '../store/testing.ts';
import { DeliveryWorker } from './delivery.ts';
import { GraphAccess } from './graph/access.ts';
import type { GraphEncryptionKeys } from './graph/encryption-keys.ts';
import { GraphFetcher } from './graph/fetch.ts';
import type { GraphSubscriptions } from './graph/subscriptions.ts';

forEachDatabase('delivery/a delegated Graph push does not write back the count it read', async (store) => {
  const tenant = exampleTenant();
  await store.tenants.create(tenant);
  const master = masterKeyFromBytes(randomBytes(32));
  const registration = await store.registrations.insert(
    exampleRegistration({
      id: 'graph-1',
      tenantId: tenant.id,
      provider: 'graph',
      accountEnc: '',
      keyHash: '',
    }),
  );
  await store.registrations.update(registration.id, { state: 'active', unreadCount: 3 });
  // Delegated: the tenant has Graph settings without an application.
  const access = new GraphAccess({
    tenants: [{ id: tenant.id, graph: { tenantId: '0b2c2f6e-1d3a-4e5b-9c7d-8e9f0a1b2c3d', domains: [] } }],
    authorityHost: 'https://login.microsoftonline.com',
    graphUrl: 'https://graph.microsoft.com/v1.0',
    jwksUrl: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
    timeoutMs: 1000,
    limits: { maxLifetimeMinutes: 10080, maxLifetimeMinutesWithResourceData: 1440, safetyMarginMinutes: 5 },
    userAgent: 'Herald/test',
  });
  const logger = createLogger({ level: 'silent' });
  const pushed: PushNotification[] = [];
  // While the push is in flight, another notification is counted.
  const sender: PushSender = {
    async send(_target, notification) {
      pushed.push(notification);
      await store.registrations.addUnread(registration.id, 1);
      return { status: 'sent', provider: 'apns', providerId: 'apns-1', latencyMs: 1 };
    },
    close: async () => {},
  };
  const worker = new DeliveryWorker({
    store,
    master,
    ews: {} as EwsClient,
    // Nothing of the key ring or the subscriptions is used without encrypted content.
    graph: new GraphFetcher({
      master,
      subscriptions: { access } as unknown as GraphSubscriptions,
      keys: {} as GraphEncryptionKeys,
      logger,
    }),
    senders: { senderFor: () => sender },
    logger,
    settings: {
      workers: 1,
      maxAttempts: 2,
      retryBaseSeconds: 0,
      retryMaxSeconds: 0,
      expirySeconds: 60,
      pollMilliseconds: 1000,
      leaseSeconds: 60,
    },
    owner: 'test',
  });
  await store.outbox.enqueue([
    {
      registrationId: registration.id,
      kind: 'badge_refresh',
      itemId: null,
      dedupeKey: 'badge:1',
      payload: { events: ['created'] },
      availableAt: 0,
    },
  ]);
  const [event] = await store.outbox.claim({ owner: 'test', limit: 1, leaseMs: 60_000, now: Date.now() });
  assert.ok(event);
  assert.equal(await worker.process(event), 'sent');
  assert.equal(pushed[0]?.badge, 3, 'the push showed the count it read');
  const after = await store.registrations.get(registration.id);
  assert.equal(after?.unreadCount, 4, 'the notification counted during the push is kept');
  assert.equal(after?.badgeSent, 3);
});
