import type { Selectable, Updateable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { RegistrationsTable } from '../schema.ts';
import type {
  NewRegistration,
  PageOptions,
  Platform,
  Registration,
  RegistrationPatch,
  RegistrationRepository,
  RegistrationState,
} from '../types.ts';
import { chunks, type RepositoryContext } from './context.ts';

// Status pings arrive in bursts; one statement per this many ids keeps the parameter count
// far below SQLite's limit (32766) and PostgreSQL's (65535).
const TOUCH_BATCH = 1000;

function toRegistration(row: Selectable<RegistrationsTable>): Registration {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    platform: row.platform,
    pushToken: row.push_token,
    appId: row.app_id,
    environment: row.environment,
    emailHash: row.email_hash,
    provider: row.provider,
    contentPolicy: row.content_policy,
    mailboxEnc: row.mailbox_enc,
    accountEnc: row.account_enc,
    keyHash: row.key_hash,
    nextAccountEnc: row.next_account_enc,
    nextKeyHash: row.next_key_hash,
    state: row.state,
    subscriptionId: row.subscription_id,
    watermark: row.watermark,
    statusFrequencyMinutes: row.status_frequency_minutes,
    lastSeenAt: row.last_seen_at,
    unreadCount: row.unread_count,
    badgeSent: row.badge_sent,
    deactivatedReason: row.deactivated_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// Patch field → column; `satisfies` keeps this in step with RegistrationPatch.
const PATCH_COLUMNS = {
  state: 'state',
  subscriptionId: 'subscription_id',
  watermark: 'watermark',
  accountEnc: 'account_enc',
  keyHash: 'key_hash',
  nextAccountEnc: 'next_account_enc',
  nextKeyHash: 'next_key_hash',
  emailHash: 'email_hash',
  lastSeenAt: 'last_seen_at',
  unreadCount: 'unread_count',
  badgeSent: 'badge_sent',
  deactivatedReason: 'deactivated_reason',
  statusFrequencyMinutes: 'status_frequency_minutes',
  contentPolicy: 'content_policy',
} as const satisfies Record<keyof RegistrationPatch, keyof RegistrationsTable>;

function toColumns(patch: RegistrationPatch): Updateable<RegistrationsTable> {
  const set: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(PATCH_COLUMNS)) {
    const value = patch[field as keyof RegistrationPatch];
    // undefined leaves a column alone; null clears it.
    if (value !== undefined) set[column] = value;
  }
  return set as Updateable<RegistrationsTable>;
}

export function registrationRepository({ db, now }: RepositoryContext) {
  const byId = (id: string) => db.selectFrom('registrations').selectAll().where('id', '=', id);

  return {
    async insert(reg: NewRegistration): Promise<Registration> {
      const at = now();
      const row = await conflictAs('A registration with this id or identity exists already', () =>
        db
          .insertInto('registrations')
          .values({
            id: reg.id,
            tenant_id: reg.tenantId,
            platform: reg.platform,
            push_token: reg.pushToken,
            app_id: reg.appId,
            environment: reg.environment,
            email_hash: reg.emailHash,
            provider: reg.provider,
            content_policy: reg.contentPolicy ?? null,
            mailbox_enc: reg.mailboxEnc,
            account_enc: reg.accountEnc,
            key_hash: reg.keyHash,
            next_account_enc: reg.nextAccountEnc ?? null,
            next_key_hash: reg.nextKeyHash ?? null,
            state: reg.state ?? 'active',
            subscription_id: reg.subscriptionId ?? null,
            watermark: reg.watermark ?? null,
            status_frequency_minutes: reg.statusFrequencyMinutes,
            last_seen_at: reg.lastSeenAt ?? null,
            unread_count: reg.unreadCount ?? null,
            badge_sent: reg.badgeSent ?? null,
            deactivated_reason: reg.deactivatedReason ?? null,
            created_at: at,
            updated_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toRegistration(row);
    },

    async get(id: string): Promise<Registration | undefined> {
      const row = await byId(id).executeTakeFirst();
      return row && toRegistration(row);
    },

    async getForTenant(tenantId: string, id: string): Promise<Registration | undefined> {
      const row = await byId(id).where('tenant_id', '=', tenantId).executeTakeFirst();
      return row && toRegistration(row);
    },

    async findByIdentity(
      tenantId: string,
      platform: Platform,
      pushToken: string,
      emailHash: string,
    ): Promise<Registration | undefined> {
      const row = await db
        .selectFrom('registrations')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('platform', '=', platform)
        .where('push_token', '=', pushToken)
        .where('email_hash', '=', emailHash)
        .executeTakeFirst();
      return row && toRegistration(row);
    },

    async findBySubscriptionId(subscriptionId: string): Promise<Registration | undefined> {
      const row = await db
        .selectFrom('registrations')
        .selectAll()
        .where('subscription_id', '=', subscriptionId)
        .executeTakeFirst();
      return row && toRegistration(row);
    },

    async delete(id: string): Promise<boolean> {
      // The outbox rows go with it through ON DELETE CASCADE (foreign_keys=ON on SQLite).
      const result = await db.deleteFrom('registrations').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async update(id: string, patch: RegistrationPatch): Promise<Registration | undefined> {
      const row = await db
        .updateTable('registrations')
        .set({ ...toColumns(patch), updated_at: now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row && toRegistration(row);
    },

    async touchLastSeen(ids: readonly string[], at: number): Promise<number> {
      let touched = 0;
      for (const batch of chunks([...new Set(ids)], TOUCH_BATCH)) {
        // updated_at is left alone: a ping is not a change of the registration.
        const result = await db
          .updateTable('registrations')
          .set({ last_seen_at: at })
          .where('id', 'in', batch)
          .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', at)]))
          .executeTakeFirst();
        touched += Number(result.numUpdatedRows);
      }
      return touched;
    },

    async listByState(state: RegistrationState, page: PageOptions): Promise<Registration[]> {
      const rows = await db
        .selectFrom('registrations')
        .selectAll()
        .where('state', '=', state)
        .$if(page.afterId !== undefined, (qb) => qb.where('id', '>', page.afterId!))
        .orderBy('id')
        .limit(page.limit)
        .execute();
      return rows.map(toRegistration);
    },

    async count(state?: RegistrationState): Promise<number> {
      const row = await db
        .selectFrom('registrations')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .$if(state !== undefined, (qb) => qb.where('state', '=', state!))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  } satisfies RegistrationRepository;
}
