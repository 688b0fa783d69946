/**
 * CRL publication (RFC 5280 §5). Each issuing CA publishes a full CRL and a delta CRL from one
 * CRL Number sequence; a root whose key Herald holds publishes a full CRL. The full CRL carries
 * Freshest CRL pointing at the delta; the delta carries a critical Delta CRL Indicator naming its
 * base and lists what was revoked since that base. Every generation makes a fresh delta (after a
 * new base too, so a delta never names a superseded base). CRLs are kept in the store and served
 * as DER (application/pkix-crl, RFC 2585 §4.2), so every node serves the same bytes.
 */
import type { Logger } from '../log/index.ts';
import {
  type PkiCrl,
  type PkiCrlKind,
  type PkiRevokedEntry,
  type Store,
  StoreConflictError,
} from '../store/index.ts';
import type { LoadedAuthority } from './authorities.ts';
import {
  crlNumberExtension,
  deltaCrlIndicatorExtension,
  freshestCrlExtension,
  REVOCATION_REASONS,
  type RevocationReason,
} from './extensions.ts';
import type { PkiSettings } from './settings.ts';
import type { PkiUrls } from './urls.ts';
import { x509 } from './x509.ts';

const HOUR = 3_600_000;
/** Attempts when another node takes the same CRL number at the same moment. */
const NUMBER_RACE_ATTEMPTS = 5;

export interface CrlSpec {
  authority: LoadedAuthority;
  number: number;
  thisUpdate: number;
  nextUpdate: number;
  entries: readonly PkiRevokedEntry[];
  /** Delta CRLs: the base's CRL number. */
  baseNumber?: number;
  /** Full CRLs of CAs with deltas: where the delta is (Freshest CRL). */
  deltaUrl?: string;
}

export async function buildCrl(spec: CrlSpec): Promise<Buffer> {
  const { authority } = spec;
  if (authority.signer === undefined) throw new Error(`CA ${authority.id} has no key to sign CRLs with`);
  const extensions: x509.Extension[] = [
    new x509.AuthorityKeyIdentifierExtension(authority.keyId),
    crlNumberExtension(spec.number),
  ];
  if (spec.baseNumber !== undefined) extensions.push(deltaCrlIndicatorExtension(spec.baseNumber));
  if (spec.deltaUrl !== undefined) extensions.push(freshestCrlExtension(spec.deltaUrl));
  const crl = await x509.X509CrlGenerator.create({
    issuer: authority.certificate.subjectName,
    thisUpdate: new Date(spec.thisUpdate),
    nextUpdate: new Date(spec.nextUpdate),
    signingKey: authority.signer.key,
    signingAlgorithm: authority.signer.algorithm,
    extensions,
    entries: spec.entries.map((entry) => {
      const code = REVOCATION_REASONS[(entry.revocationReason ?? 'unspecified') as RevocationReason] ?? 0;
      // reasonCode unspecified SHOULD be absent (RFC 5280 §5.3.1).
      return {
        serialNumber: entry.serial,
        revocationDate: new Date(entry.revokedAt),
        ...(code === 0 ? {} : { reason: code as x509.X509CrlReason }),
      };
    }),
  });
  return Buffer.from(crl.rawData);
}

/** What an HTTP route sends for a CRL. */
export interface CrlPublication {
  der: Buffer;
  contentType: 'application/pkix-crl';
  headers: Record<string, string>;
  crl: PkiCrl;
}

export interface CrlPublisherOptions {
  store: Store;
  urls: PkiUrls;
  settings: PkiSettings;
  now: () => number;
  logger: Logger;
}

/** Whether less than `fraction` of the CRL's lifetime is left (or it is gone). */
export function isStale(crl: PkiCrl | undefined, now: number, fraction: number): boolean {
  if (crl === undefined) return true;
  return crl.nextUpdate - now <= fraction * (crl.nextUpdate - crl.thisUpdate);
}

/** Full and delta CRLs of one or more CAs. Generation is serialized within the process. */
export class CrlPublisher {
  readonly #o: CrlPublisherOptions;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: CrlPublisherOptions) {
    this.#o = options;
  }

  /** Root CAs publish full CRLs only; issuing CAs publish full and delta CRLs. */
  static hasDeltas(authority: LoadedAuthority): boolean {
    return authority.record.role === 'issuing';
  }

  /**
   * A new full CRL (with `full`, or when there is none yet) and a new delta against the current
   * full one. @returns the CRLs made.
   */
  generate(authority: LoadedAuthority, options: { full: boolean }): Promise<PkiCrl[]> {
    const run = this.#queue.then(() => this.#withRetry(() => this.#generate(authority, options.full)));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Regenerates what is missing or within `crlRefreshFraction` of its nextUpdate. */
  ensureFresh(authority: LoadedAuthority): Promise<PkiCrl[]> {
    const run = this.#queue.then(() =>
      this.#withRetry(async () => {
        const { store, settings, now } = this.#o;
        const full = await store.pki.crls.latest(authority.id, 'full');
        if (isStale(full, now(), settings.crlRefreshFraction)) return this.#generate(authority, true);
        if (!CrlPublisher.hasDeltas(authority)) return [];
        const delta = await store.pki.crls.latest(authority.id, 'delta');
        if (
          delta === undefined ||
          delta.baseNumber !== full?.number ||
          isStale(delta, now(), settings.crlRefreshFraction)
        ) {
          return this.#generate(authority, false);
        }
        // A revocation whose delta was never published (its node failed or died in between).
        const missed = await store.pki.certificates.revoked(authority.id, {
          notExpiredAt: now(),
          revokedSince: delta.thisUpdate + 1,
        });
        return missed.length > 0 ? this.#generate(authority, false) : [];
      }),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async current(authorityId: string, kind: PkiCrlKind): Promise<PkiCrl | undefined> {
    return this.#o.store.pki.crls.latest(authorityId, kind);
  }

  /**
   * The latest CRL with its HTTP headers: cacheable (`public`) for a bounded time that never
   * reaches past nextUpdate; deltas for less, since every revocation replaces them.
   */
  async publication(authorityId: string, kind: PkiCrlKind): Promise<CrlPublication | undefined> {
    const crl = await this.current(authorityId, kind);
    if (crl === undefined) return undefined;
    const { settings, now } = this.#o;
    const cap = kind === 'full' ? settings.fullCrlMaxAgeSeconds : settings.deltaCrlMaxAgeSeconds;
    const maxAge = Math.max(0, Math.min(cap, Math.floor((crl.nextUpdate - now()) / 1000)));
    return {
      der: crl.der,
      contentType: 'application/pkix-crl',
      crl,
      headers: {
        'content-type': 'application/pkix-crl',
        'cache-control': `public, max-age=${maxAge}`,
        'last-modified': new Date(crl.thisUpdate).toUTCString(),
        expires: new Date(crl.nextUpdate).toUTCString(),
        etag: `"${authorityId}-${crl.number}"`,
      },
    };
  }

  async #withRetry(fn: () => Promise<PkiCrl[]>): Promise<PkiCrl[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        // Another node numbered a CRL at the same moment: read the sequence again.
        if (!(error instanceof StoreConflictError) || attempt >= NUMBER_RACE_ATTEMPTS) throw error;
      }
    }
  }

  async #generate(authority: LoadedAuthority, wantFull: boolean): Promise<PkiCrl[]> {
    const { store, settings, urls, now, logger } = this.#o;
    const made: PkiCrl[] = [];
    const deltas = CrlPublisher.hasDeltas(authority);
    let base = await store.pki.crls.latest(authority.id, 'full');
    if (wantFull || base === undefined) {
      const thisUpdate = now();
      const number = (await store.pki.crls.lastNumber(authority.id)) + 1;
      const hours = deltas ? settings.fullCrlHours : settings.rootCrlHours;
      const nextUpdate = thisUpdate + hours * HOUR;
      const entries = await store.pki.certificates.revoked(authority.id, { notExpiredAt: thisUpdate });
      const der = await buildCrl({
        authority,
        number,
        thisUpdate,
        nextUpdate,
        entries,
        ...(deltas ? { deltaUrl: urls.deltaCrl(authority.id) } : {}),
      });
      const previous = base;
      base = await store.pki.crls.insert({
        authorityId: authority.id,
        number,
        kind: 'full',
        baseNumber: null,
        thisUpdate,
        nextUpdate,
        der,
      });
      made.push(base);
      // Keep the previous full CRL and its deltas for whoever still caches them; drop older ones.
      if (previous !== undefined) await store.pki.crls.prune(authority.id, previous.number);
      logger.info(
        { authorityId: authority.id, crlNumber: number, entries: entries.length },
        'pki: published a full CRL',
      );
    }
    if (!deltas) return made;

    const thisUpdate = now();
    const number = (await store.pki.crls.lastNumber(authority.id)) + 1;
    const nextUpdate = Math.min(thisUpdate + settings.deltaCrlHours * HOUR, base.nextUpdate);
    const entries = await store.pki.certificates.revoked(authority.id, {
      notExpiredAt: thisUpdate,
      revokedSince: base.thisUpdate - settings.deltaOverlapMinutes * 60_000,
    });
    const der = await buildCrl({
      authority,
      number,
      thisUpdate,
      nextUpdate,
      entries,
      baseNumber: base.number,
    });
    made.push(
      await store.pki.crls.insert({
        authorityId: authority.id,
        number,
        kind: 'delta',
        baseNumber: base.number,
        thisUpdate,
        nextUpdate,
        der,
      }),
    );
    logger.debug(
      { authorityId: authority.id, crlNumber: number, baseNumber: base.number, entries: entries.length },
      'pki: published a delta CRL',
    );
    return made;
  }
}
