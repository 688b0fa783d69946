import type { Selectable } from 'kysely';
import type { OutboxTable } from '../schema.ts';
import type {
  ClaimOptions,
  FailOutcome,
  NewOutboxEvent,
  OutboxEvent,
  OutboxRepository,
  OutboxStatus,
} from '../types.ts';
import { chunks, inTransaction, type RepositoryContext } from './context.ts';

// 8 parameters a row: 500 rows stay far below both databases' parameter limits.
const ENQUEUE_BATCH = 500;

function toEvent(row: Selectable<OutboxTable>): OutboxEvent {
  return {
    id: row.id,
    registrationId: row.registration_id,
    kind: row.kind,
    itemId: row.item_id,
    dedupeKey: row.dedupe_key,
    payload: JSON.parse(row.payload),
    status: row.status,
    attempts: row.attempts,
    availableAt: row.available_at,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    lastError: row.last_error,
    createdAt: row.created_at,
  };
}

function byDue(a: OutboxEvent, b: OutboxEvent): number {
  return a.availableAt - b.availableAt || a.id - b.id;
}

export function outboxRepository({ db, dialect, now }: RepositoryContext) {
  /** `processing` rows `owner` holds (those of `ids`, or all) become pending; the claim's try does not count. */
  async function handBack(owner: string, ids?: readonly number[]): Promise<number> {
    const result = await db
      .updateTable('outbox')
      .set((eb) => ({
        status: 'pending',
        lease_owner: null,
        lease_until: null,
        attempts: eb('attempts', '-', 1),
      }))
      .$if(ids !== undefined, (qb) => qb.where('id', 'in', ids!))
      .where('status', '=', 'processing')
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  return {
    async enqueue(events: readonly NewOutboxEvent[]): Promise<number> {
      if (events.length === 0) return 0;
      const at = now();
      return inTransaction(db, async (tx) => {
        let inserted = 0;
        for (const batch of chunks(events, ENQUEUE_BATCH)) {
          const rows = await tx
            .insertInto('outbox')
            .values(
              batch.map((e) => ({
                registration_id: e.registrationId,
                kind: e.kind,
                item_id: e.itemId ?? null,
                dedupe_key: e.dedupeKey,
                payload: JSON.stringify(e.payload),
                status: 'pending' as const,
                available_at: e.availableAt ?? at,
                created_at: at,
              })),
            )
            // A retried notification hits the unique (registration, dedupe key) and is dropped.
            .onConflict((oc) => oc.columns(['registration_id', 'dedupe_key']).doNothing())
            // Counting returned ids (not the driver's affected-rows figure) means the same on both.
            .returning('id')
            .execute();
          inserted += rows.length;
        }
        return inserted;
      });
    },

    async claim({ owner, limit, leaseMs, now: at }: ClaimOptions): Promise<OutboxEvent[]> {
      if (limit <= 0) return [];
      // One statement: pick due rows (new work, or work whose worker let the lease lapse) and
      // lease them. On PostgreSQL, FOR UPDATE SKIP LOCKED makes concurrent claimers on other
      // nodes pass over rows another claimer is taking, so no row goes to two owners. SQLite
      // serialises writers, so the statement alone is atomic there.
      const rows = await db
        .updateTable('outbox')
        .set((eb) => ({
          status: 'processing',
          lease_owner: owner,
          lease_until: at + leaseMs,
          attempts: eb('attempts', '+', 1),
        }))
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('outbox')
            .select('id')
            .where((w) =>
              w.or([
                w.and([w('status', '=', 'pending'), w('available_at', '<=', at)]),
                w.and([w('status', '=', 'processing'), w('lease_until', '<=', at)]),
              ]),
            )
            .orderBy('available_at')
            .orderBy('id')
            .limit(limit)
            .$if(dialect === 'postgres', (qb) => qb.forUpdate().skipLocked()),
        )
        .returningAll()
        .execute();
      // RETURNING promises no order; hand out the oldest work first.
      return rows.map(toEvent).sort(byDue);
    },

    async complete(id: number, options: { owner?: string; payload?: unknown } = {}): Promise<boolean> {
      const result = await db
        .updateTable('outbox')
        .set({
          status: 'done',
          lease_owner: null,
          lease_until: null,
          ...(options.payload === undefined ? {} : { payload: JSON.stringify(options.payload) }),
        })
        .where('id', '=', id)
        .$if(options.owner !== undefined, (qb) => qb.where('lease_owner', '=', options.owner!))
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async fail(
      id: number,
      error: string,
      outcome: FailOutcome,
      options: { owner?: string; payload?: unknown } = {},
    ): Promise<boolean> {
      const next =
        'final' in outcome
          ? { status: 'failed' as const }
          : { status: 'pending' as const, available_at: outcome.retryAt };
      const result = await db
        .updateTable('outbox')
        .set({
          ...next,
          last_error: error,
          lease_owner: null,
          lease_until: null,
          ...(options.payload === undefined ? {} : { payload: JSON.stringify(options.payload) }),
        })
        .where('id', '=', id)
        .$if(options.owner !== undefined, (qb) => qb.where('lease_owner', '=', options.owner!))
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async listForRegistration(registrationId: string): Promise<OutboxEvent[]> {
      const rows = await db
        .selectFrom('outbox')
        .selectAll()
        .where('registration_id', '=', registrationId)
        .orderBy('id')
        .execute();
      return rows.map(toEvent);
    },

    async release(ids: readonly number[], owner: string): Promise<number> {
      let released = 0;
      for (const batch of chunks(ids, ENQUEUE_BATCH)) released += await handBack(owner, batch);
      return released;
    },

    reclaim: (owner: string): Promise<number> => handBack(owner),

    async countByStatus(registrationId?: string): Promise<Record<OutboxStatus, number>> {
      const rows = await db
        .selectFrom('outbox')
        .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
        .$if(registrationId !== undefined, (qb) => qb.where('registration_id', '=', registrationId!))
        .groupBy('status')
        .execute();
      const counts: Record<OutboxStatus, number> = { pending: 0, processing: 0, done: 0, failed: 0 };
      for (const row of rows) counts[row.status] = Number(row.n);
      return counts;
    },
  } satisfies OutboxRepository;
}
