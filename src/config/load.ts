/**
 * The one config pipeline (STYLE habit 4): YAML file → `${VAR}` expansion → `HERALD_*`
 * overrides → schema (defaults, unknown keys rejected) → relative paths resolved → frozen.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { applyEnvOverrides } from './env.ts';
import { ConfigError, type ConfigIssue, issuesFromZod } from './errors.ts';
import { isPlainObject, mapMarked, setOwn } from './meta.ts';
import { configSchema, type HeraldConfig } from './schema.ts';
import { substitute } from './substitute.ts';

export interface LoadConfigOptions {
  /** The YAML file; defaults to `env.HERALD_CONFIG`; without either, defaults + env only. */
  file?: string;
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Base for a relative `file` and, without a file, for relative paths in the config. */
  cwd?: string;
}

interface ParsedFile {
  values: Record<string, unknown>;
  /** `file:line:col` of the deepest node of a path, for messages. */
  locate: (path: string) => string | undefined;
}

/** `tenants[0].apps` → ['tenants', 0, 'apps']. */
function splitPath(path: string): (string | number)[] {
  return [...path.matchAll(/\[(\d+)\]|[^.[\]]+/g)].map((m) => (m[1] === undefined ? m[0] : Number(m[1])));
}

function readYaml(file: string): ParsedFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `config file not found: ${file}`
        : `cannot read config file ${file} (${code ?? error})`;
    throw new ConfigError([{ path: '', message }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      // Only the first line of yaml's message: the rest quotes the source line, which may hold a secret.
      doc.errors.map((error) => ({
        path: '',
        message: `YAML syntax error: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        source: at(error.pos[0]),
      })),
      // `passphrase: ${P12_PASS}` inside `{ }` is a YAML error (`{` opens a flow mapping).
      text.includes('${') && /flow|\{|\}/.test(doc.errors.map((e) => e.message).join('\n'))
        ? `cannot parse ${file} (inside { } or [ ], quote \${VAR} references: "\${VAR}")`
        : `cannot parse ${file}`,
    );
  }
  const contents = doc.contents;
  if (contents !== null && !isMap(contents)) {
    const found = isSeq(contents) ? 'a list' : 'a single value';
    throw new ConfigError([
      { path: '', message: `the config file must be a mapping of keys, not ${found}`, source: file },
    ]);
  }
  const locate = (path: string): string | undefined => {
    let node: unknown = contents;
    let offset = contents?.range[0];
    for (const segment of splitPath(path)) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === segment);
        if (!pair) break;
        offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
        node = node.items[segment];
        offset = (node as { range?: [number, number, number] }).range?.[0] ?? offset;
      } else break;
    }
    return offset === undefined ? undefined : at(offset);
  };
  return { values: dropNulls(doc.toJS({ maxAliasCount: 100 }) ?? {}) as Record<string, unknown>, locate };
}

/** `key:` with nothing after it (or `~`) means "not set": the default applies. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== null) setOwn(out, key, dropNulls(item));
  return out;
}

function resolvePaths(config: unknown, base: string): unknown {
  return mapMarked(configSchema, config, (kind, value) => {
    if (typeof value !== 'string') return value;
    if (kind === 'path') return resolve(base, value);
    if (kind === 'database-url' && value.startsWith('sqlite:')) {
      const file = value.slice('sqlite:'.length);
      return file === ':memory:' || isAbsolute(file) ? value : `sqlite:${resolve(base, file)}`;
    }
    return value;
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

// zod reports a missing key as "expected string, received undefined"; operators read "required".
const errorMap: z.core.$ZodErrorMap = (issue) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

/** Loads, validates and freezes the configuration; throws {@link ConfigError} listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): HeraldConfig {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const named = options.file ?? (env.HERALD_CONFIG || undefined);
  const file = named === undefined ? undefined : resolve(cwd, named);
  const parsed = file ? readYaml(file) : undefined;

  const issues: ConfigIssue[] = [];
  const expanded = substitute(configSchema, parsed?.values ?? {}, env, issues) as Record<string, unknown>;
  const { config: raw, sources } = applyEnvOverrides(expanded, env, issues);
  const result = configSchema.safeParse(raw, { error: errorMap });
  if (!result.success) {
    // A value already reported (say, an unset ${VAR}) would also fail the schema; say it once.
    const reported = new Set(issues.map((issue) => issue.path));
    for (const issue of issuesFromZod(configSchema, result.error)) {
      if (!reported.has(issue.path)) issues.push(issue);
    }
  }
  if (!result.success || issues.length > 0) {
    throw new ConfigError(
      issues.map((issue) => {
        if (issue.source) return issue;
        const variable = sources.get(issue.path);
        if (variable) return { ...issue, source: `env ${variable}` };
        const source = issue.path ? parsed?.locate(issue.path) : file;
        return source ? { ...issue, source } : issue;
      }),
      file ? `invalid configuration in ${file}` : 'invalid configuration',
    );
  }
  return deepFreeze(resolvePaths(result.data, file ? dirname(file) : cwd) as HeraldConfig);
}
