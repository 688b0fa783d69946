/**
 * Validates EWS message bodies against Microsoft's schemas in ../shared/specs/ews/ with libxml2
 * (xmllint compiled to WebAssembly, so no system package is needed). The SOAP envelope is not
 * covered by the schemas: pass the child element of soap:Body (see `soapBodyChild`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateXML } from 'xmllint-wasm';

const here = dirname(fileURLToPath(import.meta.url));
export const ewsSpecDir = resolve(here, '../../../shared/specs/ews');

let preload: { fileName: string; contents: string }[] | undefined;
function schemaFiles() {
  preload ??= ['ews.xsd', 'messages.xsd', 'types.xsd', 'xml.xsd'].map((fileName) => ({
    fileName,
    contents: readFileSync(join(ewsSpecDir, fileName), 'utf8'),
  }));
  return preload;
}

export interface SchemaResult {
  valid: boolean;
  errors: string[];
}

/** Validate one XML document (an EWS message element, not a SOAP envelope). */
export async function validateEwsBody(xml: string): Promise<SchemaResult> {
  const [entry, ...rest] = schemaFiles();
  const result = await validateXML({
    xml: [{ fileName: 'body.xml', contents: xml }],
    schema: [entry!],
    preload: rest,
  });
  return { valid: result.valid, errors: result.errors.map((e) => e.rawMessage) };
}

/**
 * Cut the first element child of soap:Body out of an envelope as a standalone document, carrying
 * over the namespace declarations of the envelope so prefixes still resolve. Text-level on
 * purpose: this is a test helper that must not share code with the parsers it checks.
 */
export function soapBodyChild(envelope: string): string {
  const bodyOpen = /<([A-Za-z_][\w.-]*:)?Body\b[^>]*>/.exec(envelope);
  if (!bodyOpen) throw new Error('no soap Body in envelope');
  const prefix = bodyOpen[1] ?? '';
  const bodyClose = envelope.lastIndexOf(`</${prefix}Body>`);
  if (bodyClose < 0) throw new Error('unterminated soap Body');
  const inner = envelope.slice(bodyOpen.index + bodyOpen[0].length, bodyClose).trim();
  const declarations = new Map<string, string>();
  for (const m of envelope.matchAll(/\sxmlns(:[\w.-]+)?="([^"]*)"/g)) {
    declarations.set(`xmlns${m[1] ?? ''}`, m[2]!);
  }
  const open = /^<([\w.:-]+)([^>]*?)(\/?)>/.exec(inner);
  if (!open) throw new Error('soap Body has no element child');
  const own = open[2]!;
  const extra = [...declarations]
    .filter(([name]) => !own.includes(`${name}=`))
    .map(([name, uri]) => ` ${name}="${uri}"`)
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?>\n<${open[1]}${extra}${own}${open[3]}>${inner.slice(open[0].length)}`;
}
