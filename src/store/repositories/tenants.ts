import type { Selectable } from 'kysely';
import { conflictAs, StoreInvalidError } from '../errors.ts';
import type { TenantsTable } from '../schema.ts';
import type { ContentPolicy, NewTenant, Tenant, TenantRepository } from '../types.ts';
import type { RepositoryContext } from './context.ts';

/** Tenant ids appear in URLs and logs: lowercase, DNS-label-like. */
export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

function checkId(id: string): void {
  if (!TENANT_ID.test(id)) {
    throw new StoreInvalidError(`Invalid tenant id ${JSON.stringify(id)}: use [a-z0-9][a-z0-9-]{0,62}`);
  }
}

function toTenant(row: Selectable<TenantsTable>): Tenant {
  return {
    id: row.id,
    apiTokenHash: row.api_token_hash,
    contentPolicy: row.content_policy,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function tenantRepository({ db, now }: RepositoryContext) {
  const get = async (id: string): Promise<Tenant | undefined> => {
    const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toTenant(row);
  };

  return {
    get,

    async create(tenant: NewTenant): Promise<Tenant> {
      checkId(tenant.id);
      const at = now();
      const row = await conflictAs(`Tenant ${tenant.id} or its API token exists already`, () =>
        db
          .insertInto('tenants')
          .values({
            id: tenant.id,
            api_token_hash: tenant.apiTokenHash,
            content_policy: tenant.contentPolicy ?? 'full',
            created_at: at,
            updated_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toTenant(row);
    },

    async list(): Promise<Tenant[]> {
      const rows = await db.selectFrom('tenants').selectAll().orderBy('id').execute();
      return rows.map(toTenant);
    },

    async findByApiTokenHash(hash: string): Promise<Tenant | undefined> {
      const row = await db
        .selectFrom('tenants')
        .selectAll()
        .where('api_token_hash', '=', hash)
        .executeTakeFirst();
      return row && toTenant(row);
    },

    async setApiTokenHash(id: string, hash: string): Promise<boolean> {
      const result = await conflictAs('Another tenant has this API token', () =>
        db
          .updateTable('tenants')
          .set({ api_token_hash: hash, updated_at: now() })
          .where('id', '=', id)
          .executeTakeFirst(),
      );
      return result.numUpdatedRows > 0n;
    },

    async setContentPolicy(id: string, policy: ContentPolicy): Promise<boolean> {
      const result = await db
        .updateTable('tenants')
        .set({ content_policy: policy, updated_at: now() })
        .where('id', '=', id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async upsert(tenant: NewTenant): Promise<Tenant> {
      checkId(tenant.id);
      const at = now();
      const policy = tenant.contentPolicy ?? 'full';
      const row = await conflictAs(`Another tenant has the API token of ${tenant.id}`, () =>
        db
          .insertInto('tenants')
          .values({
            id: tenant.id,
            api_token_hash: tenant.apiTokenHash,
            content_policy: policy,
            created_at: at,
            updated_at: at,
          })
          .onConflict((oc) =>
            oc
              .column('id')
              .doUpdateSet({ api_token_hash: tenant.apiTokenHash, content_policy: policy, updated_at: at })
              // Unchanged config leaves the row (and updated_at) alone on every restart.
              .where((eb) =>
                eb.or([
                  eb('tenants.api_token_hash', '!=', tenant.apiTokenHash),
                  eb('tenants.content_policy', '!=', policy),
                ]),
              ),
          )
          .returningAll()
          .executeTakeFirst(),
      );
      if (row) return toTenant(row);
      const existing = await get(tenant.id);
      if (!existing) throw new Error(`Tenant ${tenant.id} vanished during upsert`);
      return existing;
    },
  } satisfies TenantRepository;
}
