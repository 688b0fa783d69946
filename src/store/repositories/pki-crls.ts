import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { PkiCrlsTable } from '../schema.ts';
import type { NewPkiCrl, PkiCrl, PkiCrlKind, PkiCrlRepository } from '../types.ts';
import type { RepositoryContext } from './context.ts';
import { asBuffer } from './pki-bytes.ts';

function toCrl(row: Selectable<PkiCrlsTable>): PkiCrl {
  return {
    authorityId: row.authority_id,
    number: row.crl_number,
    kind: row.kind,
    baseNumber: row.base_number,
    thisUpdate: row.this_update,
    nextUpdate: row.next_update,
    der: asBuffer(row.der),
    createdAt: row.created_at,
  };
}

export function pkiCrlRepository({ db, now }: RepositoryContext) {
  return {
    async insert(crl: NewPkiCrl): Promise<PkiCrl> {
      const row = await conflictAs(`CRL number ${crl.number} of CA ${crl.authorityId} exists already`, () =>
        db
          .insertInto('pki_crls')
          .values({
            authority_id: crl.authorityId,
            crl_number: crl.number,
            kind: crl.kind,
            base_number: crl.baseNumber,
            this_update: crl.thisUpdate,
            next_update: crl.nextUpdate,
            der: crl.der,
            created_at: now(),
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toCrl(row);
    },

    async latest(authorityId: string, kind: PkiCrlKind): Promise<PkiCrl | undefined> {
      const row = await db
        .selectFrom('pki_crls')
        .selectAll()
        .where('authority_id', '=', authorityId)
        .where('kind', '=', kind)
        .orderBy('crl_number', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row && toCrl(row);
    },

    async lastNumber(authorityId: string): Promise<number> {
      const row = await db
        .selectFrom('pki_crls')
        .select((eb) => eb.fn.max('crl_number').as('last'))
        .where('authority_id', '=', authorityId)
        .executeTakeFirst();
      // max() of an int8 column: a number on SQLite, parsed from int8 on PostgreSQL.
      return row?.last == null ? 0 : Number(row.last);
    },

    async prune(authorityId: string, belowNumber: number): Promise<number> {
      const result = await db
        .deleteFrom('pki_crls')
        .where('authority_id', '=', authorityId)
        .where('crl_number', '<', belowNumber)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  } satisfies PkiCrlRepository;
}
