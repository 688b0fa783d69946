import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { PkiTemplatesTable } from '../schema.ts';
import type { NewPkiTemplate, PkiTemplate, PkiTemplateRepository } from '../types.ts';
import type { RepositoryContext } from './context.ts';

function toTemplate(row: Selectable<PkiTemplatesTable>): PkiTemplate {
  return {
    name: row.name,
    subject: row.subject,
    sanEmail: row.san_email,
    sanUpn: row.san_upn,
    keySize: row.key_size,
    days: row.days,
    renewDays: row.renew_days,
    challenge: row.challenge,
    challengeSecretEnc: row.challenge_secret_enc,
    revokeOnUnenrol: row.revoke_on_unenrol === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function pkiTemplateRepository({ db, now }: RepositoryContext) {
  return {
    async create(template: NewPkiTemplate): Promise<PkiTemplate> {
      const at = now();
      const row = await conflictAs(`Template ${template.name} exists already`, () =>
        db
          .insertInto('pki_templates')
          .values({
            name: template.name,
            subject: template.subject,
            san_email: template.sanEmail,
            san_upn: template.sanUpn,
            key_size: template.keySize,
            days: template.days,
            renew_days: template.renewDays,
            challenge: template.challenge,
            challenge_secret_enc: template.challengeSecretEnc,
            revoke_on_unenrol: template.revokeOnUnenrol ? 1 : 0,
            created_at: at,
            updated_at: at,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toTemplate(row);
    },

    async get(name: string): Promise<PkiTemplate | undefined> {
      const row = await db
        .selectFrom('pki_templates')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return row && toTemplate(row);
    },

    async list(): Promise<PkiTemplate[]> {
      return (await db.selectFrom('pki_templates').selectAll().orderBy('name').execute()).map(toTemplate);
    },
  } satisfies PkiTemplateRepository;
}
