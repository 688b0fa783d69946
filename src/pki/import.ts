/**
 * Importing an existing CA instead of the one Herald creates: the issuing CA with its private key
 * and the root that signed it (its key optional), from PEM or PKCS #12. Two tiers at most (a
 * self-signed CA alone is accepted too). The imported CAs become the active ones; CAs active
 * before stay in the store, inactive, and keep publishing CRLs for what they issued.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import type { PkiAuthority, PkiAuthorityRole, Store, TransactionScope } from '../store/index.ts';
import { authorityRecord, newAuthorityId, sealCaKey } from './authorities.ts';
import { PkiError } from './errors.ts';
import { signingKey, spkiDer } from './keys.ts';
import { parsePkcs12 } from './pkcs12.ts';
import { arrayBuffer, pemBlocks, sha256Hex, x509 } from './x509.ts';

export type AuthoritySource =
  /** Certificates and a private key (PKCS #8, PKCS #1 or SEC 1; encrypted with `passphrase`). */
  { pem: string; passphrase?: string } | { pkcs12: Buffer; passphrase: string };

export interface ImportOptions {
  store: Store;
  master: MasterKey;
  now: () => number;
  logger: Logger;
}

export interface ImportResult {
  issuing: PkiAuthority;
  /** Undefined when the issuing CA is self-signed. */
  root: PkiAuthority | undefined;
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']);

function failed(message: string, cause?: unknown): PkiError {
  return new PkiError('pki_import_failed', message, { cause });
}

interface Material {
  certificates: x509.X509Certificate[];
  keys: KeyObject[];
}

async function material(source: AuthoritySource): Promise<Material> {
  let certificateDers: Buffer[];
  let keys: KeyObject[];
  try {
    if ('pkcs12' in source) {
      const parsed = await parsePkcs12(source.pkcs12, source.passphrase);
      certificateDers = parsed.certificates;
      keys = parsed.keys.map((der) => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
    } else {
      const blocks = pemBlocks(source.pem);
      certificateDers = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
      keys = blocks
        .filter((b) => KEY_LABELS.has(b.label))
        .map((b) => {
          // node:crypto reads every PEM key form; hand it the block as PEM text again.
          const pem = b.der.includes('-----BEGIN') ? b.der.toString('utf8') : pemOf(b.der, b.label);
          return createPrivateKey({ key: pem, format: 'pem', passphrase: source.passphrase });
        });
    }
  } catch (error) {
    if (error instanceof PkiError) throw error;
    throw failed('the certificates or the key could not be read (wrong passphrase?)', error);
  }
  const certificates = certificateDers.map((der) => {
    try {
      return new x509.X509Certificate(arrayBuffer(der));
    } catch (error) {
      throw failed('a certificate could not be read', error);
    }
  });
  return { certificates, keys };
}

function pemOf(der: Buffer, label: string): string {
  const body = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function isCa(certificate: x509.X509Certificate): boolean {
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca !== true) return false;
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  return usage === null || (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

function keyFor(certificate: x509.X509Certificate, keys: readonly KeyObject[]): KeyObject | undefined {
  const spki = Buffer.from(certificate.publicKey.rawData);
  return keys.find((key) => spkiDer(key).equals(spki));
}

async function issuerOf(
  certificate: x509.X509Certificate,
  candidates: readonly x509.X509Certificate[],
): Promise<x509.X509Certificate | undefined> {
  for (const candidate of candidates) {
    if (candidate === certificate || candidate.subject !== certificate.issuer) continue;
    if (await certificate.verify({ publicKey: candidate.publicKey, signatureOnly: true })) return candidate;
  }
  return undefined;
}

async function place(
  tx: TransactionScope,
  master: MasterKey,
  role: PkiAuthorityRole,
  certificate: x509.X509Certificate,
  key: KeyObject | undefined,
  issuerId: string | null,
): Promise<PkiAuthority> {
  const existing = await tx.pki.authorities.findByFingerprint(sha256Hex(Buffer.from(certificate.rawData)));
  await tx.pki.authorities.deactivate(role);
  if (existing !== undefined) {
    if (existing.role !== role) {
      throw failed(`${certificate.subject} is in the store already as the ${existing.role} CA`);
    }
    await tx.pki.authorities.activate(existing.id);
    return { ...existing, active: true };
  }
  const id = newAuthorityId();
  const sealed = key === undefined ? null : sealCaKey(master, key, id);
  return tx.pki.authorities.insert(authorityRecord(id, role, certificate, sealed, issuerId, true));
}

export async function importAuthority(
  options: ImportOptions,
  source: AuthoritySource,
): Promise<ImportResult> {
  const { certificates, keys } = await material(source);
  const keyed = certificates.filter((c) => isCa(c) && keyFor(c, keys) !== undefined);
  if (keyed.length === 0) {
    throw failed('no CA certificate with its private key was found: the issuing CA needs its key');
  }
  // The issuing CA is the keyed CA that signed no other keyed CA in the bundle.
  const leaves: x509.X509Certificate[] = [];
  for (const candidate of keyed) {
    const signsAnother = await Promise.all(
      keyed
        .filter((other) => other !== candidate)
        .map(async (other) => (await issuerOf(other, [candidate])) !== undefined),
    );
    if (!signsAnother.includes(true)) leaves.push(candidate);
  }
  if (leaves.length !== 1)
    throw failed('the bundle holds several unrelated CAs with keys; import one at a time');
  const issuing = leaves[0]!;
  const now = options.now();
  if (now >= issuing.notAfter.getTime())
    throw failed(`${issuing.subject} expired on ${issuing.notAfter.toISOString()}`);
  const issuingKey = keyFor(issuing, keys)!;
  await signingKey(issuingKey);

  const selfSigned = issuing.subject === issuing.issuer && (await issuing.verify({ signatureOnly: true }));
  let root: x509.X509Certificate | undefined;
  if (!selfSigned) {
    root = await issuerOf(issuing, certificates);
    if (root === undefined)
      throw failed(`the bundle lacks the CA certificate that issued ${issuing.subject}`);
    if (!(root.subject === root.issuer && (await root.verify({ signatureOnly: true })))) {
      throw failed(
        `${root.subject} is not a self-signed root: Herald imports two tiers (root and issuing CA) at most`,
      );
    }
    if (!isCa(root)) throw failed(`${root.subject} is not a CA certificate`);
  }
  const rootKey = root === undefined ? undefined : keyFor(root, keys);

  const result = await options.store.transaction(async (tx) => {
    const rootRecord =
      root === undefined ? undefined : await place(tx, options.master, 'root', root, rootKey, null);
    if (root === undefined) await tx.pki.authorities.deactivate('root');
    const issuingRecord = await place(
      tx,
      options.master,
      'issuing',
      issuing,
      issuingKey,
      rootRecord?.id ?? null,
    );
    return { issuing: issuingRecord, root: rootRecord };
  });
  options.logger.info(
    { issuingId: result.issuing.id, rootId: result.root?.id ?? null, rootKey: rootKey !== undefined },
    'pki: imported a CA; it is now the active issuing CA',
  );
  return result;
}
