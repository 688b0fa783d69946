/**
 * Herald's certificate authority, as the HTTP routes, the CLI and SCEP use it. Opening it loads
 * the active issuing CA and its chain (creating a root and an issuing CA on the first start),
 * opens their keys with the master key and makes sure CRLs exist and are fresh.
 */
import type { MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import type {
  PkiAuthority,
  PkiCertificate,
  PkiCertificateStatus,
  PkiCrl,
  PkiCrlKind,
  Store,
} from '../store/index.ts';
import { createAuthorities, type LoadedAuthority, loadAuthority } from './authorities.ts';
import { type ChallengeRequest, type CreatedChallenge, createChallenge } from './challenges.ts';
import type { PkiContext } from './context.ts';
import { type CrlPublication, CrlPublisher } from './crl.ts';
import { CrlScheduler } from './crl-scheduler.ts';
import { PkiError } from './errors.ts';
import { type AuthoritySource, type ImportResult, importAuthority } from './import.ts';
import {
  type GeneratedKeyResult,
  type IssueFromCsrOptions,
  type IssueWithGeneratedKeyOptions,
  issueFromCsr,
  issueWithGeneratedKey,
} from './issuance.ts';
import { type RevocationResult, revoke, revokeForRegistration } from './revocation.ts';
import type { ScepAuthority } from './scep/index.ts';
import { scepAuthority } from './scep-authority.ts';
import { normalizeSerial } from './serial.ts';
import { type PkiSettings, pkiSettings } from './settings.ts';
import { type CertificateTemplate, newTemplate, publicTemplate, type TemplateInput } from './templates.ts';
import { pkiUrls } from './urls.ts';
import { toPem } from './x509.ts';

/** How many CA chains deep Herald follows issuer links (root → issuing is 2). */
const MAX_CHAIN = 4;

export interface CertificateAuthorityOptions {
  store: Store;
  master: MasterKey;
  /** Base of the CDP/AIA URLs in every certificate, e.g. `https://herald.contoso.com`. */
  publicUrl: string;
  logger: Logger;
  now?: () => number;
  settings?: Partial<PkiSettings>;
  /** Create a root and an issuing CA when there is none (default true). */
  create?: boolean;
  /** Regenerate missing or nearly expired CRLs while opening (default true). */
  ensureFresh?: boolean;
}

/** A CA as listings show it. */
export interface AuthorityInfo {
  id: string;
  role: PkiAuthority['role'];
  subject: string;
  active: boolean;
  hasKey: boolean;
  issuerId: string | null;
  notBefore: number;
  notAfter: number;
  fingerprint: string;
}

export interface CertificateListFilter {
  status?: PkiCertificateStatus;
  template?: string;
  registrationId?: string;
  /** Default 100, at most 1000. */
  limit?: number;
}

function info(record: PkiAuthority): AuthorityInfo {
  return {
    id: record.id,
    role: record.role,
    subject: record.subject,
    active: record.active,
    hasKey: record.privateKeyEnc !== null,
    issuerId: record.issuerId,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    fingerprint: record.fingerprint,
  };
}

async function loadChain(store: Store, master: MasterKey): Promise<LoadedAuthority[] | undefined> {
  let record = await store.pki.authorities.active('issuing');
  if (record === undefined) return undefined;
  const chain: LoadedAuthority[] = [];
  for (;;) {
    chain.push(await loadAuthority(record, master));
    if (record.issuerId === null) return chain;
    if (chain.length >= MAX_CHAIN)
      throw new PkiError('pki_unavailable', 'the CA chain in the store is too long');
    const issuer: PkiAuthority | undefined = await store.pki.authorities.get(record.issuerId);
    if (issuer === undefined) throw new PkiError('pki_unavailable', `CA ${record.id} names a missing issuer`);
    record = issuer;
  }
}

export class CertificateAuthority {
  readonly #store: Store;
  readonly #master: MasterKey;
  readonly #logger: Logger;
  readonly #ctx: PkiContext;
  readonly settings: PkiSettings;
  #chain: LoadedAuthority[];
  /** Loaded CAs by id (the chain and older ones that still publish CRLs). */
  readonly #loaded = new Map<string, LoadedAuthority>();

  private constructor(options: CertificateAuthorityOptions, settings: PkiSettings, chain: LoadedAuthority[]) {
    this.#store = options.store;
    this.#master = options.master;
    this.#logger = options.logger;
    this.settings = settings;
    this.#chain = chain;
    for (const authority of chain) this.#loaded.set(authority.id, authority);
    this.#ctx = {
      store: options.store,
      master: options.master,
      urls: pkiUrls(options.publicUrl),
      settings,
      now: options.now ?? Date.now,
      logger: options.logger,
      crls: new CrlPublisher({
        store: options.store,
        urls: pkiUrls(options.publicUrl),
        settings,
        now: options.now ?? Date.now,
        logger: options.logger,
      }),
      issuing: () => this.#chain[0]!,
      chain: () => this.#chain,
      authority: (id) => this.#authority(id),
    };
  }

  /** Loads (or on the first start creates) the CA. */
  static async open(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const settings = pkiSettings(options.settings);
    const now = options.now ?? Date.now;
    let chain = await loadChain(options.store, options.master);
    if (chain === undefined) {
      if (options.create === false) {
        throw new PkiError('pki_unavailable', 'there is no CA yet: import one or let Herald create it');
      }
      // false: another node created it at the same moment; load theirs.
      await createAuthorities({ ...options, urls: pkiUrls(options.publicUrl), settings, now });
      chain = await loadChain(options.store, options.master);
      if (chain === undefined) throw new PkiError('pki_unavailable', 'the CA could not be created');
    }
    const ca = new CertificateAuthority(options, settings, chain);
    if (options.ensureFresh !== false) await ca.ensureFresh();
    return ca;
  }

  // ------------------------------------------------------------ the CAs

  get issuingId(): string {
    return this.#chain[0]!.id;
  }

  /** The root's id (the issuing CA's own when it is self-signed). */
  get rootId(): string {
    return this.#chain[this.#chain.length - 1]!.id;
  }

  /** DER certificates, issuing CA first, root last. */
  chainDer(): Buffer[] {
    return this.#chain.map((authority) => authority.der);
  }

  chainPem(): string {
    return this.#chain.map((authority) => toPem(authority.der, 'CERTIFICATE')).join('');
  }

  /** Any CA's certificate by id, for `/pki/ca/<id>.crt` (AIA caIssuers; RFC 2585 §3). */
  async authorityCertificate(
    id: string,
  ): Promise<{ der: Buffer; contentType: 'application/pkix-cert' } | undefined> {
    const record = this.#loaded.get(id)?.record ?? (await this.#store.pki.authorities.get(id));
    return record && { der: record.certificateDer, contentType: 'application/pkix-cert' };
  }

  async listAuthorities(): Promise<AuthorityInfo[]> {
    return (await this.#store.pki.authorities.list()).map(info);
  }

  /** Reloads the active chain (after an import, here or on another node). @returns whether it changed. */
  async reload(): Promise<boolean> {
    const active = await this.#store.pki.authorities.active('issuing');
    if (active === undefined || active.id === this.issuingId) return false;
    const chain = await loadChain(this.#store, this.#master);
    if (chain === undefined) return false;
    this.#chain = chain;
    for (const authority of chain) this.#loaded.set(authority.id, authority);
    this.#logger.info({ issuingId: this.issuingId }, 'pki: the active issuing CA changed; reloaded');
    return true;
  }

  /** Imports a CA (PEM or PKCS #12), makes it active and publishes its CRLs. */
  async importAuthority(source: AuthoritySource): Promise<ImportResult> {
    const result = await importAuthority(
      { store: this.#store, master: this.#master, now: this.#ctx.now, logger: this.#logger },
      source,
    );
    await this.reload();
    await this.ensureFresh();
    return result;
  }

  // ------------------------------------------------------------ templates

  async addTemplate(input: TemplateInput): Promise<CertificateTemplate> {
    const template = newTemplate(input, this.#master);
    try {
      return publicTemplate(await this.#store.pki.templates.create(template));
    } catch (error) {
      if ((error as { code?: string }).code === 'conflict') {
        throw new PkiError('pki_template_exists', `a template named ${input.name} exists already`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async listTemplates(): Promise<CertificateTemplate[]> {
    return (await this.#store.pki.templates.list()).map(publicTemplate);
  }

  async getTemplate(name: string): Promise<CertificateTemplate> {
    const template = await this.#store.pki.templates.get(name);
    if (template === undefined)
      throw new PkiError('pki_template_not_found', `there is no template named ${name}`);
    return publicTemplate(template);
  }

  // ------------------------------------------------------------ issuance and revocation

  issueFromCsr(csr: Buffer | string, options: IssueFromCsrOptions): Promise<PkiCertificate> {
    return issueFromCsr(this.#ctx, csr, options);
  }

  issueWithGeneratedKey(options: IssueWithGeneratedKeyOptions): Promise<GeneratedKeyResult> {
    return issueWithGeneratedKey(this.#ctx, options);
  }

  /** `reason`: an RFC 5280 name (default `unspecified`). Revoking twice is not an error. */
  revoke(serial: string, reason?: string): Promise<RevocationResult> {
    return revoke(this.#ctx, serial, reason);
  }

  /** Unenrolment: revokes the registration's certificates whose template says so. */
  revokeForRegistration(registrationId: string, reason?: string): Promise<PkiCertificate[]> {
    return revokeForRegistration(this.#ctx, registrationId, reason);
  }

  /** Newest first. */
  list(filter: CertificateListFilter = {}): Promise<PkiCertificate[]> {
    const limit = Math.min(Math.max(1, Math.trunc(filter.limit ?? 100)), 1000);
    return this.#store.pki.certificates.list({ ...filter, limit });
  }

  async getCertificate(serial: string): Promise<PkiCertificate> {
    const certificate = await this.#store.pki.certificates.get(normalizeSerial(serial));
    if (certificate === undefined) {
      throw new PkiError(
        'pki_certificate_not_found',
        `no certificate with serial ${serial} was issued by this CA`,
      );
    }
    return certificate;
  }

  createChallenge(request: ChallengeRequest): Promise<CreatedChallenge> {
    return createChallenge(this.#ctx, request);
  }

  // ------------------------------------------------------------ CRLs

  /**
   * New CRLs for every CA that holds its key and has not expired: with `full`, full CRLs and
   * fresh deltas (`herald ca crl`); without, deltas only (a full one where none exists).
   */
  async generateCrls(options: { full: boolean }): Promise<PkiCrl[]> {
    const made: PkiCrl[] = [];
    for (const authority of await this.#publishing())
      made.push(...(await this.#ctx.crls.generate(authority, options)));
    return made;
  }

  /** Regenerates CRLs that are missing, near nextUpdate or behind a revocation. */
  async ensureFresh(): Promise<PkiCrl[]> {
    const made: PkiCrl[] = [];
    for (const authority of await this.#publishing())
      made.push(...(await this.#ctx.crls.ensureFresh(authority)));
    return made;
  }

  /** The latest CRL's DER (of the active issuing CA unless `authorityId` names another). */
  async currentCrl(kind: PkiCrlKind, authorityId = this.issuingId): Promise<Buffer | undefined> {
    return (await this.#ctx.crls.current(authorityId, kind))?.der;
  }

  /** DER with content type and caching headers, for `/pki/crl/<id>.crl` and `<id>-delta.crl`. */
  crlPublication(authorityId: string, kind: PkiCrlKind): Promise<CrlPublication | undefined> {
    return this.#ctx.crls.publication(authorityId, kind);
  }

  // ------------------------------------------------------------ adapters

  /** What src/pki/scep/ serves requests with. */
  scep(): ScepAuthority {
    return scepAuthority(this.#ctx);
  }

  /** The background job (CRLs, CA reloads, challenge clean-up); `owner` names this node. */
  scheduler(owner: string): CrlScheduler {
    return new CrlScheduler({
      store: this.#store,
      logger: this.#logger,
      owner,
      intervalMs: this.settings.schedulerIntervalMinutes * 60_000,
      now: this.#ctx.now,
      refresh: async () => {
        await this.reload();
        await this.ensureFresh();
      },
    });
  }

  async #authority(id: string): Promise<LoadedAuthority | undefined> {
    const loaded = this.#loaded.get(id);
    if (loaded !== undefined) return loaded;
    const record = await this.#store.pki.authorities.get(id);
    if (record === undefined) return undefined;
    const authority = await loadAuthority(record, this.#master);
    this.#loaded.set(id, authority);
    return authority;
  }

  /** CAs that sign CRLs: those with a key, not expired. */
  async #publishing(): Promise<LoadedAuthority[]> {
    const now = this.#ctx.now();
    const out: LoadedAuthority[] = [];
    for (const record of await this.#store.pki.authorities.list()) {
      if (record.privateKeyEnc === null || record.notAfter <= now) continue;
      const authority = await this.#authority(record.id);
      if (authority !== undefined) out.push(authority);
    }
    return out;
  }
}

export function openCertificateAuthority(
  options: CertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  return CertificateAuthority.open(options);
}
