/**
 * `HERALD_<PATH>` environment overrides. The names are derived by walking the schema, so every
 * new key gets a variable without a hand-kept table, and a name that matches no key is an error
 * (a misspelt override silently ignored is the worst kind of config bug).
 */
import type { z } from 'zod';
import { coerceString } from './coerce.ts';
import { type ConfigIssue, closestKey } from './errors.ts';
import { enumValues, formatPath, isPlainObject, leafType, objectShape, schemaAt, setOwn } from './meta.ts';
import { configSchema } from './schema.ts';

export interface EnvVariable {
  /** `HERALD_LISTEN_PORT` */
  readonly name: string;
  /** `listen.port` */
  readonly path: string;
  readonly type: 'string' | 'number' | 'boolean' | 'enum' | 'list';
  /** The allowed values of an enum. */
  readonly values?: readonly string[];
}

/** `HERALD_` variables that are not config keys: the file itself, and test harness switches. */
const reserved = (name: string) => name === 'HERALD_CONFIG' || name.startsWith('HERALD_TEST_');

/** `statusFrequencyMinutes` → `STATUS_FREQUENCY_MINUTES`. */
function upperSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

interface Entry extends EnvVariable {
  readonly segments: readonly string[];
}

/** Names that would set a list of objects, for a precise error message. */
const fileOnly = new Map<string, string>();

function collect(schema: z.ZodType, segments: string[], out: Entry[]): void {
  const shape = objectShape(schema);
  if (shape) {
    for (const [key, field] of Object.entries(shape)) collect(field, [...segments, key], out);
    return;
  }
  const type = leafType(schema);
  const name = `HERALD_${segments.map(upperSnake).join('_')}`;
  // Lists of objects (tenants, apps) have no natural flat name; they come from the file only.
  if (type === 'object[]') fileOnly.set(name, formatPath(segments));
  if (type === 'object[]' || type === 'other') return;
  const entry: Entry = {
    name,
    path: formatPath(segments),
    segments,
    type: type === 'string[]' ? 'list' : type,
    ...(type === 'enum' ? { values: enumValues(schema) } : {}),
  };
  out.push(entry);
}

function buildTable(schema: z.ZodType): ReadonlyMap<string, Entry> {
  const entries: Entry[] = [];
  collect(schema, [], entries);
  const table = new Map<string, Entry>();
  for (const entry of entries) {
    const other = table.get(entry.name);
    // Two keys with one name would make an override ambiguous: fail when the schema is wrong,
    // not when an operator happens to set the variable.
    if (other) throw new Error(`${entry.name} would name both ${other.path} and ${entry.path}`);
    if (reserved(entry.name)) throw new Error(`${entry.name} (${entry.path}) collides with a reserved name`);
    table.set(entry.name, entry);
  }
  return table;
}

// Derived once from the constant schema; it holds no state that changes.
const table = buildTable(configSchema);

/** Every `HERALD_*` variable that sets a key, with the key's path and type (for docs). */
export function envVariableNames(): EnvVariable[] {
  return [...table.values()].map(({ segments: _, ...entry }) => entry);
}

/**
 * Sets `value` at `segments`, copying the objects on the way so the caller's tree is untouched.
 * Returns the path of a non-mapping in the way, if any.
 */
function setAt(
  root: Record<string, unknown>,
  segments: readonly string[],
  value: unknown,
): string | undefined {
  let target = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i]!;
    const next = target[key];
    if (next !== undefined && !isPlainObject(next)) return formatPath(segments.slice(0, i + 1));
    const copy = { ...next };
    setOwn(target, key, copy);
    target = copy;
  }
  setOwn(target, segments.at(-1)!, value);
  return undefined;
}

/**
 * Applies `HERALD_*` overrides from `env` onto `raw` (the file's values, not yet validated).
 * Returns the result and, per overridden path, the variable that set it (for error messages).
 */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
): { config: Record<string, unknown>; sources: Map<string, string> } {
  const config = { ...raw };
  const sources = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('HERALD_') || reserved(name) || value === undefined) continue;
    const source = `env ${name}`;
    const entry = table.get(name);
    const listPath = fileOnly.get(name);
    if (listPath) {
      issues.push({
        path: listPath,
        message: `${name}: ${listPath} is a list of objects; set it in the config file`,
      });
      continue;
    }
    if (!entry) {
      const hint = closestKey(name, [...table.keys()]);
      const message = `unknown environment variable ${name}${hint ? `; did you mean ${hint}?` : ''}`;
      issues.push({ path: '', message });
      continue;
    }
    const coerced = coerceString(schemaAt(configSchema, entry.segments)!, value);
    if (!coerced.ok) {
      issues.push({ path: entry.path, message: coerced.message, source });
      continue;
    }
    const conflict = setAt(config, entry.segments, coerced.value);
    if (conflict !== undefined) {
      issues.push({ path: conflict, message: `must be a mapping to apply ${name}`, source });
      continue;
    }
    sources.set(entry.path, name);
  }
  return { config, sources };
}
