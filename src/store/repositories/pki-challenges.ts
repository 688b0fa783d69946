import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { PkiChallengesTable } from '../schema.ts';
import type { NewPkiChallenge, PkiChallenge, PkiChallengeRepository, PkiLookupValues } from '../types.ts';
import type { RepositoryContext } from './context.ts';

function toChallenge(row: Selectable<PkiChallengesTable>): PkiChallenge {
  return {
    hash: row.hash,
    template: row.template,
    lookupValues: JSON.parse(row.lookup_values) as PkiLookupValues,
    registrationId: row.registration_id,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    createdAt: row.created_at,
  };
}

export function pkiChallengeRepository({ db, now }: RepositoryContext) {
  return {
    async insert(challenge: NewPkiChallenge): Promise<PkiChallenge> {
      const row = await conflictAs('This challenge exists already', () =>
        db
          .insertInto('pki_challenges')
          .values({
            hash: challenge.hash,
            template: challenge.template,
            lookup_values: JSON.stringify(challenge.lookupValues),
            registration_id: challenge.registrationId,
            expires_at: challenge.expiresAt,
            used_at: null,
            created_at: now(),
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toChallenge(row);
    },

    async get(hash: string): Promise<PkiChallenge | undefined> {
      const row = await db
        .selectFrom('pki_challenges')
        .selectAll()
        .where('hash', '=', hash)
        .executeTakeFirst();
      return row && toChallenge(row);
    },

    async consume(hash: string, at: number): Promise<PkiChallenge | undefined> {
      // One conditional UPDATE: on PostgreSQL a concurrent consumer blocks on the row lock, then
      // re-evaluates `used_at is null` against the committed row and changes nothing; SQLite
      // serializes writers. Either way exactly one caller gets the row back.
      const row = await db
        .updateTable('pki_challenges')
        .set({ used_at: at })
        .where('hash', '=', hash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', at)
        .returningAll()
        .executeTakeFirst();
      return row && toChallenge(row);
    },

    async deleteExpired(before: number): Promise<number> {
      const result = await db
        .deleteFrom('pki_challenges')
        .where('expires_at', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  } satisfies PkiChallengeRepository;
}
