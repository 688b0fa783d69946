/**
 * `${VAR}` references in the config file, expanded from the environment.
 *
 * Expansion runs on the parsed YAML values, never on the raw text: a secret that contains
 * `: `, `#`, a newline or `{` stays one string and cannot add keys to the configuration.
 */
import type { z } from 'zod';
import { coerceString } from './coerce.ts';
import type { ConfigIssue } from './errors.ts';
import { formatPath, isPlainObject, schemaAt, setOwn } from './meta.ts';

// `$${` is an escaped literal `${`; `${...}` a reference; a lone `${` an unterminated one.
const reference = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const nameAndDefault = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

type Expanded = { text: string; expanded: boolean };

function expandString(text: string, env: NodeJS.ProcessEnv, path: string, issues: ConfigIssue[]): Expanded {
  let expanded = false;
  const result = text.replace(reference, (match, body: string | undefined) => {
    if (match === '$${') return '${';
    if (body === undefined) {
      issues.push({ path, message: 'unterminated "${" reference (write "$${" for a literal "${")' });
      return match;
    }
    const parts = nameAndDefault.exec(body);
    if (!parts) {
      issues.push({
        path,
        message: `malformed reference "\${${body}}": expected \${NAME} or \${NAME:-default}`,
      });
      return match;
    }
    const [, name, fallback] = parts as unknown as [string, string, string | undefined];
    expanded = true;
    const value = env[name];
    // As in the shell, `:-` applies when the variable is unset or empty.
    if (fallback !== undefined && (value === undefined || value === '')) return fallback;
    if (value === undefined) {
      issues.push({ path, message: `environment variable ${name} is not set` });
      return '';
    }
    return value;
  });
  return { text: result, expanded };
}

/**
 * Expands every string in `value`. A string that contained a reference is coerced to the type of
 * its key (`port: ${PORT}` gives a number); literal YAML values are left for the schema to judge.
 */
export function substitute(
  schema: z.ZodType,
  value: unknown,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    const where = formatPath(path);
    const { text, expanded } = expandString(value, env, where, issues);
    if (!expanded) return text;
    const field = schemaAt(schema, path);
    if (!field) return text; // an unknown key: the schema reports it
    const coerced = coerceString(field, text);
    if (coerced.ok) return coerced.value;
    issues.push({ path: where, message: `after \${...} expansion, ${coerced.message}` });
    return text;
  }
  if (Array.isArray(value))
    return value.map((item, i) => substitute(schema, item, env, issues, [...path, i]));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      setOwn(out, key, substitute(schema, item, env, issues, [...path, key]));
    return out;
  }
  return value;
}
