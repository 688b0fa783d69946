/**
 * Template names: a subject DN template such as `CN={DeviceUid},O=Contoso` and SAN templates such
 * as `{EmailAddress}`, filled with the four lookup values of the MS PKI/ENS guide. The DN template
 * is parsed into attributes *before* filling and each value is placed as a whole, so a lookup
 * value containing `,` `+` or `=` stays data and can never add an attribute (no DN injection).
 */
import type { PkiLookupValues } from '../store/index.ts';
import { PkiError } from './errors.ts';
import { x509 } from './x509.ts';

export const LOOKUP_KEYS = ['EnrollmentUser', 'DeviceUid', 'EmailAddress', 'UserPrincipalName'] as const;
export type LookupKey = (typeof LOOKUP_KEYS)[number];
export type LookupValues = PkiLookupValues;

/** Attribute types a subject template may use, by the short names admins know (RFC 4514, X.520). */
const ATTRIBUTE_OIDS: Readonly<Record<string, string>> = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  SERIALNUMBER: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  T: '2.5.4.12',
  G: '2.5.4.42',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  E: '1.2.840.113549.1.9.1',
  EMAIL: '1.2.840.113549.1.9.1',
};
/** IA5String attributes (PKCS #9 emailAddress, RFC 4519 dc). */
const IA5_OIDS = new Set(['1.2.840.113549.1.9.1', '0.9.2342.19200300.100.1.25']);
const COUNTRY_OID = '2.5.4.6';
const MAX_VALUE_LENGTH = 256;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface DnAttributeTemplate {
  type: string;
  oid: string;
  /** The value as written, with placeholders. */
  value: string;
  /** Starts a new RDN (`,`) rather than joining the previous one (`+`). */
  newRdn: boolean;
}

/** Splits `text` at unescaped `,` and `+`, undoing `\` escapes (RFC 4514 §2.4, minus hex pairs). */
function splitDn(text: string): { part: string; newRdn: boolean }[] {
  const parts: { part: string; newRdn: boolean }[] = [];
  let current = '';
  let newRdn = true;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) throw invalidTemplate(`the subject "${text}" ends with a lone backslash`);
      current += ch + next;
      i++;
    } else if (ch === ',' || ch === '+') {
      parts.push({ part: current, newRdn });
      current = '';
      newRdn = ch === ',';
    } else {
      current += ch;
    }
  }
  parts.push({ part: current, newRdn });
  return parts;
}

function unescapeDn(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

function invalidTemplate(message: string): PkiError {
  return new PkiError('pki_invalid_template', message);
}

/** The placeholder names in `text`; unknown names and stray braces are errors. */
export function placeholders(text: string, where: string): LookupKey[] {
  const found: LookupKey[] = [];
  const stripped = text.replace(/\{([^{}]*)\}/g, (_, name: string) => {
    if (!(LOOKUP_KEYS as readonly string[]).includes(name)) {
      throw invalidTemplate(
        `${where}: unknown placeholder {${name}}; use ${LOOKUP_KEYS.map((k) => `{${k}}`).join(', ')}`,
      );
    }
    found.push(name as LookupKey);
    return '';
  });
  if (/[{}]/.test(stripped)) throw invalidTemplate(`${where}: unbalanced { } in "${text}"`);
  return found;
}

/** Parses and checks a subject DN template; the attributes in the order written. */
export function parseSubjectTemplate(subject: string): DnAttributeTemplate[] {
  if (subject.trim() === '') throw invalidTemplate('the subject template is empty');
  return splitDn(subject).map(({ part, newRdn }) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalidTemplate(`subject: "${part.trim()}" is not TYPE=value`);
    const type = part.slice(0, eq).trim();
    const oid = /^\d+(\.\d+)+$/.test(type) ? type : ATTRIBUTE_OIDS[type.toUpperCase()];
    if (oid === undefined) {
      throw invalidTemplate(
        `subject: unknown attribute type ${type}; use ${Object.keys(ATTRIBUTE_OIDS).join(', ')} or an OID`,
      );
    }
    const value = unescapeDn(part.slice(eq + 1).trim());
    if (value === '') throw invalidTemplate(`subject: ${type} has no value`);
    placeholders(value, `subject ${type}`);
    return { type, oid, value, newRdn };
  });
}

/** Substitutes the lookup values into `text`. */
export function fillText(text: string, values: LookupValues, where: string): string {
  placeholders(text, where);
  return text.replace(/\{([^{}]*)\}/g, (_, name: LookupKey) => {
    const value = values[name];
    if (value === undefined || value === '') {
      throw new PkiError('pki_invalid_values', `${where} needs {${name}}, and no value was given for it`);
    }
    return value;
  });
}

/** Checks lookup values: only the four keys, no control characters, plausible addresses. */
export function checkLookupValues(values: Record<string, unknown>): LookupValues {
  const out: LookupValues = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!(LOOKUP_KEYS as readonly string[]).includes(key)) {
      throw new PkiError('pki_invalid_values', `unknown lookup value ${key}; use ${LOOKUP_KEYS.join(', ')}`);
    }
    if (typeof value !== 'string' || value.trim() === '') {
      throw new PkiError('pki_invalid_values', `${key} must be a non-empty string`);
    }
    if (value.length > MAX_VALUE_LENGTH || CONTROL.test(value)) {
      throw new PkiError(
        'pki_invalid_values',
        `${key} must be at most ${MAX_VALUE_LENGTH} characters without control characters`,
      );
    }
    if ((key === 'EmailAddress' || key === 'UserPrincipalName') && !ADDRESS.test(value)) {
      throw new PkiError('pki_invalid_values', `${key} must look like name@domain`);
    }
    out[key as LookupKey] = value.trim();
  }
  return out;
}

const ADDRESS = /^[^\s@]+@[^\s@]+$/;
// rfc822Name is an IA5String (RFC 5280 §4.2.1.6): ASCII only.
const ASCII_ADDRESS = /^[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+$/;

export interface FilledNames {
  subject: x509.Name;
  /** RFC 4514-style text, e.g. `CN=dev-1, O=Contoso`. */
  subjectText: string;
  sanEmail: string | null;
  sanUpn: string | null;
}

export interface NameTemplate {
  subject: string;
  sanEmail: string | null;
  sanUpn: string | null;
}

function attributeValue(oid: string, value: string): Record<string, string> {
  if (IA5_OIDS.has(oid)) {
    if (!/^[\x20-\x7e]*$/.test(value)) {
      throw new PkiError('pki_invalid_values', 'an email or DC subject attribute must be ASCII');
    }
    return { ia5String: value };
  }
  if (oid === COUNTRY_OID) {
    if (!/^[A-Z]{2}$/.test(value))
      throw new PkiError('pki_invalid_values', 'C must be a two-letter country code');
    return { printableString: value };
  }
  return x509.Name.isPrintableString(value) ? { printableString: value } : { utf8String: value };
}

/** Builds a subject Name from parsed attributes and values (each value placed as a whole). */
export function buildName(attributes: readonly { oid: string; value: string; newRdn: boolean }[]): x509.Name {
  const rdns: Record<string, Record<string, string>[]>[] = [];
  for (const attribute of attributes) {
    if (attribute.value.length > MAX_VALUE_LENGTH || CONTROL.test(attribute.value)) {
      throw new PkiError('pki_invalid_values', 'a subject value is too long or has control characters');
    }
    const value = attributeValue(attribute.oid, attribute.value);
    const last = rdns[rdns.length - 1];
    if (attribute.newRdn || last === undefined) {
      rdns.push({ [attribute.oid]: [value] });
    } else {
      const values = last[attribute.oid] ?? [];
      values.push(value);
      last[attribute.oid] = values;
    }
  }
  return new x509.Name(rdns as unknown as x509.JsonNameParams);
}

function filledAddress(template: string | null, values: LookupValues, what: string, ascii: boolean) {
  if (template === null) return null;
  const value = fillText(template, values, what);
  if (!(ascii ? ASCII_ADDRESS : ADDRESS).test(value)) {
    throw new PkiError(
      'pki_invalid_values',
      `${what} must fill to name@domain${ascii ? ' in ASCII (an rfc822Name is IA5String)' : ''}`,
    );
  }
  return value;
}

export function fillSubject(subjectTemplate: string, values: LookupValues): x509.Name {
  const checked = checkLookupValues(values);
  return buildName(
    parseSubjectTemplate(subjectTemplate).map((attribute) => ({
      oid: attribute.oid,
      newRdn: attribute.newRdn,
      value: fillText(attribute.value, checked, `subject ${attribute.type}`),
    })),
  );
}

/** The template's SANs filled with `values` (null where the template has none). */
export function fillSans(
  template: Pick<NameTemplate, 'sanEmail' | 'sanUpn'>,
  values: LookupValues,
): Pick<FilledNames, 'sanEmail' | 'sanUpn'> {
  const checked = checkLookupValues(values);
  return {
    sanEmail: filledAddress(template.sanEmail, checked, 'SAN email', true),
    sanUpn: filledAddress(template.sanUpn, checked, 'SAN UPN', false),
  };
}

/** Checks a SAN a request asks for (static challenge): an address, ASCII for rfc822Name. */
export function checkRequestedAddress(value: string | null, kind: 'email' | 'upn'): string | null {
  if (value === null) return null;
  if (!(kind === 'email' ? ASCII_ADDRESS : ADDRESS).test(value) || value.length > MAX_VALUE_LENGTH) {
    throw new PkiError(
      'pki_invalid_csr',
      `the request's ${kind === 'email' ? 'email' : 'UPN'} SAN is not name@domain`,
    );
  }
  return value;
}

/**
 * Fills a template's subject and SANs with `values`. Unknown placeholders and missing values are
 * errors naming the placeholder; values are never parsed as DN syntax.
 */
export function fillTemplate(template: NameTemplate, values: LookupValues): FilledNames {
  const subject = fillSubject(template.subject, values);
  return { subject, subjectText: subject.toString(), ...fillSans(template, values) };
}
