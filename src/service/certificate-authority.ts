/**
 * The certificate authority as `herald serve` runs it (and as the `herald ca` commands open it).
 *
 * Creating the CA costs an RSA 4096 and an RSA 3072 key (about a second, several on a busy
 * machine), so it is created the first time it is needed (an admin request to /api/pki/v1, a
 * `herald ca` command), never just because Herald starts: most nodes, and most test runs, never
 * issue a certificate. A CA that exists is opened at start: its CRLs are made fresh there and
 * then (a restart after a long stop must not leave relying parties with an expired CRL) and its
 * scheduler runs until close(). Anonymous routes (CRLs, CA certificates, SCEP) only ever open
 * an existing CA, so no unauthenticated request makes Herald generate keys.
 */
import type { HeraldConfig } from '../config/index.ts';
import type { MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import {
  type CertificateAuthority,
  type CrlScheduler,
  type IssuedCertificate,
  openCertificateAuthority,
  type PkiSettings,
} from '../pki/index.ts';
import type { Store } from '../store/index.ts';

/** The `pki:` section as the CA's settings (the rest keep the CA's own defaults). */
export function pkiSettingsFrom(pki: HeraldConfig['pki']): Partial<PkiSettings> {
  return {
    rootKeyBits: pki.rootKeyBits,
    issuingKeyBits: pki.issuingKeyBits,
    fullCrlHours: pki.crl.fullHours,
    deltaCrlHours: pki.crl.deltaHours,
    challengeMinutes: pki.challengeMinutes,
    schedulerIntervalMinutes: pki.schedulerIntervalMinutes,
  };
}

export interface ServedCaOptions {
  store: Store;
  master: MasterKey;
  publicUrl: string;
  logger: Logger;
  settings: Partial<PkiSettings>;
  now?: () => number;
  /** This node's name in the CRL lease; without it no scheduler runs (the CLI). */
  owner?: string;
}

export class ServedCertificateAuthority {
  readonly #o: ServedCaOptions;
  #ca: CertificateAuthority | undefined;
  #opening: Promise<CertificateAuthority> | undefined;
  #scheduler: CrlScheduler | undefined;
  #closed = false;

  constructor(options: ServedCaOptions) {
    this.#o = options;
  }

  /** At start: opens the CA if one exists (fresh CRLs, scheduler running); else waits for a first use. */
  async start(): Promise<void> {
    if ((await this.existing()) === undefined) {
      this.#o.logger.info('pki: no CA yet; it is created when first needed (herald ca, /api/pki/v1)');
    }
  }

  /** The CA once opened, without waiting. */
  current(): CertificateAuthority | undefined {
    return this.#ca;
  }

  /** The CA if one exists in the store (opened on the first call), else undefined: never creates one. */
  async existing(): Promise<CertificateAuthority | undefined> {
    if (this.#ca) return this.#ca;
    if (this.#opening) return this.#opening;
    if ((await this.#o.store.pki.authorities.active('issuing')) === undefined) return undefined;
    return this.#open();
  }

  /** The CA, created (root and issuing CA, first CRLs) if none exists yet. */
  get(): Promise<CertificateAuthority> {
    return this.#ca ? Promise.resolve(this.#ca) : this.#open();
  }

  /** Unenrolment: revokes the registration's certificates (none if there is no CA). */
  async revokeForRegistration(registrationId: string): Promise<IssuedCertificate[]> {
    const ca = await this.existing();
    return ca ? ca.revokeForRegistration(registrationId) : [];
  }

  /** Stops the scheduler (it hands its lease on); the store is the caller's to close after. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#opening?.catch(() => undefined);
    await this.#scheduler?.stop();
    this.#scheduler = undefined;
  }

  #open(): Promise<CertificateAuthority> {
    // One opening at a time: concurrent first requests share it (on several nodes, the CA
    // core itself settles who creates it). A failure is not kept, so the next call tries again.
    this.#opening ??= (async () => {
      try {
        const { store, master, publicUrl, logger, settings, now } = this.#o;
        const ca = await openCertificateAuthority({
          store,
          master,
          publicUrl,
          logger,
          settings,
          ...(now ? { now } : {}),
        });
        this.#ca = ca;
        if (this.#o.owner !== undefined && !this.#closed) {
          this.#scheduler = ca.scheduler(this.#o.owner);
          this.#scheduler.start();
        }
        return ca;
      } finally {
        this.#opening = undefined;
      }
    })();
    return this.#opening;
  }
}
