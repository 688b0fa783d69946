/**
 * The admin API's bearer token when the configuration gives none (`admin.apiToken`): 32 random
 * bytes (base64url) generated on first start into a file beside the master key (mode 0600) and
 * read on later starts. The file holds the token as plain text, so an admin can `cat` it into a
 * request; keep it as private as the master key.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const TOKEN_BYTES = 32;
/** The configuration's minimum for `admin.apiToken`; a hand-written file must meet it too. */
const MIN_LENGTH = 32;

/** Load the admin token from `file`, creating it (mode 0600) on first start. */
export function loadOrCreateAdminToken(file: string): { token: string; created: boolean } {
  if (existsSync(file)) return { token: readTokenFile(file), created: false };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  try {
    // 'wx' refuses to overwrite a token another process (a second node) created in the meantime.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return { token: readTokenFile(file), created: false };
    throw error;
  }
  return { token, created: true };
}

function readTokenFile(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < MIN_LENGTH || /\s/.test(token)) {
    throw new Error(
      `${file} does not hold an admin token (one line of at least ${MIN_LENGTH} characters without spaces); delete it to have a new one generated`,
    );
  }
  return token;
}
