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
  type RegistrationPatch,
  type Store,
  StoreConflictError,
  type Tenant,
} from '../store/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { type Account, decryptCredentials, ewsTarget, openMailbox, sealMailbox } from './account.ts';
import { ewsCallbackUrl } from './callback-url.ts';
import type { PushSenderLookup } from './delivery.ts';
import type { GraphRegistrationFlows } from './graph/registrations.ts';
import type { GraphCaller } from './graph/subscriptions.ts';

/** Concurrent creates for one identity this call can outlast (see #claimIdentity). */
const MAX_IDENTITY_ROUNDS = 16;

export interface CreateRegistrationInput {
  device: {
    platform: 'ios' | 'android';
    pushToken: string;
    appId: string;
    environment?: 'production' | 'sandbox';
  };
  account: { email: string; provider?: 'ews' | 'graph'; ewsUrl?: string; credentials?: string };
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
  /** Microsoft Graph mailboxes (provider `graph`); without it only EWS is served. */
  graph?: GraphRegistrationFlows;
  /**
   * Finds the EWS URL of a mailbox registered without one (Autodiscover); throws a HeraldError
   * when it finds none. Absent: such registrations are refused with ews_url_required.
   */
  discoverEwsUrl?: (email: string) => Promise<string>;
}

/** Where a registration's mail comes from: Graph, or EWS at a URL. */
type MailSource = { provider: 'graph' } | { provider: 'ews'; ewsUrl: string };

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

  /**
   * The mailbox source (docs/graph.md, "Which source a registration uses"): the device's choice;
   * else, for a tenant with Graph settings, the device's EWS URL (Exchange Online's host → Graph),
   * the tenant's Graph domains, or where Autodiscover places the mailbox; else EWS. An EWS
   * registration without a URL gets the one Autodiscover finds.
   */
  async #source(tenant: Tenant, account: CreateRegistrationInput['account']): Promise<MailSource> {
    const access = this.#o.graph?.subscriptions.access;
    if (account.provider === 'graph') {
      if (!access) {
        throw new HeraldError('provider_not_supported', {
          message: 'provider "graph" is not enabled in this service.',
        });
      }
      if (!access.tenant(tenant.id)) {
        throw new HeraldError('graph_not_configured', {
          message: `Tenant "${tenant.id}" has no Microsoft Graph settings; add tenants[].graph (tenantId, and app for app-only access) to the configuration.`,
        });
      }
      return { provider: 'graph' };
    }
    const graphTenant = account.provider !== 'ews' && access?.tenant(tenant.id) ? access : undefined;
    if (account.ewsUrl) {
      return graphTenant?.isExchangeOnline(account.ewsUrl)
        ? { provider: 'graph' }
        : { provider: 'ews', ewsUrl: account.ewsUrl };
    }
    if (graphTenant?.servesDomain(tenant.id, account.email)) return { provider: 'graph' };
    if (!this.#o.discoverEwsUrl) throw new HeraldError('ews_url_required');
    const ewsUrl = await this.#o.discoverEwsUrl(account.email);
    return graphTenant?.isExchangeOnline(ewsUrl) ? { provider: 'graph' } : { provider: 'ews', ewsUrl };
  }

  async create(
    tenant: Tenant,
    input: CreateRegistrationInput,
  ): Promise<{ registrationId: string; state: 'active'; statusFrequencyMinutes: number }> {
    const { appId, platform } = input.device;
    if (!this.#o.pushApps.senderFor(tenant.id, appId, platform)) {
      throw new HeraldError('app_not_configured', {
        message: `Tenant "${tenant.id}" has no ${platform === 'ios' ? 'APNs' : 'FCM'} (or relay) credentials for app "${appId}"; add it under tenants[].apps in the configuration.`,
      });
    }
    // An EWS-only registration needs credentials whatever its source: refused before any lookup.
    // (provider "graph" goes on, to be refused more precisely when the tenant has no Graph.)
    const graphPossible =
      input.account.provider === 'graph' ||
      (input.account.provider !== 'ews' && !!this.#o.graph?.subscriptions.access.tenant(tenant.id));
    if (!input.account.credentials && !graphPossible) throw new HeraldError('credentials_required');
    // After the cheap checks: finding the source may ask Autodiscover.
    const source = await this.#source(tenant, input.account);
    if (source.provider === 'graph') return this.#createGraph(tenant, input);
    if (!input.account.credentials) throw new HeraldError('credentials_required');
    const credentials = await decryptCredentials(
      input.account.credentials,
      this.#o.tenants.keyResolver(tenant.id),
    );
    const account: Account = { email: input.account.email, ewsUrl: source.ewsUrl, credentials };
    const emailHash = this.emailHash(account.email);

    const id = randomId(16);
    const dataKey = newDataKey();
    const statusFrequencyMinutes = this.#o.statusFrequencyMinutes;
    // Stored before subscribing, as 'pending': Exchange may call back the moment the subscription
    // exists, and a callback for an unknown registration is answered Unsubscribe.
    await this.#insertPending(tenant, input, {
      id,
      emailHash,
      provider: 'ews',
      mailboxEnc: sealMailbox(this.#o.master, id, account),
      accountEnc: sealAccount(dataKey.key, id, account.credentials),
      keyHash: dataKey.hash,
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
    const { replaced } = await this.#claimIdentity(id, tenant.id, input.device, emailHash, {
      subscriptionId: subscription.subscriptionId,
      watermark: subscription.watermark,
    });
    this.#o.logger.info({ registrationId: id, tenantId: tenant.id, replaced }, 'registration created');
    return { registrationId: id, state: 'active', statusFrequencyMinutes };
  }

  /**
   * A Graph registration: no account is stored (app-only needs none; a delegated token is used
   * for the one call and dropped), only the sealed mailbox address.
   */
  async #createGraph(
    tenant: Tenant,
    input: CreateRegistrationInput,
  ): Promise<{ registrationId: string; state: 'active'; statusFrequencyMinutes: number }> {
    const graph = this.#o.graph!;
    const credentials =
      input.account.credentials && !graph.isAppOnly(tenant.id)
        ? await decryptCredentials(input.account.credentials, this.#o.tenants.keyResolver(tenant.id))
        : undefined;
    const caller: GraphCaller = graph.caller(tenant.id, credentials);
    const email = input.account.email;
    const emailHash = this.emailHash(email);
    const id = randomId(16);
    await this.#insertPending(tenant, input, {
      id,
      emailHash,
      provider: 'graph',
      mailboxEnc: sealMailbox(this.#o.master, id, { email }),
      // Nothing to seal: EWS callbacks can never authenticate against an empty key hash.
      accountEnc: '',
      keyHash: '',
    });
    let subscribed: Awaited<ReturnType<GraphRegistrationFlows['subscribe']>>;
    try {
      subscribed = await graph.subscribe({ id, tenantId: tenant.id }, email, caller);
    } catch (error) {
      await this.#o.store.registrations.delete(id);
      throw error;
    }
    const { replaced, replacedGraphSubscription } = await this.#claimIdentity(
      id,
      tenant.id,
      input.device,
      emailHash,
      {
        subscriptionId: subscribed.record.subscriptionId,
        ...(subscribed.unreadCount === undefined ? {} : { unreadCount: subscribed.unreadCount }),
      },
    );
    if (replaced) await graph.replaced(tenant.id, replacedGraphSubscription ?? null, caller);
    this.#o.logger.info(
      { registrationId: id, tenantId: tenant.id, replaced, provider: 'graph', auth: caller.auth },
      'registration created',
    );
    return { registrationId: id, state: 'active', statusFrequencyMinutes: this.#o.statusFrequencyMinutes };
  }

  async #insertPending(
    tenant: Tenant,
    input: CreateRegistrationInput,
    row: Pick<Registration, 'id' | 'emailHash' | 'provider' | 'mailboxEnc' | 'accountEnc' | 'keyHash'>,
  ): Promise<void> {
    await this.#o.store.registrations.insert({
      id: row.id,
      tenantId: tenant.id,
      platform: input.device.platform,
      pushToken: input.device.pushToken,
      appId: input.device.appId,
      environment: input.device.environment ?? 'production',
      // The identity is claimed only once Exchange has accepted the subscription (below), so a
      // registration still being created never blocks, or is blocked by, another for it.
      emailHash: `${row.emailHash}:pending:${row.id}`,
      provider: row.provider,
      contentPolicy: input.notification?.content ?? null,
      mailboxEnc: row.mailboxEnc,
      accountEnc: row.accountEnc,
      keyHash: row.keyHash,
      nextKeyHash: null,
      nextAccountEnc: null,
      state: 'pending',
      subscriptionId: null,
      watermark: null,
      statusFrequencyMinutes: this.#o.statusFrequencyMinutes,
      lastSeenAt: null,
      unreadCount: null,
      deactivatedReason: null,
    });
  }

  /**
   * Make the new registration the one for its identity (tenant, platform, push token, mailbox):
   * a second registration for the same identity replaces the first, whose subscription ends at
   * its next callback, answered Unsubscribe (see delete()). Two concurrent creates for one
   * identity both succeed here, the later one winning: the unique constraint makes the loser of
   * a race retry, and its retry finds and replaces the winner. Every round of conflicts has a
   * winner, so k concurrent creates need at most k rounds (on PostgreSQL; SQLite serialises
   * writers and never conflicts here). @returns the replaced id (and its Graph subscription's).
   */
  async #claimIdentity(
    id: string,
    tenantId: string,
    device: CreateRegistrationInput['device'],
    emailHash: string,
    patch: RegistrationPatch,
  ): Promise<{ replaced: string | undefined; replacedGraphSubscription?: string | null }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#o.store.transaction(async (tx) => {
          const previous = await tx.registrations.findByIdentity(
            tenantId,
            device.platform,
            device.pushToken,
            emailHash,
          );
          const previousGraph = previous && (await tx.graphSubscriptions.get(previous.id));
          if (previous) await tx.registrations.delete(previous.id);
          await tx.registrations.update(id, {
            ...patch,
            state: 'active',
            lastSeenAt: this.#now(),
            emailHash,
          });
          return { replaced: previous?.id, replacedGraphSubscription: previousGraph?.subscriptionId };
        });
      } catch (error) {
        if (!(error instanceof StoreConflictError) || attempt >= MAX_IDENTITY_ROUNDS) throw error;
      }
    }
  }

  async checkin(tenant: Tenant, id: string, input: CheckinInput): Promise<{ state: CheckinState }> {
    const registration = await this.#require(tenant, id);
    if (registration.provider === 'graph') {
      if (!this.#o.graph) return { state: 'needs_credentials' };
      const credentials =
        input.account?.credentials && !this.#o.graph.isAppOnly(tenant.id)
          ? await decryptCredentials(input.account.credentials, this.#o.tenants.keyResolver(tenant.id))
          : undefined;
      return this.#o.graph.checkin(
        registration,
        openMailbox(this.#o.master, registration).email,
        credentials,
      );
    }
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
    const mailbox = openMailbox(this.#o.master, registration);
    const account: Account = { email: mailbox.email, ewsUrl: mailbox.ewsUrl ?? '', credentials };
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
    const registration = await this.#require(tenant, id);
    await this.#o.onUnenrol?.(id);
    if (registration.provider === 'graph') await this.#o.graph?.unregister(registration);
    await this.#o.store.registrations.delete(id);
    this.#o.logger.info({ registrationId: id, tenantId: tenant.id }, 'registration deleted');
  }

  async #require(tenant: Tenant, id: string): Promise<Registration> {
    const registration = await this.#o.store.registrations.getForTenant(tenant.id, id);
    if (!registration) throw new HeraldError('registration_not_found');
    return registration;
  }
}
