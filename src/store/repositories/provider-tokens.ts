import type { ProviderToken, ProviderTokenRepository } from '../types.ts';
import type { RepositoryContext } from './context.ts';

export function providerTokenRepository({ db, now }: RepositoryContext) {
  return {
    async get(name: string): Promise<ProviderToken | undefined> {
      const row = await db
        .selectFrom('provider_tokens')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return (
        row && { name: row.name, tokenEnc: row.token_enc, issuedAt: row.issued_at, updatedAt: row.updated_at }
      );
    },

    async replace(
      name: string,
      next: { tokenEnc: string; issuedAt: number },
      expectedIssuedAt: number | null,
    ): Promise<boolean> {
      if (expectedIssuedAt === null) {
        // First token under this name: of concurrent inserts one lands, the others do nothing.
        const row = await db
          .insertInto('provider_tokens')
          .values({ name, token_enc: next.tokenEnc, issued_at: next.issuedAt, updated_at: now() })
          .onConflict((oc) => oc.column('name').doNothing())
          .returning('name')
          .executeTakeFirst();
        return row !== undefined;
      }
      // Replace only the token the caller saw. On PostgreSQL a concurrent update of the same row
      // waits for the first to commit and then re-checks the condition (read committed), so the
      // second finds the new issued_at and changes nothing; SQLite serializes writers.
      const result = await db
        .updateTable('provider_tokens')
        .set({ token_enc: next.tokenEnc, issued_at: next.issuedAt, updated_at: now() })
        .where('name', '=', name)
        .where('issued_at', '=', expectedIssuedAt)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  } satisfies ProviderTokenRepository;
}
