import { type Selectable, sql, type Updateable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { RegistrationsTable } from '../schema.ts';
import type {
  NewRegistration,
  PageOptions,
  Platform,
  Registration,
  RegistrationFilter,
  RegistrationPatch,
  RegistrationRepository,
  RegistrationState,
  SilenceScan,
} from '../types.ts';
import { chunks, type RepositoryContext } from './context.ts';

/** States a callback proves wrong: the subscription is alive after all. */
const REVIVABLE: RegistrationState[] = ['silent', 'repairing'];
/** States whose device the watchdog keeps asking to check in. */
const AWAITING_CHECKIN: RegistrationState[] = ['silent', 'repairing', 'needs_credentials'];

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
    silentSince: row.silent_since,
    checkinSentAt: row.checkin_sent_at,
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
  silentSince: 'silent_since',
  checkinSentAt: 'checkin_sent_at',
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
            silent_since: null,
            checkin_sent_at: null,
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

    async update(
      id: string,
      patch: RegistrationPatch,
      options: { ifState?: readonly RegistrationState[] } = {},
    ): Promise<Registration | undefined> {
      // A changed email hash can collide with another registration's identity.
      const row = await conflictAs('A registration with this identity exists already', () =>
        db
          .updateTable('registrations')
          .set({ ...toColumns(patch), updated_at: now() })
          .where('id', '=', id)
          .$if(options.ifState !== undefined, (qb) => qb.where('state', 'in', [...options.ifState!]))
          .returningAll()
          .executeTakeFirst(),
      );
      return row && toRegistration(row);
    },

    async addUnread(id: string, delta: number): Promise<number | undefined> {
      // In one statement: two notifications counted at the same time both count.
      const row = await db
        .updateTable('registrations')
        .set({ unread_count: sql<number>`coalesce(unread_count, 0) + ${delta}`, updated_at: now() })
        .where('id', '=', id)
        .returning('unread_count')
        .executeTakeFirst();
      return row ? Number(row.unread_count) : undefined;
    },

    async touchLastSeen(ids: readonly string[], at: number): Promise<number> {
      let touched = 0;
      for (const batch of chunks([...new Set(ids)], TOUCH_BATCH)) {
        // updated_at is left alone: a ping is not a change of the registration. A ping for a
        // subscription the watchdog thought silent proves it alive: back to active.
        const revived = (value: unknown) =>
          sql`case when state in (${sql.join(REVIVABLE)}) then ${value} else`;
        const result = await db
          .updateTable('registrations')
          .set({
            last_seen_at: at,
            state: sql<RegistrationState>`${revived('active')} state end`,
            silent_since: sql<number | null>`${revived(null)} silent_since end`,
            checkin_sent_at: sql<number | null>`${revived(null)} checkin_sent_at end`,
          })
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

    async list(filter: RegistrationFilter, page: PageOptions): Promise<Registration[]> {
      const rows = await db
        .selectFrom('registrations')
        .selectAll()
        .$if(filter.tenantId !== undefined, (qb) => qb.where('tenant_id', '=', filter.tenantId!))
        .$if(filter.state !== undefined, (qb) => qb.where('state', '=', filter.state!))
        .$if(filter.emailHash !== undefined, (qb) => qb.where('email_hash', '=', filter.emailHash!))
        .$if(filter.platform !== undefined, (qb) => qb.where('platform', '=', filter.platform!))
        .$if(page.afterId !== undefined, (qb) => qb.where('id', '>', page.afterId!))
        .orderBy('id')
        .limit(page.limit)
        .execute();
      return rows.map(toRegistration);
    },

    async countByState(tenantId?: string): Promise<Partial<Record<RegistrationState, number>>> {
      const rows = await db
        .selectFrom('registrations')
        .select((eb) => ['state', eb.fn.countAll<number>().as('n')])
        .$if(tenantId !== undefined, (qb) => qb.where('tenant_id', '=', tenantId!))
        .groupBy('state')
        .execute();
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
    },

    async markSilent({ now: at, periods, limit }: SilenceScan): Promise<Registration[]> {
      // Each subscription has its own StatusFrequency, so the cutoff is per row. The inner
      // select takes the longest-silent first; the outer WHERE repeats the state so a row that
      // changed in between is left alone.
      const silentFor = sql<boolean>`last_seen_at + status_frequency_minutes * ${periods * 60_000} < ${at}`;
      const rows = await db
        .updateTable('registrations')
        .set({ state: 'silent', silent_since: at, updated_at: now() })
        .where('state', '=', 'active')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('registrations')
            .select('id')
            .where('state', '=', 'active')
            // Graph subscriptions send no status pings: silence means nothing for them.
            .where('provider', '=', 'ews')
            .where('last_seen_at', 'is not', null)
            .where(silentFor)
            .orderBy('last_seen_at')
            .limit(limit),
        )
        .returningAll()
        .execute();
      return rows.map(toRegistration);
    },

    async dueForCheckin(before: number, limit: number): Promise<Registration[]> {
      const rows = await db
        .selectFrom('registrations')
        .selectAll()
        .where('state', 'in', AWAITING_CHECKIN)
        .where((eb) => eb.or([eb('checkin_sent_at', 'is', null), eb('checkin_sent_at', '<', before)]))
        .orderBy(sql`coalesce(checkin_sent_at, 0)`)
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map(toRegistration);
    },

    async markCheckinSent(ids: readonly string[], at: number): Promise<number> {
      let marked = 0;
      for (const batch of chunks([...new Set(ids)], TOUCH_BATCH)) {
        const result = await db
          .updateTable('registrations')
          .set({ checkin_sent_at: at })
          .where('id', 'in', batch)
          .executeTakeFirst();
        marked += Number(result.numUpdatedRows);
      }
      return marked;
    },

    async markDead(before: number, reason: string, limit: number): Promise<number> {
      const result = await db
        .updateTable('registrations')
        .set({ state: 'dead', deactivated_reason: reason, updated_at: now() })
        .where('state', 'in', REVIVABLE)
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('registrations')
            .select('id')
            .where('state', 'in', REVIVABLE)
            .where('silent_since', '<', before)
            .orderBy('silent_since')
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async deleteStalePending(before: number, limit: number): Promise<number> {
      const result = await db
        .deleteFrom('registrations')
        .where('state', '=', 'pending')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('registrations')
            .select('id')
            .where('state', '=', 'pending')
            .where('created_at', '<', before)
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  } satisfies RegistrationRepository;
}
