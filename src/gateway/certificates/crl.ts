/**
 * One CRL, parsed and checked once when it arrives (RFC 5280 §5, §6.3.3): signature by a trusted
 * CA of the same name, no critical extension we cannot process, its CRL number, delta indicator,
 * scope (Issuing Distribution Point) and Freshest CRL pointers, and its revoked serials in a Map
 * so that a status lookup is a Map lookup. The time window is checked at lookup, not here.
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList, IssuingDistributionPoint } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { derInteger, distributionPointUrls, findExtension, OID, serialHex, sha256Hex, toDer } from './asn.ts';
import type { TrustStore } from './trust.ts';

/** CRLReason removeFromCRL (RFC 5280 §5.3.1): in a delta CRL, the certificate is no longer on hold. */
export const REMOVE_FROM_CRL = 8;

/** Which certificates a CRL speaks for (RFC 5280 §5.2.5). */
export interface CrlScope {
  /** The distribution point URLs of a partitioned CRL; `undefined`: all of the issuer's certificates. */
  urls: string[] | undefined;
  /** False for CRLs limited to CA or attribute certificates, to some reasons, or indirect ones. */
  coversEndEntities: boolean;
}

export interface LoadedCrl {
  der: Buffer;
  /** SHA-256 (hex) of the DER: content identity. */
  sha256: string;
  /** Issuer DN in @peculiar/x509's format. */
  issuer: string;
  /** Key id of the trusted CA whose key verified the signature. */
  signerKeyId: string;
  thisUpdate: number;
  nextUpdate: number | undefined;
  crlNumber: bigint | undefined;
  /** The Delta CRL Indicator (the base CRL number it applies to); present only on delta CRLs. */
  deltaBase: bigint | undefined;
  /** Where this (base) CRL's deltas are published. */
  freshestUrls: string[];
  scope: CrlScope;
  /** Serial (as OpenSSL prints it) → CRLReason code (0 when the entry has none). */
  revoked: Map<string, number>;
}

export type CrlProblem = 'malformed' | 'untrusted_issuer' | 'bad_signature' | 'unsupported_extension';

export class CrlError extends Error {
  readonly problem: CrlProblem;
  constructor(problem: CrlProblem, message: string) {
    super(message);
    this.name = 'CrlError';
    this.problem = problem;
  }
}

/** CRL extensions we understand, so they may be critical (RFC 5280 §5.2: others make it unusable). */
const KNOWN_CRL_EXTENSIONS = new Set([
  OID.crlNumber,
  OID.deltaCrlIndicator,
  OID.issuingDistributionPoint,
  OID.freshestCrl,
  '2.5.29.35', // authority key identifier
  '2.5.29.18', // issuer alternative name
  '1.3.6.1.5.5.7.1.1', // authority information access
]);
const KNOWN_ENTRY_EXTENSIONS = new Set([
  OID.reasonCode,
  '2.5.29.24', // invalidity date
  '2.5.29.23', // hold instruction code
]);

/** Parses a CRL (DER or PEM) and verifies it against the trusted CAs; throws {@link CrlError}. */
export async function loadCrl(body: Uint8Array, trust: TrustStore): Promise<LoadedCrl> {
  let der: Buffer;
  let asn: CertificateList;
  try {
    der = toDer(body, ['X509 CRL', 'CRL']);
    asn = AsnConvert.parse(der, CertificateList);
  } catch {
    throw new CrlError('malformed', 'not a CRL (DER or PEM)');
  }
  const tbs = asn.tbsCertList;
  const crlExtensions = tbs.crlExtensions ?? [];
  for (const ext of crlExtensions) {
    if (ext.critical && !KNOWN_CRL_EXTENSIONS.has(ext.extnID as never)) {
      throw new CrlError('unsupported_extension', `critical CRL extension ${ext.extnID}`);
    }
  }
  const crl = new x509.X509Crl(asn);
  const issuer = crl.issuer;
  const signerKeyId = await verifySignature(crl, issuer, trust);
  const revoked = new Map<string, number>();
  for (const entry of tbs.revokedCertificates ?? []) {
    let reason = 0;
    for (const ext of entry.crlEntryExtensions ?? []) {
      if (ext.extnID === OID.reasonCode) reason = enumerated(ext.extnValue.buffer);
      else if (ext.critical && !KNOWN_ENTRY_EXTENSIONS.has(ext.extnID as never)) {
        throw new CrlError('unsupported_extension', `critical CRL entry extension ${ext.extnID}`);
      }
    }
    revoked.set(serialHex(entry.userCertificate), reason);
  }
  const number = findExtension(crlExtensions, OID.crlNumber);
  const delta = findExtension(crlExtensions, OID.deltaCrlIndicator);
  const freshest = findExtension(crlExtensions, OID.freshestCrl);
  const idp = findExtension(crlExtensions, OID.issuingDistributionPoint);
  try {
    return {
      der,
      sha256: sha256Hex(der),
      issuer,
      signerKeyId,
      thisUpdate: tbs.thisUpdate.getTime().getTime(),
      nextUpdate: tbs.nextUpdate?.getTime().getTime(),
      crlNumber: number ? derInteger(number.extnValue.buffer) : undefined,
      deltaBase: delta ? derInteger(delta.extnValue.buffer) : undefined,
      freshestUrls: freshest ? distributionPointUrls(freshest.extnValue.buffer) : [],
      scope: idp ? scopeOf(idp.extnValue.buffer) : { urls: undefined, coversEndEntities: true },
      revoked,
    };
  } catch {
    throw new CrlError('malformed', 'unreadable CRL extension');
  }
}

async function verifySignature(crl: x509.X509Crl, issuer: string, trust: TrustStore): Promise<string> {
  const candidates = trust.bySubject(issuer);
  if (candidates.length === 0) throw new CrlError('untrusted_issuer', 'CRL issuer is not a trusted CA');
  for (const ca of candidates) {
    try {
      if (await crl.verify({ publicKey: ca.peculiar })) return ca.keyId;
    } catch {
      // An algorithm mismatch (an RSA CA for an ECDSA signature) is just "not this CA".
    }
  }
  throw new CrlError('bad_signature', 'CRL signature does not verify with the trusted CA');
}

function scopeOf(value: ArrayBuffer): CrlScope {
  const idp = AsnConvert.parse(value, IssuingDistributionPoint);
  const point = idp.distributionPoint;
  return {
    // A point named relative to the issuer matches none of our URLs: such a CRL covers no one.
    urls: point
      ? (point.fullName ?? []).flatMap((n) =>
          n.uniformResourceIdentifier ? [n.uniformResourceIdentifier] : [],
        )
      : undefined,
    coversEndEntities:
      !idp.onlyContainsCACerts && !idp.onlyContainsAttributeCerts && !idp.indirectCRL && !idp.onlySomeReasons,
  };
}

/** A DER ENUMERATED of one byte (CRLReason). */
function enumerated(value: ArrayBuffer): number {
  const bytes = new Uint8Array(value);
  return bytes[0] === 0x0a && bytes[1] === 1 ? bytes[2]! : 0;
}
