/** What the CA's operations share: the store, the master key, settings, the loaded CAs. */
import type { MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import type { PkiTemplate, Store } from '../store/index.ts';
import type { LoadedAuthority } from './authorities.ts';
import type { CrlPublisher } from './crl.ts';
import { PkiError } from './errors.ts';
import type { PkiSettings } from './settings.ts';
import type { PkiUrls } from './urls.ts';

export interface PkiContext {
  store: Store;
  master: MasterKey;
  urls: PkiUrls;
  settings: PkiSettings;
  now: () => number;
  logger: Logger;
  crls: CrlPublisher;
  /** The active issuing CA, which signs everything issued now. */
  issuing(): LoadedAuthority;
  /** The issuing CA and its issuers up to the root. */
  chain(): readonly LoadedAuthority[];
  /** Any CA by id, loaded with its key (older, inactive ones still publish CRLs). */
  authority(id: string): Promise<LoadedAuthority | undefined>;
}

export async function requireTemplate(ctx: PkiContext, name: string): Promise<PkiTemplate> {
  const template = await ctx.store.pki.templates.get(name);
  if (template === undefined)
    throw new PkiError('pki_template_not_found', `there is no template named ${name}`);
  return template;
}
