/**
 * A small namespace-aware XML reader over saxes, and the escaping used by every template.
 * Elements are matched by namespace URI and local name, never by prefix: a client may bind the
 * EWS namespaces to any prefix, or use a default namespace (Microsoft's own samples do both).
 * DTDs are refused outright, so no entity expansion can happen (XXE, billion laughs).
 */
import { SaxesParser } from 'saxes';

export const NS = {
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  m: 'http://schemas.microsoft.com/exchange/services/2006/messages',
  t: 'http://schemas.microsoft.com/exchange/services/2006/types',
  e: 'http://schemas.microsoft.com/exchange/services/2006/errors',
} as const;

export interface XmlElement {
  ns: string;
  local: string;
  /** Attributes without a namespace, by local name (EWS attributes are unqualified). */
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

export function parseXml(source: string, maxDepth = 64): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let failure: Error | undefined;
  parser.on('doctype', () => {
    throw new XmlError('DTDs are not allowed');
  });
  parser.on('error', (error) => {
    failure ??= error;
  });
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    for (const attr of Object.values(tag.attributes)) {
      if (attr.uri === '') attrs[attr.local] = attr.value;
    }
    const element: XmlElement = { ns: tag.uri, local: tag.local, attrs, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent) parent.children.push(element);
    else root = element;
    stack.push(element);
    if (stack.length > maxDepth) throw new XmlError('document nested too deeply');
  });
  parser.on('text', (text) => {
    const current = stack.at(-1);
    if (current) current.text += text;
  });
  parser.on('cdata', (text) => {
    const current = stack.at(-1);
    if (current) current.text += text;
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  try {
    parser.write(source).close();
  } catch (error) {
    throw error instanceof XmlError ? error : new XmlError((error as Error).message);
  }
  if (failure) throw new XmlError(failure.message);
  if (!root) throw new XmlError('no root element');
  return root;
}

export function child(parent: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return parent?.children.find((c) => c.ns === ns && c.local === local);
}

export function children(parent: XmlElement | undefined, ns: string, local?: string): XmlElement[] {
  return (parent?.children ?? []).filter((c) => c.ns === ns && (local === undefined || c.local === local));
}

export function textOf(element: XmlElement | undefined): string | undefined {
  return element?.text.trim();
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Escape for both text and attribute values; strips characters XML 1.0 cannot carry. */
export function esc(value: string | number | boolean): string {
  return String(value)
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
