/**
 * The trusted CAs (`gateway.trustedCaFiles`) as the CRL cache needs them: by subject name, to
 * verify a CRL's signature, and by key, to find which CA issued a client certificate. A CA is
 * identified by its key (SHA-256 of the SubjectPublicKeyInfo), so a re-issued CA certificate
 * with the same key is the same issuer, and a look-alike CA with the same name is not.
 */
import 'reflect-metadata';
import { createHash, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface TrustedCa {
  cert: X509Certificate;
  /** The same certificate for @peculiar/x509 (CRL signature verification). */
  peculiar: x509.X509Certificate;
  /** Subject DN in @peculiar/x509's format, comparable with a CRL's issuer. */
  subject: string;
  /** SHA-256 (hex) of the SubjectPublicKeyInfo. */
  keyId: string;
}

/** SHA-256 (hex) of a certificate's SubjectPublicKeyInfo. */
export function keyIdOf(cert: X509Certificate): string {
  return createHash('sha256')
    .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

const ISSUER_CACHE_LIMIT = 10_000;

export class TrustStore {
  readonly cas: readonly TrustedCa[];
  // fingerprint256 of a client certificate → its issuing CA (or null: none of ours).
  readonly #issuers = new Map<string, TrustedCa | null>();

  /** Each string is PEM text with one or more certificates (a CA file's content). */
  constructor(pems: readonly string[]) {
    const cas: TrustedCa[] = [];
    for (const pem of pems) {
      for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
        const cert = new X509Certificate(block);
        const peculiar = new x509.X509Certificate(cert.raw);
        cas.push({ cert, peculiar, subject: peculiar.subject, keyId: keyIdOf(cert) });
      }
    }
    this.cas = cas;
  }

  bySubject(subject: string): TrustedCa[] {
    return this.cas.filter((ca) => ca.subject === subject);
  }

  byKeyId(keyId: string): TrustedCa | undefined {
    return this.cas.find((ca) => ca.keyId === keyId);
  }

  /** The trusted CA whose key signed `cert` (name and signature checked), cached per certificate. */
  issuerOf(cert: X509Certificate): TrustedCa | undefined {
    const cached = this.#issuers.get(cert.fingerprint256);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.cas.find((ca) => cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey)) ?? null;
    if (this.#issuers.size >= ISSUER_CACHE_LIMIT) this.#issuers.clear();
    this.#issuers.set(cert.fingerprint256, found);
    return found ?? undefined;
  }
}
