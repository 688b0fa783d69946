/**
 * Kysely's view of the tables (snake_case, as stored). Repositories map these rows to the
 * camelCase domain types in `types.ts`; nothing outside store/ sees them.
 */
import type { Generated } from 'kysely';
import type {
  ContentPolicy,
  DeliveryStatus,
  GatewayRuleAction,
  GraphAuthModel,
  GraphSubscriptionState,
  MailProvider,
  OutboxKind,
  OutboxStatus,
  PkiAuthorityRole,
  PkiCertificateStatus,
  PkiChallengeMode,
  PkiCrlKind,
  Platform,
  PushEnvironment,
  PushProvider,
  RegistrationState,
} from './types.ts';

export interface TenantsTable {
  id: string;
  api_token_hash: string;
  content_policy: ContentPolicy;
  created_at: number;
  updated_at: number;
}

export interface TenantKeysTable {
  kid: string;
  tenant_id: string;
  public_jwk: string;
  private_key_enc: string;
  created_at: number;
  retired_at: number | null;
}

export interface RegistrationsTable {
  id: string;
  tenant_id: string;
  platform: Platform;
  push_token: string;
  app_id: string;
  environment: PushEnvironment;
  email_hash: string;
  provider: MailProvider;
  content_policy: ContentPolicy | null;
  mailbox_enc: string;
  account_enc: string;
  key_hash: string;
  next_account_enc: string | null;
  next_key_hash: string | null;
  state: RegistrationState;
  subscription_id: string | null;
  watermark: string | null;
  status_frequency_minutes: number;
  last_seen_at: number | null;
  unread_count: number | null;
  badge_sent: number | null;
  deactivated_reason: string | null;
  silent_since: number | null;
  checkin_sent_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface OutboxTable {
  id: Generated<number>;
  registration_id: string;
  kind: OutboxKind;
  item_id: string | null;
  dedupe_key: string;
  payload: string;
  status: OutboxStatus;
  attempts: Generated<number>;
  available_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
}

export interface DeliveriesTable {
  id: Generated<number>;
  registration_id: string;
  outbox_id: number | null;
  item_id: string | null;
  provider: PushProvider;
  status: DeliveryStatus;
  provider_id: string | null;
  latency_ms: number;
  error: string | null;
  created_at: number;
}

export interface LeasesTable {
  name: string;
  owner: string;
  expires_at: number;
}

export interface ProviderTokensTable {
  name: string;
  token_enc: string;
  issued_at: number;
  updated_at: number | null;
}

export interface GatewayRulesTable {
  id: string;
  action: GatewayRuleAction;
  priority: number;
  device_id: string | null;
  device_type: string | null;
  /** Lower-cased. */
  user_name: string | null;
  /** Regular expression source. */
  user_agent: string | null;
  reason: string;
  created_at: number;
  updated_at: number;
}

export interface PkiAuthoritiesTable {
  id: string;
  role: PkiAuthorityRole;
  subject: string;
  fingerprint: string;
  certificate: Uint8Array;
  private_key_enc: string | null;
  issuer_id: string | null;
  /** 0 or 1. */
  active: number;
  not_before: number;
  not_after: number;
  created_at: number;
}

export interface PkiTemplatesTable {
  name: string;
  subject: string;
  san_email: string | null;
  san_upn: string | null;
  key_size: number;
  days: number;
  renew_days: number;
  challenge: PkiChallengeMode;
  challenge_secret_enc: string | null;
  /** 0 or 1. */
  revoke_on_unenrol: number;
  created_at: number;
  updated_at: number;
}

export interface PkiCertificatesTable {
  serial: string;
  authority_id: string;
  template: string | null;
  subject: string;
  san_email: string | null;
  san_upn: string | null;
  not_before: number;
  not_after: number;
  status: PkiCertificateStatus;
  revoked_at: number | null;
  revocation_reason: string | null;
  registration_id: string | null;
  transaction_id: string | null;
  certificate: Uint8Array;
  created_at: number;
}

export interface PkiCrlsTable {
  authority_id: string;
  crl_number: number;
  kind: PkiCrlKind;
  base_number: number | null;
  this_update: number;
  next_update: number;
  der: Uint8Array;
  created_at: number;
}

export interface PkiChallengesTable {
  hash: string;
  template: string;
  /** JSON object of lookup values. */
  lookup_values: string;
  registration_id: string | null;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

export interface GraphSubscriptionsTable {
  registration_id: string;
  subscription_id: string | null;
  entra_tenant_id: string;
  auth: GraphAuthModel;
  client_state_hash: string;
  next_client_state_hash: string | null;
  application_id: string | null;
  /** 0 or 1. */
  include_resource_data: number;
  encryption_certificate_id: string | null;
  state: GraphSubscriptionState;
  expires_at: number | null;
  renew_at: number | null;
  renewal_failures: Generated<number>;
  last_error: string | null;
  last_lifecycle_event: string | null;
  last_lifecycle_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface GraphEncryptionKeysTable {
  id: string;
  certificate: string;
  thumbprint: string;
  private_key_enc: string;
  not_after: number;
  created_at: number;
  retired_at: number | null;
}

export interface GraphDeletionsTable {
  subscription_id: string;
  tenant_id: string;
  attempts: Generated<number>;
  next_attempt_at: number;
  expires_at: number | null;
  last_error: string | null;
  created_at: number;
}

export interface Database {
  tenants: TenantsTable;
  tenant_keys: TenantKeysTable;
  registrations: RegistrationsTable;
  outbox: OutboxTable;
  deliveries: DeliveriesTable;
  leases: LeasesTable;
  provider_tokens: ProviderTokensTable;
  gateway_rules: GatewayRulesTable;
  pki_authorities: PkiAuthoritiesTable;
  pki_templates: PkiTemplatesTable;
  pki_certificates: PkiCertificatesTable;
  pki_crls: PkiCrlsTable;
  pki_challenges: PkiChallengesTable;
  graph_subscriptions: GraphSubscriptionsTable;
  graph_encryption_keys: GraphEncryptionKeysTable;
  graph_deletions: GraphDeletionsTable;
}
