// API proxy bundles: unzip under limits (bundle-zip.ts), parse the XML (bundle-xml.ts) and keep
// the parts the runtime needs: base paths, route rules and each TargetEndpoint's
// HTTPTargetConnection. Policies are listed but not executed by the stand-in.
import { posix } from 'node:path';
import { LIMITS, unzipBundle } from './bundle-zip.ts';
import { attribute, BundleXmlError, child, children, markupCount, parseBundleXml, XML_LIMITS, type XmlElement } from './bundle-xml.ts';
import { unknownCipher } from './ciphers.ts';
import { invalid } from './errors.ts';
import type { TlsInfo } from './state.ts';

export const MAX_BUNDLE_BYTES = LIMITS.zipBytes;

export interface RouteRuleModel {
  name: string;
  targetEndpoint?: string;
  condition?: string;
}
export interface ProxyEndpointModel {
  name: string;
  basePath: string;
  routeRules: RouteRuleModel[];
}
export interface TargetEndpointModel {
  name: string;
  /** URL form of HTTPTargetConnection. */
  url?: string;
  /** LoadBalancer form: target server names. */
  servers: string[];
  /** Path appended to a LoadBalancer target server. */
  path?: string;
  sslInfo?: TlsInfo;
  properties: Record<string, string>;
}
export interface BundleModel {
  name: string;
  description?: string;
  displayName?: string;
  basepaths: string[];
  proxyEndpoints: ProxyEndpointModel[];
  targetEndpoints: TargetEndpointModel[];
  policies: string[];
  resources: string[];
}

const textOf = (el: XmlElement | undefined): string | undefined => {
  const t = el?.text.trim();
  return t === undefined || t === '' ? undefined : t;
};
const boolOf = (el: XmlElement | undefined): boolean | undefined => {
  const t = textOf(el)?.toLowerCase();
  return t === undefined ? undefined : t === 'true';
};

function parseXml(name: string, text: string): XmlElement {
  try {
    return parseBundleXml(text);
  } catch (error) {
    if (!(error instanceof BundleXmlError)) throw error;
    throw invalid(`bundle file ${name} is not valid XML: ${error.message}`);
  }
}

/**
 * Every XML file of the bundle parsed once, so a broken one is refused even if the stand-in does
 * not use it. The markup budget is checked on all files before any is parsed, and the event loop
 * gets a turn between files (the gateway runs in this process).
 */
async function parseAllXml(files: Map<string, Uint8Array>, names: string[]): Promise<Map<string, XmlElement>> {
  const texts = new Map(names.map((name) => [name, Buffer.from(files.get(name)!).toString('utf8')]));
  let markup = 0;
  for (const text of texts.values()) markup += markupCount(text);
  if (markup > XML_LIMITS.bundleMarkup) {
    throw invalid(`bundle XML holds ${markup} tags and attributes; the limit for one bundle is ${XML_LIMITS.bundleMarkup}`);
  }
  const parsed = new Map<string, XmlElement>();
  for (const [name, text] of texts) {
    parsed.set(name, parseXml(name, text));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return parsed;
}

function parseSslInfo(el: XmlElement | undefined): TlsInfo | undefined {
  if (!el) return undefined;
  const list = (parent: string, item: string) => {
    const p = child(el, parent);
    return p ? children(p, item).map(textOf).filter((v): v is string => v !== undefined) : undefined;
  };
  const info: TlsInfo = {
    enabled: boolOf(child(el, 'Enabled')),
    clientAuthEnabled: boolOf(child(el, 'ClientAuthEnabled')),
    keyStore: textOf(child(el, 'KeyStore')),
    keyAlias: textOf(child(el, 'KeyAlias')),
    trustStore: textOf(child(el, 'TrustStore')),
    ignoreValidationErrors: boolOf(child(el, 'IgnoreValidationErrors')),
    enforce: boolOf(child(el, 'Enforce')),
    protocols: list('Protocols', 'Protocol'),
    ciphers: list('Ciphers', 'Cipher'),
  };
  const cn = child(el, 'CommonName');
  if (cn) info.commonName = { value: textOf(cn), wildcardMatch: attribute(cn, 'wildcardMatch') === 'true' };
  return JSON.parse(JSON.stringify(info)) as TlsInfo; // drop undefined fields
}

function parseTarget(file: string, root: XmlElement): TargetEndpointModel {
  if (root.name !== 'TargetEndpoint') throw invalid(`${file}: root element must be TargetEndpoint, found ${root.name}`);
  const name = attribute(root, 'name') ?? posix.basename(file, '.xml');
  const conn = child(root, 'HTTPTargetConnection');
  if (!conn) throw invalid(`${file}: TargetEndpoint "${name}" has no HTTPTargetConnection (only HTTP targets are supported)`);
  const url = textOf(child(conn, 'URL'));
  const lb = child(conn, 'LoadBalancer');
  const servers = lb ? children(lb, 'Server').map((s) => attribute(s, 'name') ?? '').filter(Boolean) : [];
  if (!url && servers.length === 0) throw invalid(`${file}: HTTPTargetConnection needs a URL or a LoadBalancer with at least one Server`);
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalid(`${file}: target URL "${url}" is not a valid URL`);
    }
    if (!['http:', 'https:'].includes(parsed.protocol)) throw invalid(`${file}: target URL must be http or https, got "${url}"`);
  }
  const properties: Record<string, string> = Object.create(null);
  const propertyList = child(conn, 'Properties');
  for (const property of propertyList ? children(propertyList, 'Property') : []) {
    const key = attribute(property, 'name');
    if (key) properties[key] = textOf(property) ?? '';
  }
  const model: TargetEndpointModel = { name, servers, properties };
  if (url) model.url = url;
  const path = textOf(child(conn, 'Path'));
  if (path) model.path = path;
  const ssl = parseSslInfo(child(conn, 'SSLInfo'));
  const badCipher = unknownCipher(ssl?.ciphers ?? []);
  if (badCipher) throw invalid(`${file}: SSLInfo Ciphers: ${badCipher}`);
  if (ssl) model.sslInfo = ssl;
  return model;
}

function parseProxy(file: string, root: XmlElement): ProxyEndpointModel {
  if (root.name !== 'ProxyEndpoint') throw invalid(`${file}: root element must be ProxyEndpoint, found ${root.name}`);
  const name = attribute(root, 'name') ?? posix.basename(file, '.xml');
  const basePath = textOf(child(child(root, 'HTTPProxyConnection') ?? root, 'BasePath'));
  if (!basePath || !basePath.startsWith('/')) throw invalid(`${file}: ProxyEndpoint "${name}" needs HTTPProxyConnection/BasePath starting with "/"`);
  const routeRules = children(root, 'RouteRule').map((r) => {
    const rule: RouteRuleModel = { name: attribute(r, 'name') ?? '' };
    const target = textOf(child(r, 'TargetEndpoint'));
    const condition = textOf(child(r, 'Condition'));
    if (target) rule.targetEndpoint = target;
    if (condition) rule.condition = condition;
    return rule;
  });
  return { name, basePath: basePath.length > 1 ? basePath.replace(/\/+$/, '') : basePath, routeRules };
}

/** Reads and checks a bundle; `name` is the proxy name from the import request. */
export async function parseBundle(zip: Uint8Array, name: string): Promise<BundleModel> {
  const files = await unzipBundle(zip);
  const inProxy = [...files.keys()].filter((f) => f.startsWith('apiproxy/'));
  if (inProxy.length === 0) throw invalid('bundle has no top-level apiproxy/ folder');
  const xmlIn = (folder: string) => inProxy.filter((f) => posix.dirname(f) === `apiproxy/${folder}` && f.endsWith('.xml')).sort();
  const xml = await parseAllXml(files, inProxy.filter((f) => f.endsWith('.xml')));
  const root = (file: string) => xml.get(file)!;

  const model: BundleModel = { name, basepaths: [], proxyEndpoints: [], targetEndpoints: [], policies: [], resources: [] };
  const top = inProxy.find((f) => posix.dirname(f) === 'apiproxy' && f.endsWith('.xml'));
  if (top) {
    const topRoot = root(top);
    const description = textOf(child(topRoot, 'Description'));
    const displayName = textOf(child(topRoot, 'DisplayName'));
    if (description) model.description = description;
    if (displayName) model.displayName = displayName;
  }
  model.proxyEndpoints = xmlIn('proxies').map((f) => parseProxy(f, root(f)));
  model.targetEndpoints = xmlIn('targets').map((f) => parseTarget(f, root(f)));
  model.policies = xmlIn('policies').map((f) => posix.basename(f, '.xml'));
  model.resources = inProxy.filter((f) => f.startsWith('apiproxy/resources/')).map((f) => f.slice('apiproxy/resources/'.length));
  if (model.proxyEndpoints.length === 0) throw invalid('bundle has no ProxyEndpoint (apiproxy/proxies/*.xml)');
  const targets = new Set(model.targetEndpoints.map((t) => t.name));
  for (const proxy of model.proxyEndpoints) {
    for (const rule of proxy.routeRules) {
      if (rule.targetEndpoint && !targets.has(rule.targetEndpoint)) {
        throw invalid(`ProxyEndpoint "${proxy.name}": RouteRule "${rule.name}" names TargetEndpoint "${rule.targetEndpoint}", which the bundle does not define`);
      }
    }
  }
  model.basepaths = [...new Set(model.proxyEndpoints.map((p) => p.basePath))];
  return model;
}
