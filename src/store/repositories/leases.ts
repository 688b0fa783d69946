import type { Lease, LeaseRepository } from '../types.ts';
import type { RepositoryContext } from './context.ts';

export function leaseRepository({ db }: RepositoryContext) {
  return {
    async acquire(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
      // Compare-and-swap in one statement: insert if absent, otherwise take over only when
      // the lease has expired or is ours already (a renewal). When the condition fails the
      // upsert changes nothing and RETURNING yields no row. Both SQLite (>= 3.24) and
      // PostgreSQL accept ON CONFLICT ... DO UPDATE ... WHERE, and PostgreSQL's upsert is
      // atomic under concurrency.
      const row = await db
        .insertInto('leases')
        .values({ name, owner, expires_at: now + ttlMs })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet((eb) => ({
              owner: eb.ref('excluded.owner'),
              expires_at: eb.ref('excluded.expires_at'),
            }))
            .where((eb) => eb.or([eb('leases.expires_at', '<=', now), eb('leases.owner', '=', owner)])),
        )
        .returning('name')
        .executeTakeFirst();
      return row !== undefined;
    },

    async release(name: string, owner: string): Promise<boolean> {
      const result = await db
        .deleteFrom('leases')
        .where('name', '=', name)
        .where('owner', '=', owner)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async get(name: string): Promise<Lease | undefined> {
      const row = await db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
      return row && { name: row.name, owner: row.owner, expiresAt: row.expires_at };
    },
  } satisfies LeaseRepository;
}
