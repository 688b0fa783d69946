/**
 * The push senders' shared provider tokens (push/'s SharedTokenStore) kept in the store, sealed
 * under the master key: a provider token is a bearer credential for up to an hour, so a copy of
 * the database alone must not yield one (DESIGN decision 1). The name is bound to the
 * ciphertext, so a token cannot be moved to another key's row.
 */
import type { MasterKey } from '../crypto/index.ts';
import type { SharedTokenStore } from '../push/index.ts';
import type { ProviderTokenRepository } from '../store/index.ts';

const PURPOSE = 'provider-token';

export function sharedProviderTokens(tokens: ProviderTokenRepository, master: MasterKey): SharedTokenStore {
  return {
    async load(name) {
      const row = await tokens.get(name);
      if (!row) return undefined;
      let token: string | null;
      try {
        token = master.open(row.tokenEnc, PURPOSE, name).toString('utf8');
      } catch {
        // Sealed under another master key (nodes configured with different ones), or damaged:
        // the caller replaces it.
        token = null;
      }
      return { token, issuedAt: row.issuedAt };
    },
    replace(name, token, issuedAt, expectedIssuedAt) {
      return tokens.replace(
        name,
        { tokenEnc: master.seal(token, PURPOSE, name), issuedAt },
        expectedIssuedAt,
      );
    },
  };
}
