/**
 * Checking a client certificate on a TLS connection the gateway accepted with `requestCert: true,
 * rejectUnauthorized: false`: OpenSSL's verdict on the chain (mapped to our reasons), validity
 * at this moment (a kept-alive connection can outlive its certificate), EKU clientAuth, the SAN
 * identity, and revocation from the CRL cache. Every refusal has its own reason and a short
 * detail without personal data, for the server to log and answer as a 403.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { OID } from './asn.ts';
import type { CrlCache } from './crl-cache.ts';
import { type ParsedCertificate, parseCertificate } from './identity.ts';
import type { CertificateCheck, CertificateFailure, RevocationStatus } from './types.ts';

export interface CheckDeps {
  crls: CrlCache;
  now?: () => number;
}

/** OpenSSL verify codes (`socket.authorizationError`) that mean "not issued by a CA we trust". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** Maps an OpenSSL verify error code to the reason the gateway logs. */
export function failureForVerifyError(code: string): CertificateFailure {
  if (code === 'CERT_HAS_EXPIRED') return 'expired';
  if (code === 'CERT_NOT_YET_VALID') return 'not_yet_valid';
  // OpenSSL checks the purpose (sslclient) itself: an EKU without clientAuth fails here first.
  if (code === 'INVALID_PURPOSE') return 'no_client_auth_eku';
  if (UNTRUSTED.has(code)) return 'untrusted_issuer';
  return 'invalid_certificate';
}

/**
 * The check, synchronous: revocation from the CRLs held right now. For a device's first request,
 * `await crls.prepare(socket)` before it, so that its CRL has been fetched (boundedly).
 */
export function checkClientCertificate(socket: TLSSocket, deps: CheckDeps): CertificateCheck {
  const pre = precheck(socket, deps);
  if ('ok' in pre) return pre;
  return decide(pre, deps.crls.status(pre.cert), deps.crls);
}

interface Prechecked {
  cert: X509Certificate;
  parsed: ParsedCertificate;
}

/**
 * Parsing a certificate's ASN.1 was the largest cost of a proxied request; a certificate never
 * changes, so each is parsed once (keyed by its SHA-256 fingerprint, bounded like the CRL
 * cache's own per-certificate facts).
 */
const PARSED_LIMIT = 10_000;
const parsedByFingerprint = new Map<string, ParsedCertificate>();

function parsedOnce(cert: X509Certificate): ParsedCertificate {
  const key = cert.fingerprint256;
  let parsed = parsedByFingerprint.get(key);
  if (!parsed) {
    parsed = parseCertificate(cert.raw);
    if (parsedByFingerprint.size >= PARSED_LIMIT) parsedByFingerprint.clear();
    parsedByFingerprint.set(key, parsed);
  }
  return parsed;
}

function refuse(reason: CertificateFailure, detail: string): CertificateCheck {
  return { ok: false, reason, detail };
}

function precheck(socket: TLSSocket, deps: CheckDeps): Prechecked | CertificateCheck {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return refuse('no_certificate', 'no client certificate presented');
  if (!socket.authorized) {
    const code = verifyErrorCode(socket.authorizationError);
    return refuse(failureForVerifyError(code), `certificate verification failed: ${code}`);
  }
  const now = (deps.now ?? Date.now)();
  if (cert.validFromDate.getTime() > now) {
    return refuse('not_yet_valid', `certificate not valid before ${cert.validFromDate.toISOString()}`);
  }
  if (cert.validToDate.getTime() <= now) {
    return refuse('expired', `certificate expired at ${cert.validToDate.toISOString()}`);
  }
  let parsed: ParsedCertificate;
  try {
    parsed = parsedOnce(cert);
  } catch {
    return refuse('invalid_certificate', 'unreadable certificate extensions');
  }
  if (parsed.extendedKeyUsages === undefined) {
    return refuse('no_client_auth_eku', 'no extended key usage extension (clientAuth required)');
  }
  if (!parsed.extendedKeyUsages.includes(OID.clientAuth)) {
    return refuse('no_client_auth_eku', 'extended key usage lacks clientAuth');
  }
  return { cert, parsed };
}

function decide(pre: Prechecked, status: RevocationStatus, crls: CrlCache): CertificateCheck {
  if (status === 'revoked') return refuse('revoked', 'certificate is revoked (CRL)');
  if (status === 'unknown') {
    if (crls.onUnavailable === 'fail-closed') {
      return refuse('revocation_unknown', 'no valid CRL for the certificate (fail-closed)');
    }
    crls.noteUnavailable(pre.cert);
  }
  return { ok: true, identity: pre.parsed.identity };
}

function verifyErrorCode(error: unknown): string {
  // Node sets a string code (`'CERT_HAS_EXPIRED'`) although its typings say Error.
  if (typeof error === 'string') return error;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
