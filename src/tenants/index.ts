/**
 * Tenants: who may use the device API (an API token, stored only as a hash) and the RSA key pair
 * their devices encrypt credentials to. Tenants come from the CLI/admin API or from the config
 * file; the config file wins for the tenants it names (its token is re-hashed at every start).
 */
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import {
  digestsEqual,
  generateTenantKey,
  hashApiToken,
  type MasterKey,
  newApiToken,
  openTenantPrivateKey,
  type TenantKeyResolver,
} from '../crypto/index.ts';
import { HeraldError } from '../errors/index.ts';
import type { ContentPolicy, Store, Tenant } from '../store/index.ts';

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface TenantSummary {
  tenantId: string;
  contentPolicy: ContentPolicy;
  keyId: string | undefined;
  createdAt: string;
}

export interface ConfiguredTenant {
  id: string;
  apiToken: string;
  notification: { content: ContentPolicy };
}

export class TenantService {
  readonly #store: Store;
  readonly #master: MasterKey;
  readonly #privateKeys = new Map<string, KeyObject>();

  constructor(store: Store, master: MasterKey) {
    this.#store = store;
    this.#master = master;
  }

  /** Create a tenant with a fresh API token (returned once) and its first key pair. */
  async add(
    id: string,
    contentPolicy: ContentPolicy = 'full',
  ): Promise<{ tenantId: string; apiToken: string }> {
    assertTenantId(id);
    if (await this.#store.tenants.get(id)) {
      throw new HeraldError('tenant_exists', { message: `Tenant "${id}" exists already.` });
    }
    const apiToken = newApiToken();
    await this.#store.tenants.create({ id, apiTokenHash: hashApiToken(apiToken), contentPolicy });
    await this.rotateKey(id);
    return { tenantId: id, apiToken };
  }

  async list(): Promise<TenantSummary[]> {
    const tenants = await this.#store.tenants.list();
    return Promise.all(
      tenants.map(async (t) => ({
        tenantId: t.id,
        contentPolicy: t.contentPolicy,
        keyId: (await this.#store.tenantKeys.current(t.id))?.kid,
        createdAt: new Date(t.createdAt).toISOString(),
      })),
    );
  }

  async rotateToken(id: string): Promise<{ tenantId: string; apiToken: string }> {
    await this.#require(id);
    const apiToken = newApiToken();
    await this.#store.tenants.setApiTokenHash(id, hashApiToken(apiToken));
    return { tenantId: id, apiToken };
  }

  /** A new current key pair; older keys stay active (they keep decrypting) until retired. */
  async rotateKey(id: string): Promise<{ tenantId: string; keyId: string }> {
    await this.#require(id);
    const material = await generateTenantKey(this.#master, id);
    await this.#store.tenantKeys.add({
      kid: material.kid,
      tenantId: id,
      publicJwk: material.publicJwk,
      privateKeyEnc: material.privateKeyEnc,
    });
    return { tenantId: id, keyId: material.kid };
  }

  /** The tenant an API token belongs to, or undefined. */
  async authenticate(token: string): Promise<Tenant | undefined> {
    if (token.length < 16 || token.length > 512) return undefined;
    const digest = hashApiToken(token);
    const tenant = await this.#store.tenants.findByApiTokenHash(digest);
    return tenant && digestsEqual(tenant.apiTokenHash, digest) ? tenant : undefined;
  }

  async currentPublicKey(tenantId: string): Promise<{ kid: string; jwk: JWK }> {
    const key = await this.#store.tenantKeys.current(tenantId);
    if (!key) throw new HeraldError('unavailable', { message: 'The tenant has no key pair yet.' });
    return { kid: key.kid, jwk: key.publicJwk as JWK };
  }

  /** Resolves the private keys a device JWE may be encrypted to (DESIGN decision 1). */
  keyResolver(tenantId: string): TenantKeyResolver {
    return async (kid) => {
      const records = kid
        ? [await this.#store.tenantKeys.get(tenantId, kid)].filter((k) => k !== undefined && !k.retiredAt)
        : await this.#store.tenantKeys.listActive(tenantId);
      return records.map((record) => {
        const cacheKey = `${tenantId}/${record!.kid}`;
        let key = this.#privateKeys.get(cacheKey);
        if (!key) {
          key = openTenantPrivateKey(this.#master, tenantId, record!);
          this.#privateKeys.set(cacheKey, key);
        }
        return key;
      });
    };
  }

  /** Make the tenants of the config file exist with the config's token and policy. */
  async syncFromConfig(tenants: readonly ConfiguredTenant[]): Promise<void> {
    for (const t of tenants) {
      const existing = await this.#store.tenants.get(t.id);
      const apiTokenHash = hashApiToken(t.apiToken);
      if (!existing) {
        await this.#store.tenants.create({ id: t.id, apiTokenHash, contentPolicy: t.notification.content });
        await this.rotateKey(t.id);
        continue;
      }
      if (existing.apiTokenHash !== apiTokenHash)
        await this.#store.tenants.setApiTokenHash(t.id, apiTokenHash);
      if (existing.contentPolicy !== t.notification.content) {
        await this.#store.tenants.setContentPolicy(t.id, t.notification.content);
      }
      if (!(await this.#store.tenantKeys.current(t.id))) await this.rotateKey(t.id);
    }
  }

  async #require(id: string): Promise<Tenant> {
    const tenant = await this.#store.tenants.get(id);
    if (!tenant) throw new HeraldError('tenant_not_found', { message: `No tenant "${id}".` });
    return tenant;
  }
}

export function assertTenantId(id: string): void {
  if (!TENANT_ID_PATTERN.test(id)) {
    throw new HeraldError('invalid_request', {
      message: `Tenant id "${id}" is invalid: use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit.`,
    });
  }
}
