/**
 * The CRL cache on disk, so that a restart without network keeps working until each CRL's
 * nextUpdate: per URL, `<sha256(url)>.crl` (the DER as fetched) and `<sha256(url)>.json`
 * (`{ url, fetchedAt }`). Directory 0700, files 0600, written through a temporary file and a
 * rename so a crash never leaves half a CRL. What is read back is verified again like a download.
 */
import { chmod, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from './asn.ts';

export interface StoredCrl {
  url: string;
  der: Buffer;
  fetchedAt: number;
}

export class CrlDiskCache {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await chmod(this.#dir, 0o700);
  }

  /** Every stored CRL whose files are complete; unreadable entries are skipped. */
  async load(): Promise<StoredCrl[]> {
    const names = (await readdir(this.#dir)).filter((name) => /^[0-9a-f]{64}\.json$/.test(name));
    const stored: StoredCrl[] = [];
    for (const name of names) {
      try {
        const meta = JSON.parse(await readFile(join(this.#dir, name), 'utf8')) as {
          url?: unknown;
          fetchedAt?: unknown;
        };
        if (typeof meta.url !== 'string' || typeof meta.fetchedAt !== 'string') continue;
        if (`${sha256Hex(meta.url)}.json` !== name) continue;
        const der = await readFile(join(this.#dir, name.replace(/\.json$/, '.crl')));
        const fetchedAt = Date.parse(meta.fetchedAt);
        if (Number.isFinite(fetchedAt)) stored.push({ url: meta.url, der, fetchedAt });
      } catch {
        // A half-written or foreign file: the next download replaces it.
      }
    }
    return stored;
  }

  async save(entry: StoredCrl): Promise<void> {
    const base = join(this.#dir, sha256Hex(entry.url));
    // The DER first, then the JSON that makes it visible to load().
    await writeAtomically(`${base}.crl`, entry.der);
    await writeAtomically(
      `${base}.json`,
      `${JSON.stringify({ url: entry.url, fetchedAt: new Date(entry.fetchedAt).toISOString() })}\n`,
    );
  }
}

async function writeAtomically(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}
