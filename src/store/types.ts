/**
 * Domain types of the store (camelCase) and the repository interfaces. Times are epoch
 * milliseconds (UTC) everywhere: one representation that SQLite (`integer`) and PostgreSQL
 * (`bigint`, parsed back to a number) store and compare identically.
 */
import type { JsonWebKey } from 'node:crypto';

export type EpochMs = number;

export type ContentPolicy = 'full' | 'badge' | 'silent';
export type Platform = 'ios' | 'android';
export type PushEnvironment = 'production' | 'sandbox';
export type MailProvider = 'ews' | 'graph';
export type RegistrationState =
  | 'pending'
  | 'active'
  | 'silent'
  | 'repairing'
  | 'needs_credentials'
  | 'dead'
  | 'inactive';
export type OutboxKind = 'new_mail' | 'badge_refresh' | 'checkin';
export type OutboxStatus = 'pending' | 'processing' | 'done' | 'failed';
export type PushProvider = 'apns' | 'fcm' | 'relay';
/** `unregistered`: the push service said the device token is gone (APNs 410, FCM UNREGISTERED). */
export type DeliveryStatus = 'sent' | 'failed' | 'unregistered';

// ---------------------------------------------------------------- tenants

export interface Tenant {
  id: string;
  /** sha-256 hex of the tenant's API token; the caller hashes. */
  apiTokenHash: string;
  contentPolicy: ContentPolicy;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

export interface NewTenant {
  id: string;
  apiTokenHash: string;
  contentPolicy?: ContentPolicy;
}

export interface TenantRepository {
  /** @throws StoreConflictError when the id or the token hash exists already. */
  create(tenant: NewTenant): Promise<Tenant>;
  get(id: string): Promise<Tenant | undefined>;
  list(): Promise<Tenant[]>;
  findByApiTokenHash(hash: string): Promise<Tenant | undefined>;
  /** @returns false when there is no such tenant. */
  setApiTokenHash(id: string, hash: string): Promise<boolean>;
  setContentPolicy(id: string, policy: ContentPolicy): Promise<boolean>;
  /** Insert, or update token hash and policy of an existing tenant (tenants from the config file). */
  upsert(tenant: NewTenant): Promise<Tenant>;
}

// ---------------------------------------------------------------- tenant keys

export interface TenantKey {
  kid: string;
  tenantId: string;
  publicJwk: JsonWebKey;
  /** The private key encrypted by the caller under the master key; opaque to the store. */
  privateKeyEnc: string;
  createdAt: EpochMs;
  retiredAt: EpochMs | null;
}

export interface NewTenantKey {
  kid: string;
  tenantId: string;
  publicJwk: JsonWebKey;
  privateKeyEnc: string;
  createdAt?: EpochMs;
}

export interface TenantKeyRepository {
  add(key: NewTenantKey): Promise<TenantKey>;
  /** The newest key that is not retired. */
  current(tenantId: string): Promise<TenantKey | undefined>;
  /** Retired keys included: a device may still hold an older public key. */
  get(tenantId: string, kid: string): Promise<TenantKey | undefined>;
  /** Non-retired keys, newest first. */
  listActive(tenantId: string): Promise<TenantKey[]>;
  retire(kid: string, at: EpochMs): Promise<boolean>;
}

// ---------------------------------------------------------------- registrations

export interface Registration {
  id: string;
  tenantId: string;
  platform: Platform;
  pushToken: string;
  appId: string;
  environment: PushEnvironment;
  /** Keyed hash of the mailbox address, computed by the caller; the address itself is never stored. */
  emailHash: string;
  provider: MailProvider;
  /** null: the tenant's policy applies. */
  contentPolicy: ContentPolicy | null;
  /** Mailbox address and EWS URL sealed under the master key; opaque to the store. */
  mailboxEnc: string;
  /** Account ciphertext under the per-registration data key; opaque to the store. */
  accountEnc: string;
  /** sha-256 hex of the data key, so a callback with a wrong key is refused without decrypting. */
  keyHash: string;
  /** During a resubscribe: the new data key's credentials and hash, accepted alongside the current. */
  nextAccountEnc: string | null;
  nextKeyHash: string | null;
  state: RegistrationState;
  subscriptionId: string | null;
  watermark: string | null;
  statusFrequencyMinutes: number;
  lastSeenAt: EpochMs | null;
  /** Last known unread count of the inbox. */
  unreadCount: number | null;
  /** The badge last pushed to the device (null: none yet). */
  badgeSent: number | null;
  deactivatedReason: string | null;
  /** When the watchdog found the subscription silent (null while healthy). */
  silentSince: EpochMs | null;
  /** When the device was last asked (checkin push) to check in. */
  checkinSentAt: EpochMs | null;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

export type NewRegistration = Pick<
  Registration,
  | 'id'
  | 'tenantId'
  | 'platform'
  | 'pushToken'
  | 'appId'
  | 'environment'
  | 'emailHash'
  | 'provider'
  | 'mailboxEnc'
  | 'accountEnc'
  | 'keyHash'
  | 'statusFrequencyMinutes'
> &
  Partial<
    Pick<
      Registration,
      | 'contentPolicy'
      | 'nextAccountEnc'
      | 'nextKeyHash'
      | 'state'
      | 'subscriptionId'
      | 'watermark'
      | 'lastSeenAt'
      | 'unreadCount'
      | 'badgeSent'
      | 'deactivatedReason'
    >
  >;

export type RegistrationPatch = Partial<
  Pick<
    Registration,
    | 'state'
    | 'subscriptionId'
    | 'watermark'
    | 'accountEnc'
    | 'keyHash'
    | 'nextAccountEnc'
    | 'nextKeyHash'
    | 'emailHash'
    | 'lastSeenAt'
    | 'unreadCount'
    | 'badgeSent'
    | 'deactivatedReason'
    | 'statusFrequencyMinutes'
    | 'contentPolicy'
    | 'silentSince'
    | 'checkinSentAt'
  >
>;

/** Filters of {@link RegistrationRepository.list}; all optional, combined with AND. */
export interface RegistrationFilter {
  tenantId?: string;
  state?: RegistrationState;
  emailHash?: string;
  platform?: Platform;
}

/** The watchdog's thresholds, all against `now`. */
export interface SilenceScan {
  now: EpochMs;
  /** Silent after this many StatusFrequency periods without a callback. */
  periods: number;
  limit: number;
}

export interface PageOptions {
  limit: number;
  /** Keyset pagination: return ids strictly greater than this one. */
  afterId?: string;
}

export interface RegistrationRepository {
  /** @throws StoreConflictError on a duplicate id or identity (tenant, platform, push token, email hash). */
  insert(registration: NewRegistration): Promise<Registration>;
  get(id: string): Promise<Registration | undefined>;
  getForTenant(tenantId: string, id: string): Promise<Registration | undefined>;
  findByIdentity(
    tenantId: string,
    platform: Platform,
    pushToken: string,
    emailHash: string,
  ): Promise<Registration | undefined>;
  findBySubscriptionId(subscriptionId: string): Promise<Registration | undefined>;
  /** Deletes the registration and its outbox rows; its data key is gone with it. */
  delete(id: string): Promise<boolean>;
  /**
   * @returns the updated registration, or undefined when there is none (or, with `ifState`, when
   * its state is not one of those: a compare-and-set against concurrent changes).
   */
  update(
    id: string,
    patch: RegistrationPatch,
    options?: { ifState?: readonly RegistrationState[] },
  ): Promise<Registration | undefined>;
  /** Moves the stored unread count on by `delta` (from 0 when unknown), atomically; undefined when no such registration. */
  addUnread(id: string, delta: number): Promise<number | undefined>;
  /**
   * One batched write for many status pings; never moves last_seen_at backwards. A `silent` or
   * `repairing` registration that calls back is alive after all: it becomes `active` again.
   */
  touchLastSeen(ids: readonly string[], at: EpochMs): Promise<number>;
  /** Ordered by id. */
  listByState(state: RegistrationState, page: PageOptions): Promise<Registration[]>;
  /** Ordered by id (keyset pagination). */
  list(filter: RegistrationFilter, page: PageOptions): Promise<Registration[]>;
  count(state?: RegistrationState): Promise<number>;
  /** How many registrations are in each state (states with none are absent). */
  countByState(tenantId?: string): Promise<Partial<Record<RegistrationState, number>>>;
  /**
   * Watchdog: `active` registrations with no callback for `periods` × their StatusFrequency
   * become `silent` (silentSince = now). @returns those it changed, at most `limit`.
   */
  markSilent(scan: SilenceScan): Promise<Registration[]>;
  /**
   * Watchdog: `silent`, `repairing` and `needs_credentials` registrations whose device was not
   * asked to check in since `before` (or never), at most `limit`, oldest request first.
   */
  dueForCheckin(before: EpochMs, limit: number): Promise<Registration[]>;
  /** Records that these registrations' devices were asked to check in at `at`. */
  markCheckinSent(ids: readonly string[], at: EpochMs): Promise<number>;
  /**
   * Watchdog: `silent` and `repairing` registrations silent since before `before` become `dead`
   * with `reason`. @returns how many.
   */
  markDead(before: EpochMs, reason: string, limit: number): Promise<number>;
  /** `pending` registrations (a registration interrupted before Exchange answered) created before `before` are deleted. */
  deleteStalePending(before: EpochMs, limit: number): Promise<number>;
}

// ---------------------------------------------------------------- Microsoft Graph subscriptions

/** `app`: the tenant's Entra application (client credentials); `delegated`: the device's token. */
export type GraphAuthModel = 'app' | 'delegated';
/**
 * - `creating`: Herald is asking Graph for it (no id yet);
 * - `active`: alive at Graph, renewed by the renewal job (app) or at a device check-in (delegated);
 * - `reauthorize`: Graph sent reauthorizationRequired;
 * - `removed`: Graph sent subscriptionRemoved, or a renewal found it gone: to be created again;
 * - `expired`: its expiration passed without a renewal (delegated, device away).
 */
export type GraphSubscriptionState = 'creating' | 'active' | 'reauthorize' | 'removed' | 'expired';

/** The Graph subscription of one registration (provider `graph`); deleted with it. */
export interface GraphSubscriptionRecord {
  registrationId: string;
  /** Graph's subscription id; null while `creating`. */
  subscriptionId: string | null;
  /** The Entra tenant (directory) id the mailbox lives in. */
  entraTenantId: string;
  auth: GraphAuthModel;
  /** `hmac-sha256:…` of the subscription's clientState (never the clientState itself). */
  clientStateHash: string;
  /** While a replacement subscription is being created: its clientState's hash, accepted too. */
  nextClientStateHash: string | null;
  /** The app Graph says created the subscription (the `aud` of its validation tokens). */
  applicationId: string | null;
  includeResourceData: boolean;
  encryptionCertificateId: string | null;
  state: GraphSubscriptionState;
  expiresAt: EpochMs | null;
  /** When the renewal job next looks at it; null: nothing to do until the device checks in. */
  renewAt: EpochMs | null;
  /** Failed renewals in a row (backoff); 0 after a success. */
  renewalFailures: number;
  /** Why the last renewal failed (an error code, never a token). */
  lastError: string | null;
  /** The last lifecycle notification Graph sent for it, and when. */
  lastLifecycleEvent: string | null;
  lastLifecycleAt: EpochMs | null;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

export type NewGraphSubscription = Pick<
  GraphSubscriptionRecord,
  'registrationId' | 'entraTenantId' | 'auth' | 'clientStateHash' | 'includeResourceData'
> &
  Partial<
    Pick<
      GraphSubscriptionRecord,
      | 'subscriptionId'
      | 'nextClientStateHash'
      | 'applicationId'
      | 'encryptionCertificateId'
      | 'state'
      | 'expiresAt'
      | 'renewAt'
    >
  >;

export type GraphSubscriptionPatch = Partial<
  Pick<
    GraphSubscriptionRecord,
    | 'subscriptionId'
    | 'clientStateHash'
    | 'nextClientStateHash'
    | 'applicationId'
    | 'includeResourceData'
    | 'encryptionCertificateId'
    | 'state'
    | 'expiresAt'
    | 'renewAt'
    | 'renewalFailures'
    | 'lastError'
    | 'lastLifecycleEvent'
    | 'lastLifecycleAt'
  >
>;

export interface GraphSubscriptionRepository {
  /** @throws StoreConflictError when the registration has one already (or the subscription id is taken). */
  insert(subscription: NewGraphSubscription): Promise<GraphSubscriptionRecord>;
  get(registrationId: string): Promise<GraphSubscriptionRecord | undefined>;
  findBySubscriptionId(subscriptionId: string): Promise<GraphSubscriptionRecord | undefined>;
  /** undefined leaves a field alone, null clears it. With `ifState`, only from those states. */
  update(
    registrationId: string,
    patch: GraphSubscriptionPatch,
    options?: { ifState?: readonly GraphSubscriptionState[] },
  ): Promise<GraphSubscriptionRecord | undefined>;
  /** Subscriptions whose renewAt has come (renewAt <= now), soonest first, at most `limit`. */
  due(now: EpochMs, limit: number): Promise<GraphSubscriptionRecord[]>;
  countByState(): Promise<Partial<Record<GraphSubscriptionState, number>>>;
}

/**
 * Herald's certificates for rich notifications (Graph encrypts resource data to them). The
 * private key is sealed under the master key by the caller. Retired keys stay until they
 * expire: notifications encrypted before a rotation must still decrypt.
 */
export interface GraphEncryptionKey {
  /** The encryptionCertificateId given to Graph. */
  id: string;
  /** base64 DER. */
  certificate: string;
  /** SHA-1, upper-case hex. */
  thumbprint: string;
  privateKeyEnc: string;
  notAfter: EpochMs;
  createdAt: EpochMs;
  retiredAt: EpochMs | null;
}

export type NewGraphEncryptionKey = Pick<
  GraphEncryptionKey,
  'id' | 'certificate' | 'thumbprint' | 'privateKeyEnc' | 'notAfter'
>;

export interface GraphEncryptionKeyRepository {
  add(key: NewGraphEncryptionKey): Promise<GraphEncryptionKey>;
  /** The newest key that is not retired and not expired at `now`. */
  current(now: EpochMs): Promise<GraphEncryptionKey | undefined>;
  /** Every key not expired at `now` (retired ones included), newest first. */
  usable(now: EpochMs): Promise<GraphEncryptionKey[]>;
  retire(id: string, at: EpochMs): Promise<boolean>;
}

/** A Graph subscription still to delete (its registration is gone; the first DELETE failed). */
export interface GraphDeletion {
  subscriptionId: string;
  /** The Herald tenant whose application created it. */
  tenantId: string;
  attempts: number;
  nextAttemptAt: EpochMs;
  /** When it ends by itself; the task is dropped after this. */
  expiresAt: EpochMs | null;
  lastError: string | null;
  createdAt: EpochMs;
}

export interface GraphDeletionRepository {
  /** Adds the task; a second add for the same subscription keeps the first. */
  add(task: {
    subscriptionId: string;
    tenantId: string;
    nextAttemptAt: EpochMs;
    expiresAt: EpochMs | null;
    lastError?: string;
  }): Promise<void>;
  /** Due tasks (next attempt at or before `now`), oldest first. */
  due(now: EpochMs, limit: number): Promise<GraphDeletion[]>;
  /** One more failed attempt; the next at `nextAttemptAt`. */
  retryLater(subscriptionId: string, nextAttemptAt: EpochMs, error: string): Promise<void>;
  remove(subscriptionId: string): Promise<boolean>;
  count(): Promise<number>;
}

// ---------------------------------------------------------------- outbox

export interface OutboxEvent {
  id: number;
  registrationId: string;
  kind: OutboxKind;
  itemId: string | null;
  dedupeKey: string;
  payload: unknown;
  status: OutboxStatus;
  /** How many times the row was claimed. */
  attempts: number;
  availableAt: EpochMs;
  leaseOwner: string | null;
  leaseUntil: EpochMs | null;
  lastError: string | null;
  createdAt: EpochMs;
}

export interface NewOutboxEvent {
  registrationId: string;
  kind: OutboxKind;
  itemId?: string | null;
  /** Unique per registration: a retried Exchange notification yields the same key, hence one row. */
  dedupeKey: string;
  /** Stored as JSON. */
  payload: unknown;
  /** Defaults to now. */
  availableAt?: EpochMs;
}

export interface ClaimOptions {
  owner: string;
  limit: number;
  leaseMs: number;
  now: EpochMs;
}

export type FailOutcome = { retryAt: EpochMs } | { final: true };

export interface OutboxRepository {
  /** Inserts in one transaction, ignoring rows whose (registration, dedupe key) exists; returns how many were new. */
  enqueue(events: readonly NewOutboxEvent[]): Promise<number>;
  /** Leases due pending rows and processing rows whose lease expired; a row goes to one owner only. */
  claim(options: ClaimOptions): Promise<OutboxEvent[]>;
  /** With `owner`, only if that owner still holds the lease. @returns whether a row changed. */
  /** `payload` replaces the stored one (e.g. to erase a sealed key once it is no longer needed). */
  complete(id: number, options?: { owner?: string; payload?: unknown }): Promise<boolean>;
  fail(
    id: number,
    error: string,
    outcome: FailOutcome,
    options?: { owner?: string; payload?: unknown },
  ): Promise<boolean>;
  listForRegistration(registrationId: string): Promise<OutboxEvent[]>;
  /**
   * Hand leased rows back (graceful shutdown): `processing` rows this owner holds become
   * `pending` again at once, without counting the interrupted try. @returns how many.
   */
  release(ids: readonly number[], owner: string): Promise<number>;
  /**
   * At start: every `processing` row leased to `owner` was left by an earlier run of this node
   * (killed before it could hand them back); they become `pending` at once instead of waiting
   * for their leases to lapse. @returns how many.
   */
  reclaim(owner: string): Promise<number>;
  /** Rows per status, of one registration or of all. */
  countByStatus(registrationId?: string): Promise<Record<OutboxStatus, number>>;
}

// ---------------------------------------------------------------- deliveries

export interface Delivery {
  id: number;
  registrationId: string;
  outboxId: number | null;
  itemId: string | null;
  provider: PushProvider;
  status: DeliveryStatus;
  providerId: string | null;
  latencyMs: number;
  error: string | null;
  createdAt: EpochMs;
}

export interface NewDelivery {
  registrationId: string;
  outboxId?: number | null;
  itemId?: string | null;
  provider: PushProvider;
  status: DeliveryStatus;
  providerId?: string | null;
  latencyMs: number;
  error?: string | null;
  createdAt?: EpochMs;
}

export interface DeliveryRepository {
  /** Idempotent per (registration, item): @returns false when that item was recorded already. */
  record(delivery: NewDelivery): Promise<boolean>;
  /** The delivery recorded for this (registration, item), if any. */
  find(registrationId: string, itemId: string): Promise<Delivery | undefined>;
  /** Newest first. */
  listForRegistration(registrationId: string): Promise<Delivery[]>;
}

// ---------------------------------------------------------------- leases

export interface Lease {
  name: string;
  owner: string;
  expiresAt: EpochMs;
}

export interface LeaseRepository {
  /** Takes the lease if it is free, expired or already ours (then extends it). */
  acquire(name: string, owner: string, ttlMs: number, now: EpochMs): Promise<boolean>;
  release(name: string, owner: string): Promise<boolean>;
  get(name: string): Promise<Lease | undefined>;
}

// ---------------------------------------------------------------- provider tokens

/**
 * A push provider's short-lived credential shared by every node on the database (an APNs
 * provider token per team and key), so that a restart or another node reuses it.
 */
export interface ProviderToken {
  /** What the token is for, e.g. `apns/<team>/<key>`; chosen by the caller. */
  name: string;
  /** The token sealed by the caller under the master key; opaque to the store. */
  tokenEnc: string;
  /** When the token was issued (its own clock, not the row's). */
  issuedAt: EpochMs;
  /** When the row was last written. */
  updatedAt: EpochMs | null;
}

export interface ProviderTokenRepository {
  get(name: string): Promise<ProviderToken | undefined>;
  /**
   * Compare-and-set: stores `next` under `name` only if the stored token is the one the caller
   * saw: none (`expectedIssuedAt` null, then inserted), or one issued at `expectedIssuedAt`
   * (then replaced). Of several nodes replacing the same token at once, exactly one wins.
   * @returns whether `next` was stored.
   */
  replace(
    name: string,
    next: { tokenEnc: string; issuedAt: EpochMs },
    expectedIssuedAt: EpochMs | null,
  ): Promise<boolean>;
}

// ---------------------------------------------------------------- gateway rules

export type GatewayRuleAction = 'allow' | 'block';

/**
 * A compliance rule of the secure email gateway (operator.md, Gateway section). How the
 * gateway applies the list:
 *
 * - rules are evaluated in `priority` order, lower first (ties: older first), and the first
 *   rule that matches decides: `block` refuses the request (403, counted), `allow` lets it
 *   through;
 * - a rule matches when every matcher it sets matches (unset matchers, null, match anything):
 *   `deviceId` and `deviceType` equal the request's ActiveSync DeviceId / DeviceType ignoring
 *   case; `user` equals, ignoring case, any of the request's identities (e.g. the UPN and
 *   email address in the client certificate); `userAgent` is a regular expression tested
 *   (`RegExp.prototype.test`, unanchored) against the User-Agent header;
 * - when no rule matches, `gateway.policy.default` (allow or block) decides.
 *
 * Rules live in the database; the gateway reloads them every few seconds, so a change applies
 * without a restart.
 */
export interface GatewayRule {
  /** Random, `rule_` + base64url; chosen by the store. */
  id: string;
  action: GatewayRuleAction;
  /** Lower first; several rules may share a priority. */
  priority: number;
  /** ActiveSync DeviceId (MS-ASHTTP 2.2.1.1.1.2.3), as entered; matched ignoring case. */
  deviceId: string | null;
  /** ActiveSync DeviceType (e.g. `iPhone`, `Android`), as entered; matched ignoring case. */
  deviceType: string | null;
  /** A UPN or an email address, stored lower-cased; matched ignoring case. */
  user: string | null;
  /**
   * Source of a JavaScript regular expression, compiled without flags (`new RegExp(userAgent)`):
   * case-sensitive unless the pattern says otherwise, e.g. `(?i:outlook)`. At most 500 characters.
   */
  userAgent: string | null;
  /** Why the rule exists; shown to operators (and in the gateway's log line for a block). */
  reason: string;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

export interface NewGatewayRule {
  action: GatewayRuleAction;
  /** Default: the highest priority in use + 10 (10 for the first rule), i.e. evaluated last. */
  priority?: number;
  deviceId?: string | null;
  deviceType?: string | null;
  user?: string | null;
  userAgent?: string | null;
  reason: string;
}

export interface GatewayRuleRepository {
  /**
   * Strings are trimmed; `user` is lower-cased.
   * @throws StoreInvalidError when no matcher is set, a matcher or the reason is empty, the
   * user agent is not a valid JavaScript regular expression or longer than 500 characters, or
   * the priority is not an integer in the database's integer range.
   */
  add(input: NewGatewayRule): Promise<GatewayRule>;
  /** Every rule in evaluation order: priority, then created_at, then id. */
  list(): Promise<GatewayRule[]>;
  get(id: string): Promise<GatewayRule | undefined>;
  /** @returns false when there is no such rule. */
  remove(id: string): Promise<boolean>;
}

// ---------------------------------------------------------------- certificate authority (pki)

export type PkiAuthorityRole = 'root' | 'issuing';

/** A CA certificate of Herald's PKI, with its key sealed by the caller. */
export interface PkiAuthority {
  /** Random; names the CA in URLs (`/pki/crl/<id>.crl`, `/pki/ca/<id>.crt`). */
  id: string;
  role: PkiAuthorityRole;
  subject: string;
  /** sha-256 hex of the DER certificate. */
  fingerprint: string;
  certificateDer: Buffer;
  /** PKCS #8 sealed by the caller under the master key; null for a root imported without its key. */
  privateKeyEnc: string | null;
  /** The authority that signed this one; null for a root. */
  issuerId: string | null;
  /** At most one active authority per role; inactive ones keep publishing CRLs for what they issued. */
  active: boolean;
  notBefore: EpochMs;
  notAfter: EpochMs;
  createdAt: EpochMs;
}

export type NewPkiAuthority = Omit<PkiAuthority, 'createdAt'>;

export interface PkiAuthorityRepository {
  /**
   * @throws StoreConflictError when an authority with this id or certificate exists, or when it is
   * active and its role has an active authority already (run `deactivate` first, in a transaction).
   */
  insert(authority: NewPkiAuthority): Promise<PkiAuthority>;
  get(id: string): Promise<PkiAuthority | undefined>;
  findByFingerprint(fingerprint: string): Promise<PkiAuthority | undefined>;
  active(role: PkiAuthorityRole): Promise<PkiAuthority | undefined>;
  /** Oldest first. */
  list(): Promise<PkiAuthority[]>;
  /** Makes the active authority of `role` inactive. @returns whether there was one. */
  deactivate(role: PkiAuthorityRole): Promise<boolean>;
  /** @throws StoreConflictError when another authority of its role is active. */
  activate(id: string): Promise<boolean>;
}

/** `static`: one shared secret in the template; `dynamic`: one-time challenges bound to lookup values. */
export type PkiChallengeMode = 'static' | 'dynamic';

/** A certificate template; the pki module validates it, the store only keeps it. */
export interface PkiTemplate {
  name: string;
  /** Subject DN template, e.g. `CN={DeviceUid},O=Contoso`. */
  subject: string;
  /** rfc822Name SAN template, e.g. `{EmailAddress}`; null: none. */
  sanEmail: string | null;
  /** UPN otherName SAN template, e.g. `{UserPrincipalName}`; null: none. */
  sanUpn: string | null;
  keySize: number;
  days: number;
  renewDays: number;
  challenge: PkiChallengeMode;
  /** The static challenge sealed by the caller; null for `dynamic`. */
  challengeSecretEnc: string | null;
  revokeOnUnenrol: boolean;
  createdAt: EpochMs;
  updatedAt: EpochMs;
}

export type NewPkiTemplate = Omit<PkiTemplate, 'createdAt' | 'updatedAt'>;

export interface PkiTemplateRepository {
  /** @throws StoreConflictError when a template of this name exists. */
  create(template: NewPkiTemplate): Promise<PkiTemplate>;
  get(name: string): Promise<PkiTemplate | undefined>;
  /** By name. */
  list(): Promise<PkiTemplate[]>;
}

export type PkiCertificateStatus = 'issued' | 'revoked';

export interface PkiCertificate {
  /** Lower-case hex, no leading zero bytes. */
  serial: string;
  authorityId: string;
  template: string | null;
  subject: string;
  sanEmail: string | null;
  sanUpn: string | null;
  notBefore: EpochMs;
  notAfter: EpochMs;
  status: PkiCertificateStatus;
  revokedAt: EpochMs | null;
  /** RFC 5280 §5.3.1 reason name, e.g. `keyCompromise`. */
  revocationReason: string | null;
  registrationId: string | null;
  /** SCEP transactionID of the request it answered. */
  transactionId: string | null;
  certificateDer: Buffer;
  createdAt: EpochMs;
}

export type NewPkiCertificate = Omit<
  PkiCertificate,
  'status' | 'revokedAt' | 'revocationReason' | 'createdAt'
>;

/** Filters of {@link PkiCertificateRepository.list}; combined with AND. */
export interface PkiCertificateFilter {
  authorityId?: string;
  status?: PkiCertificateStatus;
  template?: string;
  registrationId?: string;
  limit: number;
}

/** What a CRL entry needs. */
export interface PkiRevokedEntry {
  serial: string;
  revokedAt: EpochMs;
  revocationReason: string | null;
}

export interface PkiCertificateRepository {
  /** @throws StoreConflictError on a duplicate serial. */
  insert(certificate: NewPkiCertificate): Promise<PkiCertificate>;
  get(serial: string): Promise<PkiCertificate | undefined>;
  /** The newest certificate issued for this SCEP transaction. */
  findByTransaction(transactionId: string): Promise<PkiCertificate | undefined>;
  /** Newest first. */
  list(filter: PkiCertificateFilter): Promise<PkiCertificate[]>;
  /**
   * Compare-and-set `issued` → `revoked`. @returns the revoked certificate, or undefined when
   * there is no such certificate or it was revoked already.
   */
  revoke(serial: string, reason: string, at: EpochMs): Promise<PkiCertificate | undefined>;
  /**
   * Revoked certificates of `authorityId` still valid at `notExpiredAt` (expired ones may leave
   * a CRL, RFC 5280 §3.3), revoked at or after `revokedSince` when given; ordered by serial.
   */
  revoked(
    authorityId: string,
    options: { notExpiredAt: EpochMs; revokedSince?: EpochMs },
  ): Promise<PkiRevokedEntry[]>;
}

export type PkiCrlKind = 'full' | 'delta';

export interface PkiCrl {
  authorityId: string;
  /** One sequence per authority for full and delta CRLs (RFC 5280 §5.2.3). */
  number: number;
  kind: PkiCrlKind;
  /** Delta CRLs: the number of the full CRL they complete (§5.2.4); null for full CRLs. */
  baseNumber: number | null;
  thisUpdate: EpochMs;
  nextUpdate: EpochMs;
  der: Buffer;
  createdAt: EpochMs;
}

export type NewPkiCrl = Omit<PkiCrl, 'createdAt'>;

export interface PkiCrlRepository {
  /** @throws StoreConflictError when this authority has a CRL of this number (another node won). */
  insert(crl: NewPkiCrl): Promise<PkiCrl>;
  /** The highest-numbered CRL of this kind. */
  latest(authorityId: string, kind: PkiCrlKind): Promise<PkiCrl | undefined>;
  /** The highest CRL number used so far; 0 when none. */
  lastNumber(authorityId: string): Promise<number>;
  /** Deletes this authority's CRLs numbered below `belowNumber`. @returns how many. */
  prune(authorityId: string, belowNumber: number): Promise<number>;
}

/** Values a template's placeholders are filled with (`{EmailAddress}` etc.). */
export type PkiLookupValues = Partial<
  Record<'EnrollmentUser' | 'DeviceUid' | 'EmailAddress' | 'UserPrincipalName', string>
>;

/** A one-time SCEP challenge (NDES's dynamic challenge); only its hash is stored. */
export interface PkiChallenge {
  /** sha-256 hex of the challenge password. */
  hash: string;
  template: string;
  lookupValues: PkiLookupValues;
  registrationId: string | null;
  expiresAt: EpochMs;
  usedAt: EpochMs | null;
  createdAt: EpochMs;
}

export type NewPkiChallenge = Pick<
  PkiChallenge,
  'hash' | 'template' | 'lookupValues' | 'registrationId' | 'expiresAt'
>;

export interface PkiChallengeRepository {
  insert(challenge: NewPkiChallenge): Promise<PkiChallenge>;
  get(hash: string): Promise<PkiChallenge | undefined>;
  /**
   * Single use, in one statement: marks the challenge used at `now` if it is unused and has not
   * expired (`used_at is null and expires_at > now`). Of concurrent calls exactly one gets it.
   * @returns the challenge, or undefined when unknown, used or expired.
   */
  consume(hash: string, now: EpochMs): Promise<PkiChallenge | undefined>;
  /** Deletes challenges that expired before `before`. @returns how many. */
  deleteExpired(before: EpochMs): Promise<number>;
}

/** The certificate authority's repositories, grouped as `store.pki`. */
export interface PkiRepositories {
  readonly authorities: PkiAuthorityRepository;
  readonly templates: PkiTemplateRepository;
  readonly certificates: PkiCertificateRepository;
  readonly crls: PkiCrlRepository;
  readonly challenges: PkiChallengeRepository;
}
