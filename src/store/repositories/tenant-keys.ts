import type { JsonWebKey } from 'node:crypto';
import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { TenantKeysTable } from '../schema.ts';
import type { NewTenantKey, TenantKey, TenantKeyRepository } from '../types.ts';
import type { RepositoryContext } from './context.ts';

function toKey(row: Selectable<TenantKeysTable>): TenantKey {
  return {
    kid: row.kid,
    tenantId: row.tenant_id,
    publicJwk: JSON.parse(row.public_jwk) as JsonWebKey,
    privateKeyEnc: row.private_key_enc,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  };
}

export function tenantKeyRepository({ db, now }: RepositoryContext) {
  const active = (tenantId: string) =>
    db
      .selectFrom('tenant_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('retired_at', 'is', null)
      // kid breaks ties between keys made in the same millisecond, so "newest" is stable.
      .orderBy('created_at', 'desc')
      .orderBy('kid', 'desc');

  return {
    async add(key: NewTenantKey): Promise<TenantKey> {
      const row = await conflictAs(`Key ${key.kid} exists already`, () =>
        db
          .insertInto('tenant_keys')
          .values({
            kid: key.kid,
            tenant_id: key.tenantId,
            public_jwk: JSON.stringify(key.publicJwk),
            private_key_enc: key.privateKeyEnc,
            created_at: key.createdAt ?? now(),
            retired_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toKey(row);
    },

    async current(tenantId: string): Promise<TenantKey | undefined> {
      const row = await active(tenantId).limit(1).executeTakeFirst();
      return row && toKey(row);
    },

    async get(tenantId: string, kid: string): Promise<TenantKey | undefined> {
      const row = await db
        .selectFrom('tenant_keys')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('kid', '=', kid)
        .executeTakeFirst();
      return row && toKey(row);
    },

    async listActive(tenantId: string): Promise<TenantKey[]> {
      return (await active(tenantId).execute()).map(toKey);
    },

    async retire(kid: string, at: number): Promise<boolean> {
      const result = await db
        .updateTable('tenant_keys')
        .set({ retired_at: at })
        .where('kid', '=', kid)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  } satisfies TenantKeyRepository;
}
