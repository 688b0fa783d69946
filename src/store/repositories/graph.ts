import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { GraphDeletionsTable, GraphEncryptionKeysTable, GraphSubscriptionsTable } from '../schema.ts';
import type {
  GraphDeletion,
  GraphDeletionRepository,
  GraphEncryptionKey,
  GraphEncryptionKeyRepository,
  GraphSubscriptionPatch,
  GraphSubscriptionRecord,
  GraphSubscriptionRepository,
  GraphSubscriptionState,
  NewGraphEncryptionKey,
  NewGraphSubscription,
} from '../types.ts';
import type { RepositoryContext } from './context.ts';

function toRecord(row: Selectable<GraphSubscriptionsTable>): GraphSubscriptionRecord {
  return {
    registrationId: row.registration_id,
    subscriptionId: row.subscription_id,
    entraTenantId: row.entra_tenant_id,
    auth: row.auth,
    clientStateHash: row.client_state_hash,
    nextClientStateHash: row.next_client_state_hash,
    applicationId: row.application_id,
    includeResourceData: Number(row.include_resource_data) === 1,
    encryptionCertificateId: row.encryption_certificate_id,
    state: row.state,
    expiresAt: row.expires_at,
    renewAt: row.renew_at,
    renewalFailures: Number(row.renewal_failures),
    lastError: row.last_error,
    lastLifecycleEvent: row.last_lifecycle_event,
    lastLifecycleAt: row.last_lifecycle_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// Patch field → column; `satisfies` keeps this in step with GraphSubscriptionPatch.
const PATCH_COLUMNS = {
  subscriptionId: 'subscription_id',
  clientStateHash: 'client_state_hash',
  nextClientStateHash: 'next_client_state_hash',
  applicationId: 'application_id',
  includeResourceData: 'include_resource_data',
  encryptionCertificateId: 'encryption_certificate_id',
  state: 'state',
  expiresAt: 'expires_at',
  renewAt: 'renew_at',
  renewalFailures: 'renewal_failures',
  lastError: 'last_error',
  lastLifecycleEvent: 'last_lifecycle_event',
  lastLifecycleAt: 'last_lifecycle_at',
} as const satisfies Record<keyof GraphSubscriptionPatch, keyof GraphSubscriptionsTable>;

export function graphSubscriptionRepository({ db, now }: RepositoryContext) {
  const select = () => db.selectFrom('graph_subscriptions').selectAll();
  return {
    async insert(s: NewGraphSubscription): Promise<GraphSubscriptionRecord> {
      const at = now();
      const row = await conflictAs('A Graph subscription exists already for this registration or id', () =>
        db
          .insertInto('graph_subscriptions')
          .values({
            registration_id: s.registrationId,
            subscription_id: s.subscriptionId ?? null,
            entra_tenant_id: s.entraTenantId,
            auth: s.auth,
            client_state_hash: s.clientStateHash,
            next_client_state_hash: s.nextClientStateHash ?? null,
            application_id: s.applicationId ?? null,
            include_resource_data: s.includeResourceData ? 1 : 0,
            encryption_certificate_id: s.encryptionCertificateId ?? null,
            state: s.state ?? 'creating',
            expires_at: s.expiresAt ?? null,
            renew_at: s.renewAt ?? null,
            renewal_failures: 0,
            last_error: null,
            last_lifecycle_event: null,
            last_lifecycle_at: null,
            created_at: at,
            updated_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toRecord(row);
    },

    async get(registrationId: string): Promise<GraphSubscriptionRecord | undefined> {
      const row = await select().where('registration_id', '=', registrationId).executeTakeFirst();
      return row && toRecord(row);
    },

    async findBySubscriptionId(subscriptionId: string): Promise<GraphSubscriptionRecord | undefined> {
      const row = await select().where('subscription_id', '=', subscriptionId).executeTakeFirst();
      return row && toRecord(row);
    },

    async update(
      registrationId: string,
      patch: GraphSubscriptionPatch,
      options: { ifState?: readonly GraphSubscriptionState[] } = {},
    ): Promise<GraphSubscriptionRecord | undefined> {
      const set: Record<string, unknown> = {};
      for (const [field, column] of Object.entries(PATCH_COLUMNS)) {
        const value = patch[field as keyof GraphSubscriptionPatch];
        // undefined leaves a column alone; null clears it.
        if (value === undefined) continue;
        set[column] = typeof value === 'boolean' ? (value ? 1 : 0) : value;
      }
      const row = await conflictAs('Another registration has this Graph subscription id', () =>
        db
          .updateTable('graph_subscriptions')
          .set({ ...set, updated_at: now() })
          .where('registration_id', '=', registrationId)
          .$if(options.ifState !== undefined, (qb) => qb.where('state', 'in', [...options.ifState!]))
          .returningAll()
          .executeTakeFirst(),
      );
      return row && toRecord(row);
    },

    async due(at: number, limit: number): Promise<GraphSubscriptionRecord[]> {
      const rows = await select()
        .where('renew_at', 'is not', null)
        .where('renew_at', '<=', at)
        .orderBy('renew_at')
        .orderBy('registration_id')
        .limit(limit)
        .execute();
      return rows.map(toRecord);
    },

    async countByState(): Promise<Partial<Record<GraphSubscriptionState, number>>> {
      const rows = await db
        .selectFrom('graph_subscriptions')
        .select((eb) => ['state', eb.fn.countAll<number>().as('n')])
        .groupBy('state')
        .execute();
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
    },
  } satisfies GraphSubscriptionRepository;
}

function toKey(row: Selectable<GraphEncryptionKeysTable>): GraphEncryptionKey {
  return {
    id: row.id,
    certificate: row.certificate,
    thumbprint: row.thumbprint,
    privateKeyEnc: row.private_key_enc,
    notAfter: row.not_after,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  };
}

export function graphEncryptionKeyRepository({ db, now }: RepositoryContext) {
  const newestFirst = (at: number) =>
    db
      .selectFrom('graph_encryption_keys')
      .selectAll()
      .where('not_after', '>', at)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc');
  return {
    async add(key: NewGraphEncryptionKey): Promise<GraphEncryptionKey> {
      const row = await conflictAs('A Graph encryption key with this id exists already', () =>
        db
          .insertInto('graph_encryption_keys')
          .values({
            id: key.id,
            certificate: key.certificate,
            thumbprint: key.thumbprint,
            private_key_enc: key.privateKeyEnc,
            not_after: key.notAfter,
            created_at: now(),
            retired_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toKey(row);
    },

    async current(at: number): Promise<GraphEncryptionKey | undefined> {
      const row = await newestFirst(at).where('retired_at', 'is', null).executeTakeFirst();
      return row && toKey(row);
    },

    async usable(at: number): Promise<GraphEncryptionKey[]> {
      return (await newestFirst(at).execute()).map(toKey);
    },

    async retire(id: string, at: number): Promise<boolean> {
      const result = await db
        .updateTable('graph_encryption_keys')
        .set({ retired_at: at })
        .where('id', '=', id)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  } satisfies GraphEncryptionKeyRepository;
}

function toDeletion(row: Selectable<GraphDeletionsTable>): GraphDeletion {
  return {
    subscriptionId: row.subscription_id,
    tenantId: row.tenant_id,
    attempts: Number(row.attempts),
    nextAttemptAt: row.next_attempt_at,
    expiresAt: row.expires_at,
    lastError: row.last_error,
    createdAt: row.created_at,
  };
}

export function graphDeletionRepository({ db, now }: RepositoryContext) {
  return {
    async add(task) {
      await db
        .insertInto('graph_deletions')
        .values({
          subscription_id: task.subscriptionId,
          tenant_id: task.tenantId,
          next_attempt_at: task.nextAttemptAt,
          expires_at: task.expiresAt,
          last_error: task.lastError ?? null,
          created_at: now(),
        })
        .onConflict((oc) => oc.column('subscription_id').doNothing())
        .execute();
    },

    async due(at: number, limit: number): Promise<GraphDeletion[]> {
      const rows = await db
        .selectFrom('graph_deletions')
        .selectAll()
        .where('next_attempt_at', '<=', at)
        .orderBy('next_attempt_at')
        .orderBy('subscription_id')
        .limit(limit)
        .execute();
      return rows.map(toDeletion);
    },

    async retryLater(subscriptionId: string, nextAttemptAt: number, error: string): Promise<void> {
      await db
        .updateTable('graph_deletions')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          next_attempt_at: nextAttemptAt,
          last_error: error.slice(0, 500),
        }))
        .where('subscription_id', '=', subscriptionId)
        .execute();
    },

    async remove(subscriptionId: string): Promise<boolean> {
      const result = await db
        .deleteFrom('graph_deletions')
        .where('subscription_id', '=', subscriptionId)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async count(): Promise<number> {
      const row = await db
        .selectFrom('graph_deletions')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  } satisfies GraphDeletionRepository;
}
