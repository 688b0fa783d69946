/**
 * Herald's certificates for rich notifications (delegated Graph subscriptions): Graph encrypts
 * each notification's resource data to the certificate named in the subscription. The current
 * certificate is made when first needed and replaced 30 days before it expires; the private keys
 * are stored sealed under the master key, and every key not yet expired stays in the ring, so a
 * notification encrypted before a rotation still decrypts.
 */

import type { MasterKey } from '../../crypto/index.ts';
import { createEncryptionCertificate, EncryptionKeyRing } from '../../exchange/graph/index.ts';
import type { Logger } from '../../log/index.ts';
import type { GraphEncryptionKey, Store } from '../../store/index.ts';

const PURPOSE = 'graph-encryption-key';
const ROTATE_BEFORE_MS = 30 * 86_400_000;

export interface EncryptionCertificateRef {
  id: string;
  /** base64 DER, for Graph's `encryptionCertificate`. */
  certificate: string;
}

export class GraphEncryptionKeys {
  readonly #store: Store;
  readonly #master: MasterKey;
  readonly #validityDays: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #creating: Promise<GraphEncryptionKey> | undefined;
  #ring: { ring: EncryptionKeyRing; ids: Set<string> } | undefined;

  constructor(options: {
    store: Store;
    master: MasterKey;
    validityDays: number;
    logger: Logger;
    now?: () => number;
  }) {
    this.#store = options.store;
    this.#master = options.master;
    this.#validityDays = options.validityDays;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** The certificate to give Graph now (made, or replaced when near its end, first). */
  async current(): Promise<EncryptionCertificateRef> {
    const now = this.#now();
    const key = await this.#store.graphEncryptionKeys.current(now);
    if (key && key.notAfter - now > ROTATE_BEFORE_MS) return { id: key.id, certificate: key.certificate };
    // One creation at a time in this process; two nodes racing make two keys, both usable.
    this.#creating ??= this.#create(key).finally(() => {
      this.#creating = undefined;
    });
    const created = await this.#creating;
    return { id: created.id, certificate: created.certificate };
  }

  /** Whether a subscription on certificate `id` should move to a newer one at its next renewal. */
  async isCurrent(id: string | null): Promise<boolean> {
    if (!id) return false;
    const now = this.#now();
    const key = await this.#store.graphEncryptionKeys.current(now);
    return key?.id === id && key.notAfter - now > ROTATE_BEFORE_MS;
  }

  /** The key ring holding certificate `id` (reloaded from the store when `id` is not in it yet). */
  async ring(id: string): Promise<EncryptionKeyRing> {
    if (this.#ring?.ids.has(id)) return this.#ring.ring;
    const keys = await this.#store.graphEncryptionKeys.usable(this.#now());
    const ring = new EncryptionKeyRing(
      keys.map((k) => ({
        id: k.id,
        thumbprint: k.thumbprint,
        privateKey: this.#master.open(k.privateKeyEnc, PURPOSE, k.id).toString('utf8'),
      })),
    );
    this.#ring = { ring, ids: new Set(keys.map((k) => k.id)) };
    return ring;
  }

  async #create(previous: GraphEncryptionKey | undefined): Promise<GraphEncryptionKey> {
    const now = this.#now();
    const cert = await createEncryptionCertificate({ validityDays: this.#validityDays, now });
    const key = await this.#store.graphEncryptionKeys.add({
      id: cert.id,
      certificate: cert.certificate,
      thumbprint: cert.thumbprint,
      privateKeyEnc: this.#master.seal(cert.privateKeyPem, PURPOSE, cert.id),
      notAfter: +cert.notAfter,
    });
    if (previous) await this.#store.graphEncryptionKeys.retire(previous.id, now);
    this.#ring = undefined;
    this.#logger.info(
      { certificateId: cert.id, notAfter: cert.notAfter.toISOString(), replaced: previous?.id ?? null },
      'graph: new encryption certificate for rich notifications',
    );
    return key;
  }
}
