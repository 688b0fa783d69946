import type { z } from 'zod';
import { formatPath, objectShape, schemaAt } from './meta.ts';

export interface ConfigIssue {
  /** Where in the configuration: `tenants[0].apps[0].apns.token`; '' for the file as a whole. */
  readonly path: string;
  readonly message: string;
  /** Where the value came from, when known: `herald.yaml:12:7` or `env HERALD_LISTEN_PORT`. */
  readonly source?: string;
}

/**
 * Every problem found in a configuration, all at once: an operator fixing a file should not
 * have to restart once per mistake.
 */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], heading = 'invalid configuration') {
    const frozen = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
    super(`${heading}:\n${frozen.map(formatIssue).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = frozen;
  }

  override toString(): string {
    return `${this.name}: ${this.message}`;
  }
}

function formatIssue(issue: ConfigIssue): string {
  const where = issue.source ? ` (${issue.source})` : '';
  return issue.path ? `  - ${issue.path}: ${issue.message}${where}` : `  - ${issue.message}${where}`;
}

/** Levenshtein distance, for "did you mean" hints on misspelt keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key closest to `key`, if it is close enough to be a plausible typo. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Up to a third of the key may differ: catches `tokn`, `keyfile`, `statusFrequency`... but not
  // unrelated words.
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Turns zod's issues into ours; an unrecognised key becomes one issue per key with its full path. */
export function issuesFromZod(schema: z.ZodType, error: z.ZodError): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const parent = schemaAt(schema, issue.path);
      const known = Object.keys((parent && objectShape(parent)) ?? {});
      for (const key of issue.keys) {
        const path = formatPath([...issue.path, key]);
        const hint = closestKey(key, known);
        const message = hint
          ? `unknown key "${path}"; did you mean "${hint}"?`
          : `unknown key "${path}" (known keys here: ${known.join(', ')})`;
        issues.push({ path, message });
      }
    } else {
      issues.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return issues;
}
