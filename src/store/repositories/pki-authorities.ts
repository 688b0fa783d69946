import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { PkiAuthoritiesTable } from '../schema.ts';
import type { NewPkiAuthority, PkiAuthority, PkiAuthorityRepository, PkiAuthorityRole } from '../types.ts';
import type { RepositoryContext } from './context.ts';
import { asBuffer } from './pki-bytes.ts';

function toAuthority(row: Selectable<PkiAuthoritiesTable>): PkiAuthority {
  return {
    id: row.id,
    role: row.role,
    subject: row.subject,
    fingerprint: row.fingerprint,
    certificateDer: asBuffer(row.certificate),
    privateKeyEnc: row.private_key_enc,
    issuerId: row.issuer_id,
    active: row.active === 1,
    notBefore: row.not_before,
    notAfter: row.not_after,
    createdAt: row.created_at,
  };
}

export function pkiAuthorityRepository({ db, now }: RepositoryContext) {
  return {
    async insert(authority: NewPkiAuthority): Promise<PkiAuthority> {
      const row = await conflictAs(
        `CA ${authority.subject} exists already, or its role ${authority.role} has an active CA`,
        () =>
          db
            .insertInto('pki_authorities')
            .values({
              id: authority.id,
              role: authority.role,
              subject: authority.subject,
              fingerprint: authority.fingerprint,
              certificate: authority.certificateDer,
              private_key_enc: authority.privateKeyEnc,
              issuer_id: authority.issuerId,
              active: authority.active ? 1 : 0,
              not_before: authority.notBefore,
              not_after: authority.notAfter,
              created_at: now(),
            })
            .returningAll()
            .executeTakeFirstOrThrow(),
      );
      return toAuthority(row);
    },

    async get(id: string): Promise<PkiAuthority | undefined> {
      const row = await db.selectFrom('pki_authorities').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toAuthority(row);
    },

    async findByFingerprint(fingerprint: string): Promise<PkiAuthority | undefined> {
      const row = await db
        .selectFrom('pki_authorities')
        .selectAll()
        .where('fingerprint', '=', fingerprint)
        .executeTakeFirst();
      return row && toAuthority(row);
    },

    async active(role: PkiAuthorityRole): Promise<PkiAuthority | undefined> {
      const row = await db
        .selectFrom('pki_authorities')
        .selectAll()
        .where('role', '=', role)
        .where('active', '=', 1)
        .executeTakeFirst();
      return row && toAuthority(row);
    },

    async list(): Promise<PkiAuthority[]> {
      const rows = await db
        .selectFrom('pki_authorities')
        .selectAll()
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toAuthority);
    },

    async deactivate(role: PkiAuthorityRole): Promise<boolean> {
      const result = await db
        .updateTable('pki_authorities')
        .set({ active: 0 })
        .where('role', '=', role)
        .where('active', '=', 1)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async activate(id: string): Promise<boolean> {
      const result = await conflictAs(`Another CA of this role is active`, () =>
        db.updateTable('pki_authorities').set({ active: 1 }).where('id', '=', id).executeTakeFirst(),
      );
      return result.numUpdatedRows > 0n;
    },
  } satisfies PkiAuthorityRepository;
}
