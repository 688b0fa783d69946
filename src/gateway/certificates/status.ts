/**
 * The revocation status of one certificate from the CRLs at hand (RFC 5280 §6.3.3, simplified
 * to complete CRLs from the certificate's issuer): the freshest valid base CRL in scope, and a
 * delta CRL (§5.2.4) applied on top when its Delta CRL Indicator is at most the base's CRL number.
 * Pure and synchronous: the TLS path calls it on every request.
 */
import { type LoadedCrl, REMOVE_FROM_CRL } from './crl.ts';
import type { RevocationStatus } from './types.ts';

/** What a revocation check needs to know about a certificate. */
export interface CertificateFacts {
  serial: string;
  issuer: string;
  /** Key id of the CA that issued it. */
  issuerKeyId: string;
  crlUrls: readonly string[];
  deltaCrlUrls: readonly string[];
}

/** A CRL held for a URL, with the time it stops counting (its nextUpdate, or a fallback). */
export interface HeldCrl {
  crl: LoadedCrl;
  validUntil: number;
}

export interface StatusInput {
  facts: CertificateFacts;
  /** The CRL currently held for a URL. */
  held: (url: string) => HeldCrl | undefined;
  /** `gateway.crl.urls`: may hold base or delta CRLs of any issuer. */
  configuredUrls: readonly string[];
  now: number;
  clockSkewMs: number;
}

function current(entry: HeldCrl | undefined, input: StatusInput): LoadedCrl | undefined {
  if (!entry) return undefined;
  const { crl, validUntil } = entry;
  const { now, clockSkewMs, facts } = input;
  if (crl.thisUpdate > now + clockSkewMs || now >= validUntil + clockSkewMs) return undefined;
  if (crl.issuer !== facts.issuer || crl.signerKeyId !== facts.issuerKeyId) return undefined;
  return crl.scope.coversEndEntities ? crl : undefined;
}

function inScope(crl: LoadedCrl, facts: CertificateFacts): boolean {
  return crl.scope.urls === undefined || crl.scope.urls.some((url) => facts.crlUrls.includes(url));
}

function newest(crls: LoadedCrl[]): LoadedCrl | undefined {
  let best: LoadedCrl | undefined;
  for (const crl of crls) {
    const number = crl.crlNumber ?? -1n;
    const bestNumber = best?.crlNumber ?? -1n;
    if (!best || number > bestNumber || (number === bestNumber && crl.thisUpdate > best.thisUpdate))
      best = crl;
  }
  return best;
}

function unique(...lists: (readonly string[])[]): string[] {
  return [...new Set(lists.flat())];
}

/** The URLs whose CRLs can decide this certificate: base URLs first, then delta URLs. */
export function relevantUrls(input: StatusInput): { base: string[]; delta: string[] } {
  const { facts } = input;
  const base = unique(facts.crlUrls, input.configuredUrls);
  const freshest = base.flatMap((url) => current(input.held(url), input)?.freshestUrls ?? []);
  return { base, delta: unique(facts.deltaCrlUrls, freshest) };
}

export function revocationStatus(input: StatusInput): RevocationStatus {
  const { facts } = input;
  const urls = relevantUrls(input);
  const loaded = unique(urls.base, urls.delta, input.configuredUrls).flatMap((url) => {
    const crl = current(input.held(url), input);
    return crl ? [crl] : [];
  });
  const base = newest(loaded.filter((crl) => crl.deltaBase === undefined && inScope(crl, facts)));
  if (!base) return 'unknown';
  const deltas = loaded.filter((crl) => crl.deltaBase !== undefined);
  const baseNumber = base.crlNumber;
  const applicable =
    baseNumber === undefined
      ? undefined
      : newest(deltas.filter((d) => d.deltaBase! <= baseNumber && (d.crlNumber ?? -1n) > baseNumber));
  const deltasExpected = facts.deltaCrlUrls.length > 0 || base.freshestUrls.length > 0;
  if (!applicable && deltasExpected) {
    // The issuer publishes deltas: without one that applies, the base alone is only good enough
    // when it is newer than every delta we hold (a delta for a newer base means ours is stale).
    const latest = newest(deltas);
    if (!latest || baseNumber === undefined || (latest.crlNumber ?? -1n) > baseNumber) return 'unknown';
  }
  const inDelta = applicable?.revoked.get(facts.serial);
  if (inDelta !== undefined) return inDelta === REMOVE_FROM_CRL ? 'good' : 'revoked';
  return base.revoked.has(facts.serial) ? 'revoked' : 'good';
}
