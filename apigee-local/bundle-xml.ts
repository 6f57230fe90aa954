// XML of proxy bundles (proxy and target endpoints, policies), read with fast-xml-parser under
// limits checked before parsing: size, no DOCTYPE (so no entity is ever defined or expanded; only
// the five predefined entities and numeric character references are decoded), nesting depth, and
// (per bundle, in bundle.ts) the markup count that parsing time grows with.
// Well-formedness is fast-xml-parser's validator's verdict, reported with line and column.
import { EntityDecoder, XML } from '@nodable/entities';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const XML_LIMITS = {
  /** Characters in one XML file of a bundle (policies and endpoints are a few kB). */
  chars: 1024 * 1024,
  /** Nested elements (Apigee's own files nest fewer than 10 deep). */
  depth: 64,
  /**
   * Markup (`<` and `=` characters: tags, attributes) in all XML files of one bundle. Parsing costs
   * about 5-10 us per item and runs on the event loop the gateway shares; 100 000 items are at most
   * about a second, where a big real bundle (hundreds of policies) has a few thousand.
   */
  bundleMarkup: 100_000,
} as const;

/** Tags and attributes a document can hold at most: its `<` and `=` characters, counted without parsing. */
export function markupCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3c || c === 0x3d) count++;
  }
  return count;
}

export class BundleXmlError extends Error {
  override name = 'BundleXmlError';
}

/** One element: its attributes (own keys only), child elements in order, and its own text. */
export interface XmlElement {
  name: string;
  attributes: Readonly<Record<string, string>>;
  children: XmlElement[];
  /** The element's own text and CDATA, concatenated (child elements' text excluded). */
  text: string;
}

// Characters XML 1.0 never allows in a document; the validator lets some through.
const ILLEGAL_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const ATTRIBUTES = ':@';
const TEXT = '#text';

function parser(): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    // The parser refuses an element only when more than maxNestedTags elements are open above it,
    // so it lets maxNestedTags + 1 levels through.
    maxNestedTags: XML_LIMITS.depth - 1,
    // A fresh decoder per document: the five XML entities and &#…; references, nothing defined later.
    entityDecoder: new EntityDecoder({ namedEntities: XML, numericAllowed: true, ncr: { nullNCR: 'throw' } }),
  });
}

/** Parses one bundle XML document and returns its root element; BundleXmlError when it is refused. */
export function parseBundleXml(input: string): XmlElement {
  if (input.length > XML_LIMITS.chars) throw new BundleXmlError(`larger than ${XML_LIMITS.chars} characters`);
  const text = input.replace(/^\uFEFF/, '');
  if (/<!DOCTYPE/i.test(text)) throw new BundleXmlError('DOCTYPE is not allowed (no DTDs or custom entities in proxy bundles)');
  const illegal = ILLEGAL_CHAR.exec(text);
  if (illegal) throw new BundleXmlError(`illegal character U+${illegal[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`);
  const verdict = XMLValidator.validate(text);
  if (verdict !== true) throw new BundleXmlError(`${verdict.err.msg} (line ${verdict.err.line}, column ${verdict.err.col})`);
  let nodes: unknown[];
  try {
    nodes = parser().parse(text) as unknown[];
  } catch (error) {
    throw new BundleXmlError((error as Error).message);
  }
  const roots = nodes.map(toElement).filter((e): e is XmlElement => e !== undefined);
  if (roots.length !== 1) throw new BundleXmlError(roots.length === 0 ? 'no root element' : 'more than one root element');
  return roots[0]!;
}

/** fast-xml-parser's ordered node ({name: children, ":@": attributes}) → XmlElement; text nodes → undefined. */
function toElement(node: unknown): XmlElement | undefined {
  const record = node as Record<string, unknown>;
  const name = Object.keys(record).find((k) => k !== ATTRIBUTES);
  if (name === undefined || name === TEXT) return undefined;
  const attributes: Record<string, string> = Object.create(null);
  const raw = record[ATTRIBUTES] as Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(raw ?? {})) attributes[key] = String(value);
  const element: XmlElement = { name, attributes, children: [], text: '' };
  for (const child of record[name] as unknown[]) {
    const c = child as Record<string, unknown>;
    if (Object.hasOwn(c, TEXT)) element.text += String(c[TEXT]);
    else {
      const el = toElement(child);
      if (el) element.children.push(el);
    }
  }
  return element;
}

/** The first child element called `name`, if any. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Every child element called `name`. */
export function children(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** An attribute's value when the element has it (own key), else undefined. */
export function attribute(el: XmlElement, name: string): string | undefined {
  return Object.hasOwn(el.attributes, name) ? el.attributes[name] : undefined;
}
