/**
 * The CA certificates: created on the first start (a root and an issuing CA below it), loaded
 * with their keys opened from the master key on every start. A CA key is sealed with
 * `master.seal(pkcs8, 'pki-ca-key', authorityId)`, so the database alone never holds it in clear
 * and a sealed key moved to another row does not open.
 */
import { createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import { type NewPkiAuthority, type PkiAuthority, type Store, StoreConflictError } from '../store/index.ts';
import { generateRsaKey, pkcs8Der, type SigningKey, signingKey, spkiDer } from './keys.ts';
import { buildName } from './names.ts';
import { newSerial } from './serial.ts';
import type { PkiSettings } from './settings.ts';
import type { PkiUrls } from './urls.ts';
import { arrayBuffer, sha256Hex, x509 } from './x509.ts';

export const CA_KEY_PURPOSE = 'pki-ca-key';
const DAY = 86_400_000;
const CN = '2.5.4.3';

/** A CA as the rest of the module uses it: record, parsed certificate and (if held) its key. */
export interface LoadedAuthority {
  readonly record: PkiAuthority;
  readonly id: string;
  readonly der: Buffer;
  readonly certificate: x509.X509Certificate;
  /** Subject key identifier (hex): what the AKI of everything it signs names. */
  readonly keyId: string;
  readonly privateKey: KeyObject | undefined;
  readonly signer: SigningKey | undefined;
}

export function newAuthorityId(): string {
  return randomBytes(8).toString('hex');
}

export function sealCaKey(master: MasterKey, privateKey: KeyObject, authorityId: string): string {
  return master.seal(pkcs8Der(privateKey), CA_KEY_PURPOSE, authorityId);
}

/** The key identifier a CA's certificates carry: its SKI, or the RFC 5280 §4.2.1.2 (1) hash. */
export async function keyIdentifier(certificate: x509.X509Certificate): Promise<string> {
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return ski.keyId;
  return Buffer.from(await certificate.publicKey.getKeyIdentifier()).toString('hex');
}

export async function loadAuthority(record: PkiAuthority, master: MasterKey): Promise<LoadedAuthority> {
  const certificate = new x509.X509Certificate(arrayBuffer(record.certificateDer));
  let privateKey: KeyObject | undefined;
  let signer: SigningKey | undefined;
  if (record.privateKeyEnc !== null) {
    const pkcs8 = master.open(record.privateKeyEnc, CA_KEY_PURPOSE, record.id);
    privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    pkcs8.fill(0);
    signer = await signingKey(privateKey);
  }
  return {
    record,
    id: record.id,
    der: record.certificateDer,
    certificate,
    keyId: await keyIdentifier(certificate),
    privateKey,
    signer,
  };
}

export function authorityRecord(
  id: string,
  role: PkiAuthority['role'],
  certificate: x509.X509Certificate,
  privateKeyEnc: string | null,
  issuerId: string | null,
  active: boolean,
): NewPkiAuthority {
  const der = Buffer.from(certificate.rawData);
  return {
    id,
    role,
    subject: certificate.subject,
    fingerprint: sha256Hex(der),
    certificateDer: der,
    privateKeyEnc,
    issuerId,
    active,
    notBefore: certificate.notBefore.getTime(),
    notAfter: certificate.notAfter.getTime(),
  };
}

export interface CreateOptions {
  store: Store;
  master: MasterKey;
  urls: PkiUrls;
  settings: PkiSettings;
  now: () => number;
  logger: Logger;
}

/**
 * First start: a root (`CN=Herald Root CA`) and an issuing CA (pathLen 0) signed by it, stored
 * as the active pair in one transaction. @returns false when another node stored its pair first
 * (the partial unique index on active roles refused ours); the caller then loads that one.
 */
export async function createAuthorities(options: CreateOptions): Promise<boolean> {
  const { settings, urls, master } = options;
  const [rootKey, issuingKey] = await Promise.all([
    generateRsaKey(settings.rootKeyBits),
    generateRsaKey(settings.issuingKeyBits),
  ]);
  const notBefore = new Date(options.now() - settings.backdateMinutes * 60_000);
  const rootId = newAuthorityId();
  const issuingId = newAuthorityId();

  const rootSigner = await signingKey(rootKey);
  const rootSpki = arrayBuffer(spkiDer(rootKey));
  const rootName = buildName([{ oid: CN, value: settings.rootCommonName, newRdn: true }]);
  const root = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: rootName,
    issuer: rootName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + settings.rootDays * DAY),
    publicKey: rootSpki,
    signingKey: rootSigner.key,
    signingAlgorithm: rootSigner.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootSpki),
    ],
  });

  const issuingSpki = arrayBuffer(spkiDer(issuingKey));
  const issuing = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: buildName([{ oid: CN, value: settings.issuingCommonName, newRdn: true }]),
    issuer: root.subjectName,
    notBefore,
    notAfter: new Date(Math.min(notBefore.getTime() + settings.issuingDays * DAY, root.notAfter.getTime())),
    publicKey: issuingSpki,
    signingKey: rootSigner.key,
    signingAlgorithm: rootSigner.algorithm,
    extensions: [
      // pathLen 0: it issues end-entity certificates only.
      new x509.BasicConstraintsExtension(true, 0, true),
      // keyEncipherment and digitalSignature besides the CA bits: SCEP clients encrypt their
      // requests to this certificate and verify CertReps signed with its key (RFC 8894 §2.2).
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(issuingSpki),
      new x509.AuthorityKeyIdentifierExtension(await keyIdentifier(root)),
      new x509.CRLDistributionPointsExtension([urls.crl(rootId)]),
      new x509.AuthorityInfoAccessExtension({ caIssuers: urls.caCertificate(rootId) }),
    ],
  });

  try {
    await options.store.transaction(async (tx) => {
      await tx.pki.authorities.insert(
        authorityRecord(rootId, 'root', root, sealCaKey(master, rootKey, rootId), null, true),
      );
      await tx.pki.authorities.insert(
        authorityRecord(
          issuingId,
          'issuing',
          issuing,
          sealCaKey(master, issuingKey, issuingId),
          rootId,
          true,
        ),
      );
    });
  } catch (error) {
    if (error instanceof StoreConflictError) return false;
    throw error;
  }
  options.logger.info(
    { rootId, issuingId, root: root.subject, issuing: issuing.subject },
    'pki: created the root and issuing CA (first start); their keys are sealed under the master key',
  );
  return true;
}
