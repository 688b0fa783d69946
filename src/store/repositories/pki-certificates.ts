import type { Selectable } from 'kysely';
import { conflictAs } from '../errors.ts';
import type { PkiCertificatesTable } from '../schema.ts';
import type {
  NewPkiCertificate,
  PkiCertificate,
  PkiCertificateFilter,
  PkiCertificateRepository,
  PkiRevokedEntry,
} from '../types.ts';
import type { RepositoryContext } from './context.ts';
import { asBuffer } from './pki-bytes.ts';

function toCertificate(row: Selectable<PkiCertificatesTable>): PkiCertificate {
  return {
    serial: row.serial,
    authorityId: row.authority_id,
    template: row.template,
    subject: row.subject,
    sanEmail: row.san_email,
    sanUpn: row.san_upn,
    notBefore: row.not_before,
    notAfter: row.not_after,
    status: row.status,
    revokedAt: row.revoked_at,
    revocationReason: row.revocation_reason,
    registrationId: row.registration_id,
    transactionId: row.transaction_id,
    certificateDer: asBuffer(row.certificate),
    createdAt: row.created_at,
  };
}

export function pkiCertificateRepository({ db, now }: RepositoryContext) {
  return {
    async insert(certificate: NewPkiCertificate): Promise<PkiCertificate> {
      const row = await conflictAs(`Certificate ${certificate.serial} exists already`, () =>
        db
          .insertInto('pki_certificates')
          .values({
            serial: certificate.serial,
            authority_id: certificate.authorityId,
            template: certificate.template,
            subject: certificate.subject,
            san_email: certificate.sanEmail,
            san_upn: certificate.sanUpn,
            not_before: certificate.notBefore,
            not_after: certificate.notAfter,
            status: 'issued',
            revoked_at: null,
            revocation_reason: null,
            registration_id: certificate.registrationId,
            transaction_id: certificate.transactionId,
            certificate: certificate.certificateDer,
            created_at: now(),
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      );
      return toCertificate(row);
    },

    async get(serial: string): Promise<PkiCertificate | undefined> {
      const row = await db
        .selectFrom('pki_certificates')
        .selectAll()
        .where('serial', '=', serial)
        .executeTakeFirst();
      return row && toCertificate(row);
    },

    async findByTransaction(transactionId: string): Promise<PkiCertificate | undefined> {
      const row = await db
        .selectFrom('pki_certificates')
        .selectAll()
        .where('transaction_id', '=', transactionId)
        .orderBy('created_at', 'desc')
        .orderBy('serial', 'desc')
        .limit(1)
        .executeTakeFirst();
      return row && toCertificate(row);
    },

    async list(filter: PkiCertificateFilter): Promise<PkiCertificate[]> {
      let query = db.selectFrom('pki_certificates').selectAll();
      if (filter.authorityId !== undefined) query = query.where('authority_id', '=', filter.authorityId);
      if (filter.status !== undefined) query = query.where('status', '=', filter.status);
      if (filter.template !== undefined) query = query.where('template', '=', filter.template);
      if (filter.registrationId !== undefined) {
        query = query.where('registration_id', '=', filter.registrationId);
      }
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('serial', 'desc')
        .limit(filter.limit)
        .execute();
      return rows.map(toCertificate);
    },

    async revoke(serial: string, reason: string, at: number): Promise<PkiCertificate | undefined> {
      // Compare-and-set on the status: of two concurrent revocations one changes the row; the
      // other sees none and the caller reports "revoked already" with the first one's reason.
      const row = await db
        .updateTable('pki_certificates')
        .set({ status: 'revoked', revoked_at: at, revocation_reason: reason })
        .where('serial', '=', serial)
        .where('status', '=', 'issued')
        .returningAll()
        .executeTakeFirst();
      return row && toCertificate(row);
    },

    async revoked(
      authorityId: string,
      options: { notExpiredAt: number; revokedSince?: number },
    ): Promise<PkiRevokedEntry[]> {
      let query = db
        .selectFrom('pki_certificates')
        .select(['serial', 'revoked_at', 'revocation_reason'])
        .where('authority_id', '=', authorityId)
        .where('status', '=', 'revoked')
        .where('not_after', '>', options.notExpiredAt);
      if (options.revokedSince !== undefined) query = query.where('revoked_at', '>=', options.revokedSince);
      const rows = await query.orderBy('serial').execute();
      return rows.map((row) => ({
        serial: row.serial,
        // Set together with status = 'revoked' by revoke().
        revokedAt: row.revoked_at ?? 0,
        revocationReason: row.revocation_reason,
      }));
    },
  } satisfies PkiCertificateRepository;
}
