/**
 * What the config pipeline knows about a field beyond its type lives on the schema itself, so a
 * new key marked as a secret or a file path is hidden / resolved without editing a list elsewhere
 * (fastify keeps such knowledge in its JSON Schema; gorush's SanitizedCopy is a hand-kept list
 * that drifts, which is what this avoids).
 */
import { z } from 'zod';

export type FieldKind =
  /** The whole value is a secret: printed as `<hidden>`. */
  | 'secret'
  /** A file path: resolved against the config file's directory. */
  | 'path'
  /** A URL whose user and password are secrets (proxy URL). */
  | 'url-userinfo'
  /** The database URL: its password is a secret; a relative `sqlite:` path is resolved. */
  | 'database-url';

const fieldKinds = z.registry<{ kind: FieldKind }>();

/** Marks a value as secret. Apply last (after `.min()` etc.), since zod checks return clones. */
export function secret<T extends z.ZodType>(schema: T): T {
  fieldKinds.add(schema, { kind: 'secret' });
  return schema;
}

/** Marks a value as a file path resolved relative to the config file. */
export function filePath(schema: z.ZodString = z.string().min(1)): z.ZodString {
  fieldKinds.add(schema, { kind: 'path' });
  return schema;
}

export function markKind<T extends z.ZodType>(schema: T, kind: FieldKind): T {
  fieldKinds.add(schema, { kind });
  return schema;
}

/** Wrappers that do not change the shape of a value; walking the schema looks through them. */
function unwrapOnce(schema: z.ZodType): z.ZodType | undefined {
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodReadonly
  ) {
    return schema.unwrap() as z.ZodType;
  }
  // A transform is a pipe whose input side carries the shape the user writes.
  if (schema instanceof z.ZodPipe) return schema.in as z.ZodType;
  return undefined;
}

/** The kind a field was marked with, looking through optional/default/pipe wrappers. */
export function kindOf(schema: z.ZodType): FieldKind | undefined {
  for (let s: z.ZodType | undefined = schema; s; s = unwrapOnce(s)) {
    const meta = fieldKinds.get(s);
    if (meta) return meta.kind;
  }
  return undefined;
}

/** The innermost schema: an object, array, or leaf (string, number, boolean, enum, ...). */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let next = unwrapOnce(s); next; next = unwrapOnce(s)) s = next;
  return s;
}

export type LeafType = 'string' | 'number' | 'boolean' | 'enum' | 'string[]' | 'object[]' | 'other';

export function leafType(schema: z.ZodType): LeafType {
  const s = unwrap(schema);
  if (s instanceof z.ZodArray) {
    const element = unwrap(s.element as z.ZodType);
    return element instanceof z.ZodObject ? 'object[]' : 'string[]';
  }
  switch (s._zod.def.type) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return 'enum';
    default:
      return 'other';
  }
}

/** The allowed values of an enum leaf (for messages and docs). */
export function enumValues(schema: z.ZodType): string[] {
  const s = unwrap(schema);
  return s instanceof z.ZodEnum ? (s.options as string[]) : [];
}

/** The fields of an object schema, or undefined when the schema is not an object. */
export function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const s = unwrap(schema);
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

/** The schema of the value at `path` (keys and array indices), or undefined if there is none. */
export function schemaAt(root: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  for (const key of path) {
    if (!s) return undefined;
    const inner = unwrap(s);
    if (inner instanceof z.ZodArray && typeof key === 'number') s = inner.element as z.ZodType;
    else if (inner instanceof z.ZodObject && typeof key === 'string') s = objectShape(inner)?.[key];
    else return undefined;
  }
  return s;
}

/** `tenants[0].apps[1].apns.token`: the path notation every message uses. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Whether `value` is a plain mapping (what YAML and JSON objects are). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Sets an own property, even for the key `__proto__` (which plain assignment would turn into a
 * prototype change): config objects are built from untrusted YAML keys.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Calls `visit` for every marked field present in `value`, walking value and schema together.
 * `visit` returns the replacement value. Returns a new tree; `value` is not modified.
 */
export function mapMarked(
  schema: z.ZodType,
  value: unknown,
  visit: (kind: FieldKind, value: unknown, path: readonly PropertyKey[]) => unknown,
  path: PropertyKey[] = [],
): unknown {
  const kind = kindOf(schema);
  if (kind && value !== undefined) return visit(kind, value, path);
  const inner = unwrap(schema);
  if (Array.isArray(value) && inner instanceof z.ZodArray) {
    return value.map((item, i) => mapMarked(inner.element as z.ZodType, item, visit, [...path, i]));
  }
  const shape = objectShape(inner);
  if (shape && isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const field = shape[key];
      setOwn(out, key, field ? mapMarked(field, item, visit, [...path, key]) : item);
    }
    return out;
  }
  return value;
}
