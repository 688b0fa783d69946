/**
 * Registrations: a device asking for pushes about one mailbox. Creating one subscribes the
 * mailbox's Inbox at Exchange before answering (device-api.md), with a callback URL that carries
 * the registration's data key; the account is stored only sealed under that key.
 */
import { identifierHash, type MasterKey, newDataKey, randomId, sealAccount } from '../crypto/index.ts';
import { HeraldError } from '../errors/index.ts';
import type { EwsClient } from '../exchange/ews/index.ts';
import type { Logger } from '../log/index.ts';
import {
  type ContentPolicy,
  type Registration,
  type Store,
  StoreConflictError,
  type Tenant,
} from '../store/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { type Account, decryptCredentials, ewsTarget, openMailbox, sealMailbox } from './account.ts';
import { ewsCallbackUrl } from './callback-url.ts';
import type { PushSenderLookup } from './delivery.ts';

/** Concurrent creates for one identity this call can outlast (see #claimIdentity). */
const MAX_IDENTITY_ROUNDS = 16;

export interface CreateRegistrationInput {
  device: {
    platform: 'ios' | 'android';
    pushToken: string;
    appId: string;
    environment?: 'production' | 'sandbox';
  };
  account: { email: string; provider?: 'ews' | 'graph'; ewsUrl?: string; credentials: string };
  notification?: { content: ContentPolicy };
}

export interface CheckinInput {
  account?: { credentials: string };
}

export type CheckinState = 'active' | 'resubscribed' | 'needs_credentials';

export interface RegistrationServiceOptions {
  store: Store;
  tenants: TenantService;
  ews: EwsClient;
  master: MasterKey;
  publicUrl: string;
  statusFrequencyMinutes: number;
  logger: Logger;
  now?: () => number;
  /** Which apps have push credentials; a device of an app without them is refused. */
  pushApps: PushSenderLookup;
  /**
   * Runs before a registration is deleted (the CA revokes the device's certificates). A failure
   * fails the delete, so the device's retry tries both again: a registration is never gone while
   * its certificates stay valid.
   */
  onUnenrol?: (registrationId: string) => Promise<unknown>;
}

export class RegistrationService {
  readonly #o: RegistrationServiceOptions;
  readonly #emailKey: Buffer;
  readonly #now: () => number;

  constructor(options: RegistrationServiceOptions) {
    this.#o = options;
    this.#emailKey = options.master.derive('identifier-hash');
    this.#now = options.now ?? Date.now;
  }

  emailHash(email: string): string {
    return identifierHash(this.#emailKey, 'email', email);
  }

  async create(
    tenant: Tenant,
    input: CreateRegistrationInput,
  ): Promise<{ registrationId: string; state: 'active'; statusFrequencyMinutes: number }> {
    if (input.account.provider === 'graph') {
      throw new HeraldError('provider_not_supported', {
        message:
          'provider "graph" (Microsoft Graph change notifications) is not available in this version; use "ews".',
      });
    }
    if (!input.account.ewsUrl) throw new HeraldError('ews_url_required');
    const { appId, platform } = input.device;
    if (!this.#o.pushApps.senderFor(tenant.id, appId, platform)) {
      throw new HeraldError('app_not_configured', {
        message: `Tenant "${tenant.id}" has no ${platform === 'ios' ? 'APNs' : 'FCM'} (or relay) credentials for app "${appId}"; add it under tenants[].apps in the configuration.`,
      });
    }
    const credentials = await decryptCredentials(
      input.account.credentials,
      this.#o.tenants.keyResolver(tenant.id),
    );
    const account: Account = { email: input.account.email, ewsUrl: input.account.ewsUrl, credentials };
    const emailHash = this.emailHash(account.email);

    const id = randomId(16);
    const dataKey = newDataKey();
    const statusFrequencyMinutes = this.#o.statusFrequencyMinutes;
    // Stored before subscribing, as 'pending': Exchange may call back the moment the subscription
    // exists, and a callback for an unknown registration is answered Unsubscribe.
    await this.#o.store.registrations.insert({
      id,
      tenantId: tenant.id,
      platform: input.device.platform,
      pushToken: input.device.pushToken,
      appId: input.device.appId,
      environment: input.device.environment ?? 'production',
      // The identity is claimed only once Exchange has accepted the subscription (below), so a
      // registration still being created never blocks, or is blocked by, another for it.
      emailHash: `${emailHash}:pending:${id}`,
      provider: 'ews',
      contentPolicy: input.notification?.content ?? null,
      mailboxEnc: sealMailbox(this.#o.master, id, account),
      accountEnc: sealAccount(dataKey.key, id, account.credentials),
      keyHash: dataKey.hash,
      nextKeyHash: null,
      nextAccountEnc: null,
      state: 'pending',
      subscriptionId: null,
      watermark: null,
      statusFrequencyMinutes,
      lastSeenAt: null,
      unreadCount: null,
      deactivatedReason: null,
    });
    let subscription: { subscriptionId: string; watermark: string };
    try {
      subscription = await this.#o.ews.subscribe(ewsTarget(account), {
        callbackUrl: ewsCallbackUrl(this.#o.publicUrl, id, dataKey.encoded),
        statusFrequencyMinutes,
      });
    } catch (error) {
      await this.#o.store.registrations.delete(id);
      throw error;
    }
    const replaced = await this.#claimIdentity(id, tenant.id, input.device, emailHash, subscription);
    this.#o.logger.info({ registrationId: id, tenantId: tenant.id, replaced }, 'registration created');
    return { registrationId: id, state: 'active', statusFrequencyMinutes };
  }

  /**
   * Make the new registration the one for its identity (tenant, platform, push token, mailbox):
   * a second registration for the same identity replaces the first, whose subscription ends at
   * its next callback, answered Unsubscribe (see delete()). Two concurrent creates for one
   * identity both succeed here, the later one winning: the unique constraint makes the loser of
   * a race retry, and its retry finds and replaces the winner. Every round of conflicts has a
   * winner, so k concurrent creates need at most k rounds (on PostgreSQL; SQLite serialises
   * writers and never conflicts here). @returns the replaced id.
   */
  async #claimIdentity(
    id: string,
    tenantId: string,
    device: CreateRegistrationInput['device'],
    emailHash: string,
    subscription: { subscriptionId: string; watermark: string },
  ): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#o.store.transaction(async (tx) => {
          const previous = await tx.registrations.findByIdentity(
            tenantId,
            device.platform,
            device.pushToken,
            emailHash,
          );
          if (previous) await tx.registrations.delete(previous.id);
          await tx.registrations.update(id, {
            state: 'active',
            subscriptionId: subscription.subscriptionId,
            watermark: subscription.watermark,
            lastSeenAt: this.#now(),
            emailHash,
          });
          return previous?.id;
        });
      } catch (error) {
        if (!(error instanceof StoreConflictError) || attempt >= MAX_IDENTITY_ROUNDS) throw error;
      }
    }
  }

  async checkin(tenant: Tenant, id: string, input: CheckinInput): Promise<{ state: CheckinState }> {
    const registration = await this.#require(tenant, id);
    if (!input.account?.credentials) {
      return {
        state:
          registration.state === 'active' || registration.state === 'pending'
            ? 'active'
            : 'needs_credentials',
      };
    }
    const credentials = await decryptCredentials(
      input.account.credentials,
      this.#o.tenants.keyResolver(tenant.id),
    );
    const dataKey = newDataKey();
    // The old key is known only to Exchange (it is in the old callback URL), so fresh credentials
    // are sealed under a new key, which means a new callback URL and a new subscription. The new
    // key is accepted from the moment it exists, so an early callback is not refused.
    const account: Account = { ...openMailbox(this.#o.master, registration), credentials };
    const accountEnc = sealAccount(dataKey.key, id, credentials);
    await this.#o.store.registrations.update(id, { nextKeyHash: dataKey.hash, nextAccountEnc: accountEnc });
    let subscription: { subscriptionId: string; watermark: string };
    try {
      subscription = await this.#o.ews.subscribe(ewsTarget(account), {
        callbackUrl: ewsCallbackUrl(this.#o.publicUrl, id, dataKey.encoded),
        statusFrequencyMinutes: registration.statusFrequencyMinutes,
      });
    } catch (error) {
      const refused = error instanceof HeraldError && error.code === 'exchange_auth_failed';
      await this.#o.store.registrations.update(id, {
        nextKeyHash: null,
        nextAccountEnc: null,
        ...(refused ? { state: 'needs_credentials' as const } : {}),
      });
      if (refused) return { state: 'needs_credentials' };
      throw error;
    }
    await this.#o.store.registrations.update(id, {
      state: 'active',
      keyHash: dataKey.hash,
      accountEnc,
      nextKeyHash: null,
      nextAccountEnc: null,
      subscriptionId: subscription.subscriptionId,
      watermark: subscription.watermark,
      lastSeenAt: this.#now(),
      deactivatedReason: null,
      silentSince: null,
      checkinSentAt: null,
    });
    // The old subscription's next callback carries the old key and is answered Unsubscribe.
    this.#o.logger.info({ registrationId: id, tenantId: tenant.id }, 'registration resubscribed');
    return { state: 'resubscribed' };
  }

  /**
   * Forget the registration and shred its key. An EWS push subscription cannot be ended by the
   * Unsubscribe operation (that ends pull and streaming subscriptions, MS-OXWSNTIF 3.1.4.4); it
   * ends when a notification is answered `Unsubscribe`, which the next callback for a deleted
   * registration is: at the latest after StatusFrequency minutes.
   */
  async delete(tenant: Tenant, id: string): Promise<void> {
    await this.#require(tenant, id);
    await this.#o.onUnenrol?.(id);
    await this.#o.store.registrations.delete(id);
    this.#o.logger.info({ registrationId: id, tenantId: tenant.id }, 'registration deleted');
  }

  async #require(tenant: Tenant, id: string): Promise<Registration> {
    const registration = await this.#o.store.registrations.getForTenant(tenant.id, id);
    if (!registration) throw new HeraldError('registration_not_found');
    return registration;
  }
}
