/**
 * A small, namespace-aware, bounded XML reader on top of saxes. Elements are looked up by
 * namespace URI + local name, never by prefix: Exchange and proxies in front of it are free to
 * pick any prefix (or a default namespace), and a prefix alone proves nothing.
 *
 * Hostile input is expected (the push callback is reachable from the network), so:
 * - DTDs are refused outright: no internal subset, hence no entity declarations, hence neither
 *   XXE (external entities) nor billion-laughs (nested entity expansion) can happen;
 * - only the five predefined entities and character references are expanded (saxes's default;
 *   any other entity reference is a parse error);
 * - input size, nesting depth, element count, text and attribute length are bounded, and every
 *   violation is a typed error thrown synchronously: the reader never hangs and never throws
 *   anything else.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';

export type XmlErrorCode =
  | 'malformed'
  | 'doctype_forbidden'
  | 'unexpected_structure'
  | 'too_large'
  | 'too_deep'
  | 'too_many_elements'
  | 'text_too_long';

/** Base class of every error this reader (and the EWS parsers built on it) throws for bad input. */
export class XmlError extends Error {
  readonly code: XmlErrorCode;
  constructor(code: XmlErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'XmlError';
    this.code = code;
  }
}

/** The input is not well-formed XML, carries a DTD, or is not the message we expected. */
export class XmlParseError extends XmlError {
  constructor(
    code: 'malformed' | 'doctype_forbidden' | 'unexpected_structure',
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'XmlParseError';
  }
}

/** The input exceeds one of the reader's hard limits. */
export class XmlLimitError extends XmlError {
  readonly limit: number;
  constructor(code: 'too_large' | 'too_deep' | 'too_many_elements' | 'text_too_long', limit: number) {
    super(code, `XML input exceeds the ${code.replaceAll('_', ' ').replace('too ', '')} limit of ${limit}`);
    this.name = 'XmlLimitError';
    this.limit = limit;
  }
}

export interface XmlLimits {
  /** Maximum input size in bytes (UTF-8). */
  maxBytes: number;
  /** Maximum element nesting depth (the root element is depth 1). */
  maxDepth: number;
  /** Maximum number of elements in the document. */
  maxElements: number;
  /** Maximum length (UTF-16 code units) of the text directly inside one element, and of an attribute. */
  maxTextLength: number;
}

export const defaultXmlLimits: Readonly<XmlLimits> = Object.freeze({
  maxBytes: 1024 * 1024,
  maxDepth: 64,
  maxElements: 10_000,
  maxTextLength: 256 * 1024,
});

export interface XmlElement {
  /** Namespace URI; '' when the element is in no namespace. */
  readonly ns: string;
  readonly local: string;
  /** Attributes keyed by `local` (no namespace) or `{uri}local` (namespaced). */
  readonly attributes: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  /** Concatenated character data directly inside this element (text and CDATA). */
  readonly text: string;
  readonly parent: XmlElement | undefined;
  /** Resolve a prefix in this element's scope (for QName-valued content such as faultcode). */
  lookupNamespace(prefix: string): string | undefined;
}

interface MutableElement extends XmlElement {
  children: XmlElement[];
  text: string;
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

function decode(input: string | Uint8Array, maxBytes: number): string {
  if (typeof input === 'string') {
    // Cheap bound first (UTF-8 needs at most 3 bytes per UTF-16 unit), exact count only if needed.
    if (input.length * 3 > maxBytes && Buffer.byteLength(input, 'utf8') > maxBytes) {
      throw new XmlLimitError('too_large', maxBytes);
    }
    return input;
  }
  if (input.byteLength > maxBytes) throw new XmlLimitError('too_large', maxBytes);
  try {
    // EWS speaks UTF-8 only; a byte sequence that is not UTF-8 is malformed, not "best effort".
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(input);
  } catch (cause) {
    throw new XmlParseError('malformed', 'XML input is not valid UTF-8', { cause });
  }
}

/** Parse a whole document and return its root element. */
export function parseXml(input: string | Uint8Array, limits: Partial<XmlLimits> = {}): XmlElement {
  const max: XmlLimits = { ...defaultXmlLimits, ...limits };
  const source = decode(input, max.maxBytes);
  // Refuse before parsing: a DTD is never part of a SOAP message (SOAP 1.1 section 3 forbids it)
  // and rejecting it here keeps entity declarations away from the parser entirely.
  if (/<!DOCTYPE/i.test(source)) throw new XmlParseError('doctype_forbidden', 'XML with a DTD is refused');

  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: MutableElement[] = [];
  let root: MutableElement | undefined;
  let count = 0;

  const appendText = (text: string) => {
    const top = stack.at(-1);
    if (!top) return; // whitespace outside the root; saxes rejects anything else there
    if (top.text.length + text.length > max.maxTextLength) {
      throw new XmlLimitError('text_too_long', max.maxTextLength);
    }
    top.text += text;
  };

  parser.on('error', (err) => {
    throw new XmlParseError('malformed', `XML is not well-formed: ${err.message}`, { cause: err });
  });
  parser.on('doctype', () => {
    throw new XmlParseError('doctype_forbidden', 'XML with a DTD is refused');
  });
  parser.on('opentagstart', () => {
    count += 1;
    if (count > max.maxElements) throw new XmlLimitError('too_many_elements', max.maxElements);
    if (stack.length + 1 > max.maxDepth) throw new XmlLimitError('too_deep', max.maxDepth);
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    const parent = stack.at(-1);
    const attributes = new Map<string, string>();
    for (const attr of Object.values(tag.attributes)) {
      if (attr.prefix === 'xmlns' || attr.name === 'xmlns') continue;
      if (attr.value.length > max.maxTextLength) throw new XmlLimitError('text_too_long', max.maxTextLength);
      attributes.set(attr.uri ? `{${attr.uri}}${attr.local}` : attr.local, attr.value);
    }
    const declared = tag.ns;
    const element: MutableElement = {
      ns: tag.uri,
      local: tag.local,
      attributes,
      children: [],
      text: '',
      parent,
      lookupNamespace(prefix: string): string | undefined {
        if (prefix === 'xml') return XML_NS;
        if (Object.hasOwn(declared, prefix)) return declared[prefix] || undefined;
        return parent?.lookupNamespace(prefix);
      },
    };
    if (parent) parent.children.push(element);
    else root = element;
    stack.push(element);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('text', appendText);
  parser.on('cdata', appendText);

  try {
    parser.write(source).close();
  } catch (err) {
    if (err instanceof XmlError) throw err;
    // saxes reports through the handler above; anything else escaping it is still bad input.
    throw new XmlParseError('malformed', 'XML is not well-formed', { cause: err });
  }
  if (!root) throw new XmlParseError('malformed', 'XML document has no root element');
  return root;
}

// ---- navigation helpers: by namespace URI + local name only ----

export function isElement(el: XmlElement | undefined, ns: string, local: string): el is XmlElement {
  return el !== undefined && el.ns === ns && el.local === local;
}

export function child(el: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return el?.children.find((c) => c.ns === ns && c.local === local);
}

export function childrenOf(el: XmlElement | undefined, ns: string, local: string): XmlElement[] {
  return el ? el.children.filter((c) => c.ns === ns && c.local === local) : [];
}

/** Trimmed text of a child element, or undefined when the child is absent. */
export function childText(el: XmlElement | undefined, ns: string, local: string): string | undefined {
  return child(el, ns, local)?.text.trim();
}

/** An attribute by local name and namespace ('' = unqualified, the usual case in EWS). */
export function attr(el: XmlElement | undefined, local: string, ns = ''): string | undefined {
  return el?.attributes.get(ns ? `{${ns}}${local}` : local);
}

/** Depth-first search for the first descendant with this name. */
export function descendant(el: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  if (!el) return undefined;
  for (const c of el.children) {
    if (c.ns === ns && c.local === local) return c;
    const found = descendant(c, ns, local);
    if (found) return found;
  }
  return undefined;
}

/** Resolve a QName written in element content (e.g. `soap:Client`) against that element's scope. */
export function resolveQName(el: XmlElement, qname: string): { ns: string; local: string } {
  const colon = qname.indexOf(':');
  const prefix = colon < 0 ? '' : qname.slice(0, colon);
  const local = colon < 0 ? qname : qname.slice(colon + 1);
  return { ns: el.lookupNamespace(prefix) ?? '', local };
}
