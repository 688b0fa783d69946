/** Test helpers for the config tests: config files in a temporary directory. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from './errors.ts';

export interface TempDir {
  readonly dir: string;
  /** Writes `text` to `name` (sub-directories created) and returns its absolute path. */
  write(name: string, text: string): string;
  remove(): void;
}

export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), 'herald-config-'));
  return {
    dir,
    write(name, text) {
      const file = join(dir, name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn`, which must throw a ConfigError, and returns that error. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

/** A tenant that passes validation, for tests that need one. */
export const validTenantYaml = `
  - id: contoso
    apiToken: contoso-token-0123456789
    apps:
      - appId: com.example.mail
        apns:
          token: { keyFile: AuthKey.p8, keyId: ABC123DEFG, teamId: TEAM123456 }
`;
