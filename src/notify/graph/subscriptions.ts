/**
 * The Graph subscription of a `graph` registration: created on the mailbox's Inbox messages with
 * Herald's notification and lifecycle URLs and a random clientState (only its keyed hash is
 * stored), renewed before it expires, created anew when Graph removed it, deleted on unregister.
 *
 * Two credential models (per tenant): `app` (the tenant's Entra application, client credentials;
 * Herald fetches subject, sender and unread count itself) and `delegated` (the device's own
 * token, used for the one call and dropped: the subscription includes resource data, encrypted
 * to Herald's certificate, so no token is needed when a mail arrives).
 */

import type { MasterKey } from '../../crypto/index.ts';
import {
  type GraphClient,
  GraphRequestError,
  type GraphSubscription,
  hashClientState,
  checkClientState as matches,
  maxLifetimeMs,
  newClientState,
  renewAt,
  subscriptionExpiration,
} from '../../exchange/graph/index.ts';
import type { Logger } from '../../log/index.ts';
import type { GraphSubscriptionRecord, Store } from '../../store/index.ts';
import type { GraphAccess } from './access.ts';
import type { GraphEncryptionKeys } from './encryption-keys.ts';

export const GRAPH_NOTIFY_PREFIX = '/api/ens/v1/graph/notify/';
export const GRAPH_LIFECYCLE_PREFIX = '/api/ens/v1/graph/lifecycle/';

/** Which credentials one operation uses: the tenant's app, or a device's token just received. */
export type GraphCaller = { auth: 'app' } | { auth: 'delegated'; accessToken: string };

export interface GraphSubscriptionsOptions {
  store: Store;
  access: GraphAccess;
  keys: GraphEncryptionKeys;
  master: MasterKey;
  publicUrl: string;
  logger: Logger;
  now?: () => number;
}

export class GraphSubscriptions {
  readonly access: GraphAccess;
  readonly #o: GraphSubscriptionsOptions;
  readonly #stateKey: Buffer;
  readonly #now: () => number;

  constructor(options: GraphSubscriptionsOptions) {
    this.#o = options;
    this.access = options.access;
    this.#stateKey = options.master.derive('graph-client-state');
    this.#now = options.now ?? Date.now;
  }

  notificationUrl(registrationId: string): string {
    return `${this.#o.publicUrl.replace(/\/+$/, '')}${GRAPH_NOTIFY_PREFIX}${registrationId}`;
  }

  lifecycleUrl(registrationId: string): string {
    return `${this.#o.publicUrl.replace(/\/+$/, '')}${GRAPH_LIFECYCLE_PREFIX}${registrationId}`;
  }

  /** Whether a notification's clientState is the subscription's (or that of its replacement being made). */
  checkClientState(record: GraphSubscriptionRecord, given: string | undefined): boolean {
    if (matches(record.clientStateHash, given, this.#stateKey)) return true;
    return record.nextClientStateHash !== null && matches(record.nextClientStateHash, given, this.#stateKey);
  }

  /** The client for an operation on a registration of tenant `tenantId`. */
  client(tenantId: string, caller: GraphCaller): GraphClient {
    if (caller.auth === 'delegated') return this.access.delegatedClient(caller.accessToken);
    const client = this.access.appClient(tenantId);
    if (!client) throw new Error(`tenant ${tenantId} has no Graph application`);
    return client;
  }

  /** When to look at a subscription expiring at `expiresAt` next (renewal, or asking the device). */
  renewAt(expiresAt: number, includeResourceData: boolean): number {
    return +renewAt(expiresAt, this.#now(), { includeResourceData, limits: this.access.limits });
  }

  /**
   * Subscribe the Inbox of a new registration (stored already, `pending`): the row is written
   * first with the clientState's hash, so a notification arriving before Graph's answer is
   * recognised. Throws what Graph or Entra threw; the caller removes the registration.
   */
  async subscribe(
    registration: { id: string; tenantId: string },
    mailbox: string,
    caller: GraphCaller,
  ): Promise<GraphSubscriptionRecord> {
    const tenant = this.access.tenant(registration.tenantId);
    if (!tenant) throw new Error(`tenant ${registration.tenantId} has no Graph settings`);
    const clientState = newClientState();
    const includeResourceData = caller.auth === 'delegated';
    await this.#o.store.graphSubscriptions.insert({
      registrationId: registration.id,
      entraTenantId: tenant.entraTenantId,
      auth: caller.auth,
      clientStateHash: hashClientState(clientState, this.#stateKey),
      includeResourceData,
      state: 'creating',
    });
    const created = await this.#create(registration, mailbox, caller, clientState, includeResourceData);
    return this.#stored(registration.id, created, {
      clientStateHash: hashClientState(clientState, this.#stateKey),
    });
  }

  /**
   * Make a new subscription for a registration whose subscription is gone (subscriptionRemoved,
   * expired, or unknown to Graph): the new clientState is accepted from the moment it exists;
   * the old subscription is deleted (best effort) once the new one is stored.
   */
  async recreate(
    record: GraphSubscriptionRecord,
    registration: { id: string; tenantId: string },
    mailbox: string,
    caller: GraphCaller,
  ): Promise<GraphSubscriptionRecord> {
    const clientState = newClientState();
    const hash = hashClientState(clientState, this.#stateKey);
    await this.#o.store.graphSubscriptions.update(registration.id, { nextClientStateHash: hash });
    let created: GraphSubscription;
    try {
      created = await this.#create(registration, mailbox, caller, clientState, caller.auth === 'delegated');
    } catch (error) {
      await this.#o.store.graphSubscriptions.update(registration.id, { nextClientStateHash: null });
      throw error;
    }
    const stored = await this.#stored(registration.id, created, {
      clientStateHash: hash,
      nextClientStateHash: null,
    });
    if (record.subscriptionId && record.subscriptionId !== created.id) {
      await this.remove(registration.tenantId, record.subscriptionId, caller, record.expiresAt);
    }
    return stored;
  }

  /**
   * Renew (PATCH expirationDateTime, which also reauthorizes); a delegated subscription moves to
   * Herald's current encryption certificate in the same call when it is on an older one.
   * A subscription Graph no longer knows throws GraphRequestError 404.
   */
  async renew(
    record: GraphSubscriptionRecord,
    registration: { id: string; tenantId: string },
    caller: GraphCaller,
  ): Promise<GraphSubscriptionRecord> {
    if (!record.subscriptionId)
      throw new GraphRequestError('ResourceNotFound', 'no subscription yet', { status: 404 });
    const rich = record.includeResourceData;
    const expiration = subscriptionExpiration(this.#now(), {
      includeResourceData: rich,
      limits: this.access.limits,
    });
    let rotate: { encryptionCertificate: string; encryptionCertificateId: string } | undefined;
    if (rich && !(await this.#o.keys.isCurrent(record.encryptionCertificateId))) {
      const cert = await this.#o.keys.current();
      rotate = { encryptionCertificate: cert.certificate, encryptionCertificateId: cert.id };
    }
    const renewed = await this.client(registration.tenantId, caller).renewSubscription(
      record.subscriptionId,
      expiration,
      rotate,
    );
    // Graph's answer to a PATCH need not repeat every property: keep what is known.
    return this.#stored(registration.id, renewed, {
      subscriptionId: record.subscriptionId,
      includeResourceData: rich,
      encryptionCertificateId: rotate?.encryptionCertificateId ?? record.encryptionCertificateId,
    });
  }

  /**
   * Delete a subscription at Graph; failures are logged, not thrown (unregistering never fails because
   * of Graph). With the tenant's application, a failed DELETE is kept as a task the renewal job tries
   * again (graph_deletions) until it succeeds or the subscription has expired (`expiresAt`, default
   * the longest lifetime from now); a delegated token cannot be kept, so its subscription ends at its
   * expiration.
   */
  async remove(
    tenantId: string,
    subscriptionId: string,
    caller: GraphCaller,
    expiresAt?: number | null,
  ): Promise<boolean> {
    try {
      await this.client(tenantId, caller).deleteSubscription(subscriptionId);
      return true;
    } catch (error) {
      const retried = caller.auth === 'app';
      this.#o.logger.warn(
        { err: error, tenantId, subscriptionId, retried },
        retried
          ? 'graph: could not delete a subscription; trying again later'
          : 'graph: could not delete a subscription; it ends at its expiration',
      );
      if (retried) {
        const now = this.#now();
        await this.#o.store.graphDeletions.add({
          subscriptionId,
          tenantId,
          nextAttemptAt: now + 60_000,
          expiresAt: expiresAt ?? now + maxLifetimeMs(false, this.access.limits),
          lastError: graphErrorCode(error),
        });
      }
      return false;
    }
  }

  async #create(
    registration: { id: string; tenantId: string },
    mailbox: string,
    caller: GraphCaller,
    clientState: string,
    includeResourceData: boolean,
  ): Promise<GraphSubscription> {
    const cert = includeResourceData ? await this.#o.keys.current() : undefined;
    return this.client(registration.tenantId, caller).createSubscription({
      mailbox,
      notificationUrl: this.notificationUrl(registration.id),
      lifecycleNotificationUrl: this.lifecycleUrl(registration.id),
      clientState,
      expiration: subscriptionExpiration(this.#now(), { includeResourceData, limits: this.access.limits }),
      ...(cert
        ? {
            includeResourceData: true,
            encryptionCertificate: cert.certificate,
            encryptionCertificateId: cert.id,
          }
        : {}),
    });
  }

  async #stored(
    registrationId: string,
    sub: GraphSubscription,
    extra: {
      clientStateHash?: string;
      nextClientStateHash?: null;
      subscriptionId?: string;
      includeResourceData?: boolean;
      encryptionCertificateId?: string | null;
    } = {},
  ): Promise<GraphSubscriptionRecord> {
    const expiresAt = +sub.expirationDateTime;
    const includeResourceData = extra.includeResourceData ?? sub.includeResourceData;
    const updated = await this.#o.store.graphSubscriptions.update(registrationId, {
      subscriptionId: extra.subscriptionId ?? sub.id,
      ...(sub.applicationId ? { applicationId: sub.applicationId } : {}),
      includeResourceData,
      encryptionCertificateId:
        extra.encryptionCertificateId !== undefined
          ? extra.encryptionCertificateId
          : (sub.encryptionCertificateId ?? null),
      ...(extra.clientStateHash ? { clientStateHash: extra.clientStateHash } : {}),
      ...(extra.nextClientStateHash === null ? { nextClientStateHash: null } : {}),
      state: 'active',
      expiresAt,
      renewAt: this.renewAt(expiresAt, includeResourceData),
      renewalFailures: 0,
      lastError: null,
    });
    if (!updated) throw new Error('the registration was deleted while its Graph subscription was made');
    return updated;
  }
}

/** A short code for a failed Graph call, for the store and `registrations show` (never a secret). */
export function graphErrorCode(error: unknown): string {
  if (error instanceof GraphRequestError) return `${error.status ?? 'transport'}:${error.code}`;
  if (error instanceof Error && 'reason' in error)
    return `auth:${String((error as { reason: unknown }).reason)}`;
  return error instanceof Error ? error.name : 'error';
}
