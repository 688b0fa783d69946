/**
 * `herald ca ...`: the certificate authority from the command line (operator.md, "Certificate
 * authority"), straight on the database and master key named by the configuration, so no
 * running server is needed; a running `herald serve` sees the result at once (its CRL routes
 * read the store). The first command that needs the CA creates it, as the admin API would.
 * `--json` prints what the PKI admin API answers (docs/pki.md).
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { HeraldError } from '../errors/index.ts';
import {
  certificateJson,
  certificateWithPem,
  challengeValues,
  crlJson,
  templateJson,
} from '../http/index.ts';
import { createLogger } from '../log/index.ts';
import {
  type CertificateAuthority,
  type CertificateTemplate,
  type IssuedCertificate,
  importAuthority,
  KEY_SIZES,
  type PkiCrl,
  PkiError,
  REVOCATION_REASONS,
} from '../pki/index.ts';
import { pkiSettingsFrom, ServedCertificateAuthority } from '../service/certificate-authority.ts';
import { openData } from '../service/notification-service.ts';
import { configFrom, positiveInteger, printJson, table, withConfigOption } from './common.ts';

interface ConfigOption {
  config?: string;
}

/**
 * Runs `fn` on the CA, creating it first if there is none; with `none`, a command that only
 * reads answers that instead, and no CA is created by looking.
 */
async function withCa<T>(
  options: ConfigOption,
  fn: (ca: CertificateAuthority) => Promise<T>,
  none?: () => T,
): Promise<T> {
  const config = configFrom(options);
  const logger = createLogger({ level: 'warn', destination: process.stderr });
  const { store, master } = await openData(config, logger);
  try {
    const served = new ServedCertificateAuthority({
      store,
      master,
      publicUrl: config.publicUrl,
      logger,
      settings: pkiSettingsFrom(config.pki),
    });
    if ((await served.existing()) === undefined) {
      if (none) return none();
      process.stderr.write(
        `herald: creating the certificate authority (root RSA ${config.pki.rootKeyBits}, issuing RSA ${config.pki.issuingKeyBits}); this is done once\n`,
      );
    }
    return await fn(await served.get());
  } finally {
    await store.close();
  }
}

function keySize(value: string): number {
  const n = Number(value);
  if (!(KEY_SIZES as readonly number[]).includes(n)) {
    throw new InvalidArgumentError(`must be one of ${KEY_SIZES.join(', ')}`);
  }
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('must be a whole number');
  return n;
}

/** ISO 8601 to the second, `-` for none. */
function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatTemplates(templates: readonly CertificateTemplate[]): string {
  if (templates.length === 0) return 'No certificate templates: add one with herald ca template add.';
  return table(
    ['NAME', 'CHALLENGE', 'KEY', 'DAYS', 'RENEW', 'REVOKE ON UNENROL', 'SUBJECT', 'SAN EMAIL', 'SAN UPN'],
    templates.map((t) => [
      t.name,
      t.challenge,
      String(t.keySize),
      String(t.days),
      String(t.renewDays),
      t.revokeOnUnenrol ? 'yes' : 'no',
      t.subject,
      t.sanEmail ?? '-',
      t.sanUpn ?? '-',
    ]),
  );
}

export function formatCertificates(certificates: readonly IssuedCertificate[]): string {
  if (certificates.length === 0) return 'No certificates match.';
  return table(
    ['SERIAL', 'STATUS', 'TEMPLATE', 'NOT AFTER', 'REVOKED', 'SUBJECT'],
    certificates.map((c) => [
      c.serial,
      c.status,
      c.template ?? '-',
      when(c.notAfter),
      c.revokedAt === null ? '-' : `${when(c.revokedAt)} ${c.revocationReason ?? ''}`.trim(),
      c.subject,
    ]),
  );
}

function formatCrls(crls: readonly PkiCrl[]): string {
  return table(
    ['AUTHORITY', 'KIND', 'NUMBER', 'THIS UPDATE', 'NEXT UPDATE'],
    crls.map((c) => [c.authorityId, c.kind, String(c.number), when(c.thisUpdate), when(c.nextUpdate)]),
  );
}

interface ValueOptions {
  user?: string;
  email?: string;
  deviceUid?: string;
  enrollmentUser?: string;
}

function valueOptions(command: Command): Command {
  return command
    .option('--user <upn>', 'UserPrincipalName (and EnrollmentUser unless --enrollment-user)')
    .option('--email <address>', 'EmailAddress')
    .option('--device-uid <id>', 'DeviceUid')
    .option('--enrollment-user <name>', 'EnrollmentUser');
}

function addTemplateCommands(ca: Command): void {
  const template = ca.command('template').description('certificate templates');

  withConfigOption(template.command('add <name>'))
    .description('add a template: subject and SANs with {placeholders}, key size, validity, challenge')
    .requiredOption('--subject <dn>', 'subject template, e.g. "CN={DeviceUid},O=Contoso"')
    .option('--san-email <template>', 'email SAN, e.g. "{EmailAddress}"')
    .option('--san-upn <template>', 'UPN SAN, e.g. "{UserPrincipalName}"')
    .option('--key-size <bits>', `least RSA key size: ${KEY_SIZES.join(', ')} (default 2048)`, keySize)
    .option('--days <n>', 'validity in days, 1..3650 (default 365)', positiveInteger)
    .option('--renew-days <n>', 'renewal period before expiry, in days (default 30)', wholeNumber)
    .option('--challenge <mode>', 'dynamic (one-time challenges, default) or static:SECRET')
    .option('--no-revoke-on-unenrol', 'keep certificates valid when their device unenrols')
    .action(
      async (
        name: string,
        options: ConfigOption & {
          subject: string;
          sanEmail?: string;
          sanUpn?: string;
          keySize?: number;
          days?: number;
          renewDays?: number;
          challenge?: string;
          revokeOnUnenrol: boolean;
        },
      ) => {
        const added = await withCa(options, (authority) =>
          authority.addTemplate({
            name,
            subject: options.subject,
            revokeOnUnenrol: options.revokeOnUnenrol,
            ...(options.sanEmail === undefined ? {} : { sanEmail: options.sanEmail }),
            ...(options.sanUpn === undefined ? {} : { sanUpn: options.sanUpn }),
            ...(options.keySize === undefined ? {} : { keySize: options.keySize }),
            ...(options.days === undefined ? {} : { days: options.days }),
            ...(options.renewDays === undefined ? {} : { renewDays: options.renewDays }),
            ...(options.challenge === undefined ? {} : { challenge: options.challenge }),
          }),
        );
        printJson(templateJson(added));
      },
    );

  withConfigOption(template.command('list'))
    .description('list the templates')
    .option('--json', 'print JSON, as the admin API answers')
    .action(async (options: ConfigOption & { json?: boolean }) => {
      const templates = await withCa(
        options,
        (authority) => authority.listTemplates(),
        () => [],
      );
      if (options.json) printJson({ templates: templates.map(templateJson) });
      else process.stdout.write(`${formatTemplates(templates)}\n`);
    });
}

export function caCommand(): Command {
  const ca = new Command('ca').description(
    'the certificate authority: templates, SCEP challenges, issuing, revoking, CRLs (docs/pki.md)',
  );
  addTemplateCommands(ca);

  valueOptions(withConfigOption(ca.command('challenge')))
    .description('a one-time SCEP challenge (valid pki.challengeMinutes, single use), as NDES mscep_admin')
    .requiredOption('--template <name>', 'a template with a dynamic challenge')
    .option('--registration <id>', 'the device registration the certificate belongs to (revoked on unenrol)')
    .option('--json', 'print JSON, as the admin API answers')
    .action(
      async (
        options: ConfigOption & ValueOptions & { template: string; registration?: string; json?: boolean },
      ) => {
        const created = await withCa(options, (authority) =>
          authority.createChallenge({
            template: options.template,
            values: challengeValues(options),
            ...(options.registration ? { registrationId: options.registration } : {}),
          }),
        );
        const expiresAt = new Date(created.expiresAt).toISOString();
        if (options.json) {
          printJson({ ...created, expiresAt });
          return;
        }
        process.stdout.write(`${created.challenge}\n`);
        process.stderr.write(
          `one-time challenge for template ${created.template}; expires at ${expiresAt}\n`,
        );
      },
    );

  valueOptions(withConfigOption(ca.command('issue')))
    .description('issue a certificate from a CSR (PEM printed), or with a generated key (PKCS #12 file)')
    .requiredOption('--template <name>', 'the certificate template')
    .addOption(new Option('--csr <file>', 'PKCS #10 request, PEM or DER').conflicts('generateKey'))
    .option('--generate-key', 'generate the key here and write key, certificate and chain as PKCS #12')
    .option('--out <file>', 'where to write: the .p12 with --generate-key, else the certificate PEM')
    .option('--passphrase <text>', 'of the .p12 (default: generated and printed)')
    .option('--registration <id>', 'the device registration the certificate belongs to')
    .action(
      async (
        options: ConfigOption &
          ValueOptions & {
            template: string;
            csr?: string;
            generateKey?: boolean;
            out?: string;
            passphrase?: string;
            registration?: string;
          },
      ) => {
        if ((options.csr === undefined) === (options.generateKey === undefined)) {
          throw new HeraldError('invalid_request', {
            message: 'give --csr FILE or --generate-key --out FILE.p12',
          });
        }
        const values = challengeValues(options);
        const registration = options.registration ? { registrationId: options.registration } : {};
        if (options.csr !== undefined) {
          const csr = await readFile(options.csr);
          const issued = await withCa(options, (authority) =>
            authority.issueFromCsr(csr, {
              template: options.template,
              // Without lookup values the CSR's subject and SANs are used: the operator vouches.
              ...(Object.keys(values).length > 0 ? { values } : { useCsrSubject: true }),
              ...registration,
            }),
          );
          const pem = certificateWithPem(issued).pem;
          if (options.out) writeFileSync(options.out, pem);
          else process.stdout.write(pem);
          process.stderr.write(`issued certificate ${issued.serial} (${issued.subject})\n`);
          return;
        }
        if (!options.out) {
          throw new HeraldError('invalid_request', { message: '--generate-key needs --out FILE.p12' });
        }
        const result = await withCa(options, (authority) =>
          authority.issueWithGeneratedKey({
            template: options.template,
            values,
            ...(options.passphrase ? { passphrase: options.passphrase } : {}),
            ...registration,
          }),
        );
        // The file holds a private key: readable by its owner only.
        writeFileSync(options.out, result.pkcs12, { mode: 0o600 });
        printJson({
          serial: result.certificate.serial,
          subject: result.certificate.subject,
          file: options.out,
          ...(options.passphrase ? {} : { passphrase: result.passphrase }),
        });
      },
    );

  withConfigOption(ca.command('revoke <serial>'))
    .description('revoke a certificate; a new delta CRL is published at once (herald ca crl for a full one)')
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 reason (default unspecified)').choices(
        Object.keys(REVOCATION_REASONS).filter((r) => r !== 'certificateHold' && r !== 'removeFromCRL'),
      ),
    )
    .option('--json', 'print JSON, as the admin API answers')
    .action(async (serial: string, options: ConfigOption & { reason?: string; json?: boolean }) => {
      const result = await withCa(
        options,
        (authority) => authority.revoke(serial, options.reason),
        () => {
          throw new PkiError('pki_certificate_not_found', 'there is no certificate authority yet');
        },
      );
      if (options.json) {
        printJson({ ...result, certificate: certificateJson(result.certificate) });
        return;
      }
      const c = result.certificate;
      if (result.alreadyRevoked) {
        process.stdout.write(
          `certificate ${c.serial} was revoked already (${when(c.revokedAt)}, ${c.revocationReason})\n`,
        );
      } else {
        process.stdout.write(
          `revoked certificate ${c.serial} (${c.revocationReason}); ${
            result.crlPublished ? 'a new delta CRL is published' : 'the CRL scheduler will publish it'
          }\n`,
        );
      }
    });

  withConfigOption(ca.command('list'))
    .description('list issued certificates, newest first')
    .addOption(new Option('--status <status>', 'only these').choices(['issued', 'revoked']))
    .option('--template <name>', 'only certificates of this template')
    .option('--registration <id>', 'only certificates of this registration')
    .option('--limit <n>', 'at most this many, 1..1000', positiveInteger, 100)
    .option('--json', 'print JSON, as the admin API answers')
    .action(
      async (
        options: ConfigOption & {
          status?: 'issued' | 'revoked';
          template?: string;
          registration?: string;
          limit: number;
          json?: boolean;
        },
      ) => {
        const list = await withCa(
          options,
          (authority) =>
            authority.list({
              limit: Math.min(options.limit, 1000),
              ...(options.status ? { status: options.status } : {}),
              ...(options.template ? { template: options.template } : {}),
              ...(options.registration ? { registrationId: options.registration } : {}),
            }),
          () => [],
        );
        if (options.json) printJson({ certificates: list.map(certificateJson) });
        else process.stdout.write(`${formatCertificates(list)}\n`);
      },
    );

  withConfigOption(ca.command('import'))
    .description(
      'use an existing CA (an enterprise issuing CA): its certificates and key from PEM or PKCS#12; it replaces the active one, which keeps publishing its CRLs',
    )
    .addOption(
      new Option(
        '--pem <file>',
        'certificates (issuing CA first, then its root) and the private key',
      ).conflicts('p12'),
    )
    .option('--p12 <file>', 'a PKCS#12 file with the key, the issuing CA and its root')
    .option(
      '--passphrase <text>',
      'of the key or the PKCS#12 file (visible to other local users: prefer --passphrase-file)',
    )
    .option('--passphrase-file <file>', 'a file whose first line is the passphrase')
    .option('--json', 'print JSON')
    .action(
      async (
        options: ConfigOption & {
          pem?: string;
          p12?: string;
          passphrase?: string;
          passphraseFile?: string;
          json?: boolean;
        },
      ) => {
        if (!options.pem === !options.p12) {
          throw new HeraldError('invalid_request', { message: 'give --pem FILE or --p12 FILE' });
        }
        const read = async (file: string) => {
          try {
            return await readFile(file);
          } catch (error) {
            throw new HeraldError('invalid_request', {
              message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`,
            });
          }
        };
        const passphrase =
          options.passphrase ??
          (options.passphraseFile
            ? (await read(options.passphraseFile)).toString('utf8').split(/\r?\n/)[0]
            : undefined);
        const source = options.pem
          ? { pem: (await read(options.pem)).toString('utf8'), ...(passphrase ? { passphrase } : {}) }
          : { pkcs12: await read(options.p12!), passphrase: passphrase ?? '' };
        const config = configFrom(options);
        const logger = createLogger({ level: 'warn', destination: process.stderr });
        const { store, master } = await openData(config, logger);
        try {
          // No CA is created first: an imported CA can be the first and only one.
          const result = await importAuthority({ store, master, now: Date.now, logger }, source);
          const summary = {
            issuing: { id: result.issuing.id, subject: result.issuing.subject },
            root: result.root ? { id: result.root.id, subject: result.root.subject } : null,
          };
          if (options.json) printJson(summary);
          else
            process.stdout.write(
              `imported issuing CA ${summary.issuing.subject} (${summary.issuing.id})${summary.root ? `, root ${summary.root.subject}` : ''}\n`,
            );
        } finally {
          await store.close();
        }
      },
    );

  withConfigOption(ca.command('crl'))
    .description('regenerate the full and delta CRLs now')
    .option('--json', 'print JSON, as the admin API answers')
    .action(async (options: ConfigOption & { json?: boolean }) => {
      const crls = await withCa(options, (authority) => authority.generateCrls({ full: true }));
      if (options.json) printJson({ crls: crls.map(crlJson) });
      else process.stdout.write(`${formatCrls(crls)}\n`);
    });

  return ca;
}
