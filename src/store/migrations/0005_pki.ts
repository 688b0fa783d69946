/**
 * The certificate authority (issue 7): its CA certificates with their sealed keys, certificate
 * templates, every certificate it issued, the CRLs it published and one-time SCEP challenges.
 *
 * DER values are binary columns (`blob` / `bytea`). Booleans are 0/1 integers, as the initial
 * schema planned. A partial unique index keeps one active authority per role, so two nodes
 * creating the CA on their first start at the same time cannot both win.
 */
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { type ColumnTypes, columnTypes, type DialectName } from './columns.ts';

async function up(db: Kysely<unknown>, t: ColumnTypes, dialect: DialectName): Promise<void> {
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  // CRL numbers share one sequence per CA with full and delta CRLs (RFC 5280 §5.2.3): int8.
  const int8 = dialect === 'postgres' ? 'bigint' : 'integer';

  await db.schema
    .createTable('pki_authorities')
    .addColumn('id', t.key, (c) => c.primaryKey())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    // sha-256 hex of the certificate: importing the same CA twice finds the first row.
    .addColumn('fingerprint', 'text', (c) => c.notNull().unique())
    .addColumn('certificate', bytes, (c) => c.notNull())
    // PKCS #8 sealed under the master key; null for a root imported without its key.
    .addColumn('private_key_enc', 'text')
    .addColumn('issuer_id', t.key, (c) => c.references('pki_authorities.id'))
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('not_before', t.epochMs, (c) => c.notNull())
    .addColumn('not_after', t.epochMs, (c) => c.notNull())
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('pki_authorities_active')
    .on('pki_authorities')
    .column('role')
    .unique()
    .where(sql.ref('active'), '=', 1)
    .execute();

  await db.schema
    .createTable('pki_templates')
    .addColumn('name', t.key, (c) => c.primaryKey())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('san_email', 'text')
    .addColumn('san_upn', 'text')
    .addColumn('key_size', 'integer', (c) => c.notNull())
    .addColumn('days', 'integer', (c) => c.notNull())
    .addColumn('renew_days', 'integer', (c) => c.notNull())
    .addColumn('challenge', 'text', (c) => c.notNull())
    .addColumn('challenge_secret_enc', 'text')
    .addColumn('revoke_on_unenrol', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .addColumn('updated_at', t.epochMs, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('pki_certificates')
    .addColumn('serial', t.key, (c) => c.primaryKey())
    .addColumn('authority_id', t.key, (c) => c.notNull().references('pki_authorities.id'))
    // History: the template's name as it was, not a foreign key.
    .addColumn('template', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('san_email', 'text')
    .addColumn('san_upn', 'text')
    .addColumn('not_before', t.epochMs, (c) => c.notNull())
    .addColumn('not_after', t.epochMs, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('revoked_at', t.epochMs)
    .addColumn('revocation_reason', 'text')
    // Not a foreign key: a certificate outlives its registration (revoke on unenrol needs it).
    .addColumn('registration_id', 'text')
    .addColumn('transaction_id', 'text')
    .addColumn('certificate', bytes, (c) => c.notNull())
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('pki_certificates_revoked')
    .on('pki_certificates')
    .columns(['authority_id', 'status', 'revoked_at'])
    .execute();
  await db.schema
    .createIndex('pki_certificates_registration')
    .on('pki_certificates')
    .column('registration_id')
    .execute();
  await db.schema
    .createIndex('pki_certificates_transaction')
    .on('pki_certificates')
    .column('transaction_id')
    .execute();
  await db.schema
    .createIndex('pki_certificates_created')
    .on('pki_certificates')
    .columns(['created_at', 'serial'])
    .execute();

  await db.schema
    .createTable('pki_crls')
    .addColumn('authority_id', t.key, (c) => c.notNull().references('pki_authorities.id'))
    .addColumn('crl_number', int8, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('base_number', int8)
    .addColumn('this_update', t.epochMs, (c) => c.notNull())
    .addColumn('next_update', t.epochMs, (c) => c.notNull())
    .addColumn('der', bytes, (c) => c.notNull())
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    // Two nodes numbering a CRL at once: one insert fails and that node reloads.
    .addPrimaryKeyConstraint('pki_crls_pk', ['authority_id', 'crl_number'])
    .execute();
  await db.schema
    .createIndex('pki_crls_latest')
    .on('pki_crls')
    .columns(['authority_id', 'kind', 'crl_number'])
    .execute();

  await db.schema
    .createTable('pki_challenges')
    // sha-256 hex of the one-time password; the password itself is never stored.
    .addColumn('hash', t.key, (c) => c.primaryKey())
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('lookup_values', 'text', (c) => c.notNull())
    .addColumn('registration_id', 'text')
    .addColumn('expires_at', t.epochMs, (c) => c.notNull())
    .addColumn('used_at', t.epochMs)
    .addColumn('created_at', t.epochMs, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('pki_challenges_expiry').on('pki_challenges').column('expires_at').execute();
}

async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'pki_challenges',
    'pki_crls',
    'pki_certificates',
    'pki_templates',
    'pki_authorities',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}

export function pki(dialect: DialectName): Migration {
  const t = columnTypes(dialect);
  return { up: (db) => up(db, t, dialect), down };
}
