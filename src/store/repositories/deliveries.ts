import type { Selectable } from 'kysely';
import type { DeliveriesTable } from '../schema.ts';
import type { Delivery, DeliveryRepository, NewDelivery } from '../types.ts';
import type { RepositoryContext } from './context.ts';

function toDelivery(row: Selectable<DeliveriesTable>): Delivery {
  return {
    id: row.id,
    registrationId: row.registration_id,
    outboxId: row.outbox_id,
    itemId: row.item_id,
    provider: row.provider,
    status: row.status,
    providerId: row.provider_id,
    latencyMs: row.latency_ms,
    error: row.error,
    createdAt: row.created_at,
  };
}

export function deliveryRepository({ db, now }: RepositoryContext) {
  return {
    async record(d: NewDelivery): Promise<boolean> {
      const row = await db
        .insertInto('deliveries')
        .values({
          registration_id: d.registrationId,
          outbox_id: d.outboxId ?? null,
          item_id: d.itemId ?? null,
          provider: d.provider,
          status: d.status,
          provider_id: d.providerId ?? null,
          latency_ms: d.latencyMs,
          error: d.error ?? null,
          created_at: d.createdAt ?? now(),
        })
        // Idempotent per (registration, item): DESIGN decision 2.
        .onConflict((oc) => oc.columns(['registration_id', 'item_id']).doNothing())
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    async find(registrationId: string, itemId: string): Promise<Delivery | undefined> {
      const row = await db
        .selectFrom('deliveries')
        .selectAll()
        .where('registration_id', '=', registrationId)
        .where('item_id', '=', itemId)
        .executeTakeFirst();
      return row && toDelivery(row);
    },

    async listForRegistration(registrationId: string): Promise<Delivery[]> {
      const rows = await db
        .selectFrom('deliveries')
        .selectAll()
        .where('registration_id', '=', registrationId)
        .orderBy('id', 'desc')
        .execute();
      return rows.map(toDelivery);
    },
  } satisfies DeliveryRepository;
}
