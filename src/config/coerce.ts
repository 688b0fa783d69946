/**
 * Environment variables are strings; this turns one into the type of the key it sets, so
 * `HERALD_LISTEN_PORT=9000` and `port: ${PORT}` both give a number.
 */
import type { z } from 'zod';
import { enumValues, leafType } from './meta.ts';

export type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

const booleans: Record<string, boolean> = { true: true, false: false, '1': true, '0': false };

/** Lists are JSON (`["a","b"]`) or comma-separated (`a, b`); an empty string is an empty list. */
function coerceList(raw: string): Coerced {
  const text = raw.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, message: 'is not a valid JSON array' };
    }
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
      return { ok: false, message: 'must be a JSON array of strings' };
    }
    return { ok: true, value: parsed };
  }
  return {
    ok: true,
    value: text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  };
}

export function coerceString(schema: z.ZodType, raw: string): Coerced {
  switch (leafType(schema)) {
    case 'number': {
      const text = raw.trim();
      // Number('') is 0 and Number('0x10') is 16: accept only plain decimal numbers.
      if (!/^-?\d+(\.\d+)?$/.test(text)) return { ok: false, message: `"${raw}" is not a number` };
      return { ok: true, value: Number(text) };
    }
    case 'boolean': {
      const value = booleans[raw.trim().toLowerCase()];
      if (value === undefined)
        return { ok: false, message: `"${raw}" is not a boolean (true, false, 1 or 0)` };
      return { ok: true, value };
    }
    case 'enum': {
      const allowed = enumValues(schema);
      if (!allowed.includes(raw))
        return { ok: false, message: `"${raw}" is not one of ${allowed.join(', ')}` };
      return { ok: true, value: raw };
    }
    case 'string[]':
      return coerceList(raw);
    case 'object[]':
      return { ok: false, message: 'is a list of objects, which cannot be set from a string' };
    default:
      return { ok: true, value: raw };
  }
}
