// The management API subset under /v1/organizations/{org}/…, answering like apigee.googleapis.com:
// create returns 200 with the resource, lists of names are bare JSON arrays, int64 times and
// revisions are strings, empty fields are omitted (proto3 JSON), errors use Google's envelope.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { keyEntry, parsePkcs12Async, Pkcs12Error } from '../lib/pkcs12.ts';
import { apigeeCertInfo } from '../lib/x509-info.ts';
import { parseBundle, MAX_BUNDLE_BYTES, type BundleModel } from './bundle.ts';
import { certPem, parseCertificates, parsePrivateKey, validateEntry } from './certs.ts';
import type { DeployedConfig, EnvironmentConfig } from './deployed-config.ts';
import { deploymentState, newDeployment, servedRevision } from './deployments.ts';
import { ApiError, alreadyExists, errorEnvelope, invalid, notFound } from './errors.ts';
import { checkPkcs12Protection, checkStrictKeystoreDelete, checkStrictReference, checkStrictTargetServer, pkcs12Protection, strictRefusal } from './strict.ts';
import { hostName, readBody, readMultipart, sendBytes, sendJson, type Part } from './http-util.ts';
import { unknownCipher } from './ciphers.ts';
import { byName, lookup, revisionOf, type AliasRecord, type Changes, type DeploymentRecord, type ProxyRecord, type ReferenceRecord, type RevisionRecord, type State, type Store, type TargetServerRecord, type TlsInfo } from './state.ts';

export interface ManagementOptions {
  store: Store;
  /** What the runtime serves, for `GET …/deployedConfig`. */
  config: DeployedConfig;
  org: string;
  env: string;
  /** When set, the only bearer token accepted; otherwise any non-empty token is. */
  token?: string;
  /** Host names besides the loopback ones that requests may name in `Host`. */
  allowedHosts?: readonly string[];
  /** Refuse what Apigee X is not known to accept (APIGEE_LOCAL_STRICT). */
  strict?: boolean;
  /** How long a new deployment reports PROGRESSING before READY/ERROR. */
  deploySettleMs: number;
  envGroup: { name: string; hostnames: string[]; createdAt: string };
  /** Groups attached to no environment. */
  otherEnvGroups?: Array<{ name: string; hostnames: string[]; createdAt: string }>;
  /** Environments attached to `envGroup` besides `env` (to page through its attachments). */
  otherAttachedEnvironments?: string[];
}

// Apigee's name patterns (reference §6.10). Their space class is ASCII ([:space:], as in Go or
// Java regular expressions); JavaScript's \s would also let in NBSP, U+2028, the BOM and the like.
const STORE_NAME = /^[\w\t\n\v\f\r .-]{1,255}$/;
const RESOURCE_NAME = STORE_NAME;
const PROXY_NAME = /^[A-Za-z0-9._-]{1,255}$/;
const UPLOAD_LIMIT = MAX_BUNDLE_BYTES + 1024 * 1024;
/** envgroups.list and envgroups.attachments.list: Apigee's default page size; a larger pageSize is lowered to the maximum (AIP-158). */
const PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 1000;
/**
 * JSON resources (keystore, reference, target server) are a few hundred bytes. Parsing is on the
 * event loop the gateway shares: 16 MB of JSON held it for seconds (a 6 MB nested array ~3 s).
 */
const JSON_LIMIT = 64 * 1024;
/** Alias uploads: a .p12 or PEM files and a password; real ones are a few kB. */
const ALIAS_PARTS = { parts: 8, partBytes: 1024 * 1024 };
/** Proxy import as multipart: one zip (plus the odd extra field). */
const IMPORT_PARTS = { parts: 4, partBytes: MAX_BUNDLE_BYTES };

type Query = URLSearchParams;
interface Call {
  req: IncomingMessage;
  query: Query;
  params: string[];
  /** The raw body (a bundle import), up to the upload limit. */
  body: () => Promise<Buffer>;
  /** The body as a JSON object, up to JSON_LIMIT bytes. */
  readJson: () => Promise<Record<string, unknown>>;
}
type Handler = (call: Call) => Promise<unknown> | unknown;
interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const SEG = '([^/]+)';

/**
 * One page of a list, as Apigee pages envgroups and their attachments: pageSize (default 25, at
 * most 1000), pageToken from the previous page's nextPageToken, absent on the last page. The
 * token is opaque to clients: here the offset, base64url-encoded; another is 400 INVALID_ARGUMENT.
 */
function onePage<T>(all: readonly T[], query: Query): { items: T[]; nextPageToken: string | undefined } {
  const size = query.get('pageSize') ?? '';
  if (size !== '' && !/^\d{1,9}$/.test(size)) throw invalid(`pageSize must be a non-negative integer, got "${size}"`);
  const pageSize = Math.min(Number(size) || PAGE_SIZE, MAX_PAGE_SIZE);
  const token = query.get('pageToken') ?? '';
  const offset = token === '' ? 0 : Number(/^offset:(\d{1,9})$/.exec(Buffer.from(token, 'base64url').toString('latin1'))?.[1] ?? NaN);
  if (!(offset >= 0 && offset < all.length) && token !== '') throw invalid(`invalid page token "${token}"`);
  const nextPageToken = offset + pageSize < all.length ? Buffer.from(`offset:${offset + pageSize}`).toString('base64url') : undefined;
  return { items: all.slice(offset, offset + pageSize), nextPageToken };
}

function checkName(kind: string, value: string | null | undefined, pattern: RegExp): string {
  if (!value) throw invalid(`${kind} name is required`);
  if (!pattern.test(value)) throw invalid(`invalid ${kind} name ${JSON.stringify(value)}: must match ${pattern.source}`);
  // The patterns allow them, but a URL path cannot name them (they are dot segments): a resource
  // made with such a name could never be read or deleted.
  if (value === '.' || value === '..') throw invalid(`invalid ${kind} name "${value}": a URL path cannot address it`);
  return value;
}

function boolParam(query: Query, name: string): boolean {
  return (query.get(name) ?? '').toLowerCase() === 'true';
}

function jsonBody(buf: Buffer): Record<string, unknown> {
  if (buf.length === 0) return {};
  try {
    const value: unknown = JSON.parse(buf.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw invalid('Invalid JSON payload received: the body must be a JSON object');
  }
}

// proto3 JSON accepts numbers and booleans as strings; real clients send both spellings.
function toBool(field: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw invalid(`Invalid value at '${field}' (TYPE_BOOL), ${JSON.stringify(value)}`);
}
function toStringList(field: string, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`Invalid value at '${field}': expected a list of strings`);
  return value as string[];
}
function toOptString(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(`Invalid value at '${field}' (TYPE_STRING), ${JSON.stringify(value)}`);
  return value;
}

/** Drops false, empty and undefined values, as Google's JSON encoding of proto3 does. */
/** The record stored under `name`, or a 404 with Apigee's wording for that resource. */
function existing<T>(records: Record<string, T>, name: string, notFoundMessage: string): T {
  const record = lookup(records, name);
  if (record === undefined) throw notFound(notFoundMessage);
  return record;
}

function compact<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined && v !== false && v !== '' && !(Array.isArray(v) && v.length === 0)),
  ) as T;
}

export function createManagementHandler(options: ManagementOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, org, env, deploySettleMs } = options;
  const orgPath = `organizations/${org}`;
  const envPath = `${orgPath}/environments/${env}`;
  const routes: Route[] = [];
  const hosts = new Set(['127.0.0.1', 'localhost', '[::1]', ...(options.allowedHosts ?? []).map((h) => (isIP(h) === 6 ? `[${h}]` : h).toLowerCase())]);
  const on = (method: string, path: string, handler: Handler) =>
    routes.push({ method, pattern: new RegExp(`^${path.replace(/\{\}/g, SEG)}$`), handler });

  // ---- environments and the organization itself -------------------------------------------
  on('GET', '', () => ({ name: org, environments: [env], runtimeType: 'CLOUD', state: 'ACTIVE', subscriptionType: 'TRIAL' }));
  on('GET', '/environments', () => [env]);
  on('GET', '/environments/{}', ({ params }) => ({ name: envName(params[0]), state: 'ACTIVE' }));

  const envName = (name: string | undefined): string => {
    if (name !== env) throw new ApiError('PERMISSION_DENIED', `Permission denied on resource "${orgPath}/environments/${name}" (or it may not exist).`);
    return name;
  };
  const E = '/environments/{}';

  // ---- the configuration the runtime serves (organizations.environments.getDeployedConfig) ----
  on('GET', `${E}/deployedConfig`, ({ params }) => (envName(params[0]), deployedConfigJson(options.config.current(), envPath)));

  // ---- keystores ---------------------------------------------------------------------------
  const keystoreJson = (name: string, state: State) => compact({ name, aliases: Object.keys(lookup(state.keystores, name)?.aliases ?? {}) });
  const needKeystore = (state: State, name: string) => existing(state.keystores, name, `keystore ${envPath}/keystores/${name} not found`);

  on('GET', `${E}/keystores`, ({ params }) => (envName(params[0]), Object.keys(store.state.keystores)));
  on('POST', `${E}/keystores`, async ({ params, query, readJson }) => {
    envName(params[0]);
    const json = await readJson();
    const name = checkName('keystore', query.get('name') ?? toOptString('name', json.name), STORE_NAME);
    return store.mutate((draft) => {
      if (lookup(draft.keystores, name)) throw alreadyExists(`${envPath}/keystores/${name}`);
      draft.keystores[name] = { name, aliases: byName() };
      return keystoreJson(name, draft);
    });
  });
  on('GET', `${E}/keystores/{}`, ({ params }) => (envName(params[0]), needKeystore(store.state, params[1]!), keystoreJson(params[1]!, store.state)));
  on('DELETE', `${E}/keystores/{}`, ({ params }) => {
    envName(params[0]);
    return store.mutate((draft, changes) => {
      const ks = needKeystore(draft, params[1]!);
      if (options.strict) checkStrictKeystoreDelete(draft, ks.name);
      const result = keystoreJson(ks.name, draft);
      for (const alias of Object.values(ks.aliases)) changes.removeFile(alias.keyFile);
      delete draft.keystores[ks.name];
      return result;
    });
  });

  // ---- aliases -----------------------------------------------------------------------------
  const aliasJson = (name: string, record: AliasRecord) => ({
    alias: name,
    certsInfo: { certInfo: record.certs.map((pem) => apigeeCertInfo(pem)) },
    type: record.type,
  });
  const needAlias = (state: State, ks: string, alias: string) =>
    existing(needKeystore(state, ks).aliases, alias, `alias not ${envPath}/keystores/${ks}/aliases/${alias} found`);
  const KS = `${E}/keystores/{}`;

  on('GET', `${KS}/aliases`, ({ params }) => (envName(params[0]), Object.keys(needKeystore(store.state, params[1]!).aliases)));
  on('POST', `${KS}/aliases`, async ({ req, params, query }) => {
    envName(params[0]);
    const ks = params[1]!;
    needKeystore(store.state, ks);
    const alias = checkName('alias', query.get('alias'), STORE_NAME);
    const format = query.get('format');
    if (!format) throw invalid('format is required (keycertfile or pkcs12)');
    const parts = await readParts(req, ALIAS_PARTS);
    const entry = await buildAlias(format, parts, query, options.strict === true);
    return store.mutate((draft, changes) => {
      const keystore = needKeystore(draft, ks);
      if (lookup(keystore.aliases, alias)) throw alreadyExists(`${envPath}/keystores/${ks}/aliases/${alias}`);
      keystore.aliases[alias] = storeAlias(entry, changes);
      return aliasJson(alias, keystore.aliases[alias]!);
    });
  });
  on('GET', `${KS}/aliases/{}`, ({ params }) => (envName(params[0]), aliasJson(params[2]!, needAlias(store.state, params[1]!, params[2]!))));
  on('PUT', `${KS}/aliases/{}`, async ({ req, params, query }) => {
    envName(params[0]);
    needAlias(store.state, params[1]!, params[2]!);
    const parts = await readParts(req, ALIAS_PARTS);
    const certFile = parts.find((p) => p.name === 'certFile');
    if (!certFile) throw invalid('alias update needs a multipart part named certFile');
    const certs = parseCertificates(certFile.data.toString('utf8'));
    const stored = needAlias(store.state, params[1]!, params[2]!);
    // Stored keys are unencrypted PKCS#8 written by this stand-in: cheap to read.
    const key = stored.keyFile ? await parsePrivateKey(store.readFile(stored.keyFile).toString('utf8'), undefined) : undefined;
    return store.mutate((draft) => {
      const record = needAlias(draft, params[1]!, params[2]!);
      if (record.keyFile !== stored.keyFile) throw new ApiError('FAILED_PRECONDITION', 'the alias changed while its certificate was being updated; retry');
      validateEntry(certs, key, boolParam(query, 'ignoreExpiryValidation'));
      record.certs = certs.map(certPem);
      return aliasJson(params[2]!, record);
    });
  });
  on('GET', `${KS}/aliases/{}/certificate`, ({ params }) => {
    envName(params[0]);
    const record = needAlias(store.state, params[1]!, params[2]!);
    return { raw: Buffer.from(record.certs.join('')), contentType: 'application/x-pem-file' };
  });
  on('DELETE', `${KS}/aliases/{}`, ({ params }) => {
    envName(params[0]);
    return store.mutate((draft, changes) => {
      const record = needAlias(draft, params[1]!, params[2]!);
      changes.removeFile(record.keyFile);
      delete needKeystore(draft, params[1]!).aliases[params[2]!];
      return aliasJson(params[2]!, record);
    });
  });

  // ---- references --------------------------------------------------------------------------
  const referenceFrom = (json: Record<string, unknown>, name: string, state: State) => {
    // The "Working with references" page wraps the body in {"reference":{…}}; clients send it flat.
    const src = (typeof json.reference === 'object' && json.reference !== null ? json.reference : json) as Record<string, unknown>;
    const resourceType = toOptString('resourceType', src.resourceType);
    if (resourceType !== 'KeyStore' && resourceType !== 'TrustStore') throw invalid('resourceType must be KeyStore or TrustStore');
    const refersRaw = toOptString('refers', src.refers);
    if (!refersRaw) throw invalid('refers is required: the name of a keystore in this environment');
    // The keystore's name, or its full resource name in this environment; another environment's keystore is not one of ours.
    const refers = refersRaw.startsWith(`${envPath}/keystores/`) ? refersRaw.slice(`${envPath}/keystores/`.length) : refersRaw;
    if (!lookup(state.keystores, refers)) throw invalid(`refers: keystore "${refers}" does not exist in environment "${env}"`);
    const record: ReferenceRecord = { name, resourceType, refers };
    const description = toOptString('description', src.description);
    if (description) record.description = description;
    return record;
  };
  const needReference = (state: State, name: string) => existing(state.references, name, `reference ${envPath}/references/${name} not found`);
  on('GET', `${E}/references`, ({ params }) => (envName(params[0]), Object.keys(store.state.references)));
  on('POST', `${E}/references`, async ({ params, query, readJson }) => {
    envName(params[0]);
    const json = await readJson();
    if (options.strict) checkStrictReference(json);
    const inner = (json.reference ?? json) as Record<string, unknown>;
    const name = checkName('reference', query.get('name') ?? toOptString('name', inner.name), RESOURCE_NAME);
    return store.mutate((draft) => {
      if (lookup(draft.references, name)) throw alreadyExists(`${envPath}/references/${name}`);
      draft.references[name] = referenceFrom(json, name, draft);
      return draft.references[name];
    });
  });
  on('GET', `${E}/references/{}`, ({ params }) => (envName(params[0]), needReference(store.state, params[1]!)));
  on('PUT', `${E}/references/{}`, async ({ params, readJson }) => {
    envName(params[0]);
    const json = await readJson();
    if (options.strict) checkStrictReference(json);
    return store.mutate((draft) => {
      needReference(draft, params[1]!);
      draft.references[params[1]!] = referenceFrom(json, params[1]!, draft);
      return draft.references[params[1]!];
    });
  });
  on('DELETE', `${E}/references/{}`, ({ params }) => {
    envName(params[0]);
    return store.mutate((draft) => {
      const ref = needReference(draft, params[1]!);
      delete draft.references[params[1]!];
      return ref;
    });
  });

  // ---- target servers ----------------------------------------------------------------------
  const needTargetServer = (state: State, name: string) => existing(state.targetServers, name, `targetserver ${envPath}/targetservers/${name} not found`);
  on('GET', `${E}/targetservers`, ({ params }) => (envName(params[0]), Object.keys(store.state.targetServers)));
  on('POST', `${E}/targetservers`, async ({ params, query, readJson }) => {
    envName(params[0]);
    const json = await readJson();
    if (options.strict) checkStrictTargetServer(json);
    const name = checkName('target server', query.get('name') ?? toOptString('name', json.name), RESOURCE_NAME);
    const record = targetServerFrom(json, name);
    return store.mutate((draft) => {
      if (lookup(draft.targetServers, name)) throw alreadyExists(`${envPath}/targetservers/${name}`);
      draft.targetServers[name] = record;
      return targetServerJson(record);
    });
  });
  on('GET', `${E}/targetservers/{}`, ({ params }) => (envName(params[0]), targetServerJson(needTargetServer(store.state, params[1]!))));
  on('PUT', `${E}/targetservers/{}`, async ({ params, readJson }) => {
    envName(params[0]);
    const json = await readJson();
    if (options.strict) checkStrictTargetServer(json);
    const record = targetServerFrom(json, params[1]!);
    return store.mutate((draft) => {
      needTargetServer(draft, params[1]!);
      draft.targetServers[params[1]!] = record;
      return targetServerJson(record);
    });
  });
  on('DELETE', `${E}/targetservers/{}`, ({ params }) => {
    envName(params[0]);
    return store.mutate((draft) => {
      const ts = needTargetServer(draft, params[1]!);
      delete draft.targetServers[params[1]!];
      return targetServerJson(ts);
    });
  });

  // ---- API proxies -------------------------------------------------------------------------
  const needProxy = (state: State, name: string) => existing(state.apis, name, `api proxy ${orgPath}/apis/${name} not found`);
  const needRevision = (state: State, name: string, rev: string) =>
    existing(needProxy(state, name).revisions, rev, `revision ${orgPath}/apis/${name}/revisions/${rev} not found`);
  const revisionList = (proxy: ProxyRecord) => Object.keys(proxy.revisions).sort((a, b) => Number(a) - Number(b));
  const proxyJson = (proxy: ProxyRecord, withRevisions = true) => {
    const revisions = revisionList(proxy);
    return compact({
      name: proxy.name,
      revision: withRevisions ? revisions : undefined,
      latestRevisionId: revisions.at(-1),
      metaData: { createdAt: proxy.createdAt, lastModifiedAt: proxy.lastModifiedAt, subType: 'Proxy' },
      apiProxyType: 'PROGRAMMABLE',
    });
  };

  on('GET', '/apis', ({ query }) => {
    const proxies = Object.values(store.state.apis).map((p) => {
      const json = proxyJson(p, boolParam(query, 'includeRevisions')) as Record<string, unknown>;
      if (!boolParam(query, 'includeMetaData')) delete json.metaData;
      return json;
    });
    return compact({ proxies });
  });
  on('POST', '/apis', async ({ req, query, body }) => {
    const name = checkName('api proxy', query.get('name'), PROXY_NAME);
    const action = query.get('action') ?? 'import';
    if (action !== 'import' && action !== 'validate') throw invalid(`action must be import or validate, got "${action}"`);
    const zip = await bundleBytes(req, body);
    const bundle = await parseBundle(zip, name);
    const now = String(Date.now());
    if (action === 'validate') return revisionJson(name, { revision: '', createdAt: now, bundleFile: '', bundle });
    return store.mutate((draft, changes) => {
      const proxy = lookup(draft.apis, name) ?? (draft.apis[name] = { name, createdAt: now, lastModifiedAt: now, revisions: byName() });
      const revision = String(Math.max(0, ...Object.keys(proxy.revisions).map(Number)) + 1);
      const record: RevisionRecord = { revision, createdAt: now, bundleFile: changes.addFile('bundles', '.zip', zip, 0o644), bundle };
      proxy.revisions[revision] = record;
      proxy.lastModifiedAt = now;
      return revisionJson(name, record);
    });
  });
  on('GET', '/apis/{}', ({ params }) => proxyJson(needProxy(store.state, params[0]!)));
  on('DELETE', '/apis/{}', ({ params }) =>
    store.mutate((draft, changes) => {
      const proxy = needProxy(draft, params[0]!);
      if (lookup(draft.deployments, proxy.name)) {
        throw new ApiError('FAILED_PRECONDITION', `api proxy ${proxy.name} has a deployment in environment ${env}; undeploy it first`);
      }
      for (const rev of Object.values(proxy.revisions)) changes.removeFile(rev.bundleFile);
      delete draft.apis[proxy.name];
      return proxyJson(proxy);
    }),
  );
  on('GET', '/apis/{}/revisions', ({ params }) => revisionList(needProxy(store.state, params[0]!)));
  on('GET', '/apis/{}/revisions/{}', ({ params, query }) => {
    const record = needRevision(store.state, params[0]!, params[1]!);
    if (query.get('format') === 'bundle') return { raw: store.readFile(record.bundleFile), contentType: 'application/octet-stream' };
    return revisionJson(params[0]!, record);
  });
  on('DELETE', '/apis/{}/revisions/{}', ({ params }) =>
    store.mutate((draft, changes) => {
      const record = needRevision(draft, params[0]!, params[1]!);
      const deployment = lookup(draft.deployments, params[0]!);
      if (deployment?.revision === params[1]) {
        throw new ApiError('FAILED_PRECONDITION', `revision ${params[1]} of api proxy ${params[0]} is deployed in environment ${env}; undeploy it first`);
      }
      if (deployment && servedRevision(deployment, deploySettleMs) === params[1]) {
        throw new ApiError('FAILED_PRECONDITION',
          `revision ${params[1]} of api proxy ${params[0]} still serves traffic in environment ${env} until revision ${deployment.revision} is READY; retry then`);
      }
      changes.removeFile(record.bundleFile);
      delete needProxy(draft, params[0]!).revisions[params[1]!];
      return revisionJson(params[0]!, record);
    }),
  );
  on('GET', '/apis/{}/deployments', ({ params }) => {
    needProxy(store.state, params[0]!);
    const d = lookup(store.state.deployments, params[0]!);
    return compact({ deployments: d ? [deploymentJson(d, false)] : [] });
  });

  // ---- deployments -------------------------------------------------------------------------
  const deploymentJson = (d: DeploymentRecord, withStatus: boolean) => {
    const base: Record<string, unknown> = {
      environment: env,
      apiProxy: d.apiProxy,
      revision: d.revision,
      deployStartTime: d.deployStartTime,
      proxyDeploymentType: 'STANDARD',
    };
    if (!withStatus) return base;
    const now = Date.now();
    const state = deploymentState(d, deploySettleMs, now);
    base.state = state;
    if (state === 'ERROR') base.errors = d.errors.map((message) => ({ code: 9, message }));
    // What the runtime serves for this proxy: this revision once READY; while PROGRESSING, the
    // revision it replaces (Apigee's instances[].deployedRevisions: "revisions deployed in the MPs").
    const served = servedRevision(d, deploySettleMs, now);
    if (served !== undefined) {
      const bundle = revisionOf(store.state, d.apiProxy, served)?.bundle;
      base.instances = [{ instance: 'apigee-local', deployedRevisions: [{ revision: served, percentage: 100 }],
        deployedRoutes: (bundle?.basepaths ?? []).map((basepath) => ({ basepath, envgroup: options.envGroup.name, environment: env, percentage: 100 })) }];
    }
    return base;
  };
  const DEP = `${E}/apis/{}/revisions/{}/deployments`;
  on('GET', `${E}/deployments`, ({ params }) => (envName(params[0]), compact({ deployments: Object.values(store.state.deployments).map((d) => deploymentJson(d, false)) })));
  on('POST', DEP, ({ params, query }) => {
    envName(params[0]);
    const [, api, rev] = params as [string, string, string];
    return store.mutate((draft) => {
      const record = needRevision(draft, api, rev);
      const current = lookup(draft.deployments, api);
      if (current && current.revision !== rev && !boolParam(query, 'override')) {
        throw new ApiError('FAILED_PRECONDITION',
          `revision ${current.revision} of api proxy ${api} is already deployed to environment ${env}; deploy with override=true to replace it`);
      }
      checkBasePathConflicts(draft, api, rev, record.bundle);
      // A redeploy or an override: the revision served now keeps serving until this one is READY.
      const deployment = newDeployment(api, rev, deployErrors(draft, record.bundle), current, deploySettleMs);
      draft.deployments[api] = deployment;
      return deploymentJson(deployment, false);
    });
  });
  on('GET', DEP, ({ params }) => {
    envName(params[0]);
    const [, api, rev] = params as [string, string, string];
    needRevision(store.state, api, rev);
    const d = lookup(store.state.deployments, api);
    if (!d || d.revision !== rev) throw notFound(`deployment of ${orgPath}/apis/${api}/revisions/${rev} in environment ${env} not found`);
    return deploymentJson(d, true);
  });
  on('DELETE', DEP, ({ params }) => {
    envName(params[0]);
    const [, api, rev] = params as [string, string, string];
    return store.mutate((draft) => {
      needRevision(draft, api, rev);
      if (lookup(draft.deployments, api)?.revision !== rev) {
        throw new ApiError('FAILED_PRECONDITION', `revision ${rev} of api proxy ${api} is not deployed in environment ${env}`);
      }
      delete draft.deployments[api];
      return {};
    });
  });

  function checkBasePathConflicts(state: State, api: string, rev: string, bundle: BundleModel): void {
    for (const other of Object.values(state.deployments)) {
      if (other.apiProxy === api) continue;
      // The deployed revision, and the one it replaces while that one still serves.
      for (const otherRev of new Set([other.revision, servedRevision(other, deploySettleMs) ?? other.revision])) {
        const otherPaths = revisionOf(state, other.apiProxy, otherRev)?.bundle.basepaths ?? [];
        const clash = bundle.basepaths.filter((p) => otherPaths.includes(p));
        if (clash.length === 0) continue;
        const subject = `${orgPath}/apis/${other.apiProxy}/revisions/${otherRev}`;
        throw new ApiError('FAILED_PRECONDITION', 'deployment validations failed', [{
          '@type': 'type.googleapis.com/google.rpc.PreconditionFailure',
          violations: [{ type: 'CONFLICTING_DEPLOYMENT', subject: `${orgPath}/apis/${api}/revisions/${rev}`,
            description: `Existing deployment of "${subject}" contains conflicting base paths: [${clash.join(', ')}].` }],
        }]);
      }
    }
  }

  function deployErrors(state: State, bundle: BundleModel): string[] {
    const errors: string[] = [];
    for (const target of bundle.targetEndpoints) {
      for (const server of target.servers) {
        if (!lookup(state.targetServers, server)) errors.push(`TargetEndpoint "${target.name}" references target server "${server}", which does not exist in environment ${env}`);
      }
    }
    return errors;
  }

  // ---- environment groups (seeded, read-only) ----------------------------------------------
  const group = options.envGroup;
  const groups = [group, ...(options.otherEnvGroups ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const groupJson = (g: typeof group) => ({ name: g.name, hostnames: g.hostnames, createdAt: g.createdAt, lastModifiedAt: g.createdAt, state: 'ACTIVE' });
  const needGroup = (name: string | undefined) => {
    const found = groups.find((g) => g.name === name);
    if (!found) throw notFound(`environment group ${orgPath}/envgroups/${name} not found`);
    return found;
  };
  on('GET', '/envgroups', ({ query }) => {
    const { items, nextPageToken } = onePage(groups, query);
    return compact({ environmentGroups: items.map(groupJson), nextPageToken });
  });
  on('GET', '/envgroups/{}', ({ params }) => groupJson(needGroup(params[0])));
  // The seeded group is attached to the environment (and to any others the options name), in name order.
  const attached = [env, ...(options.otherAttachedEnvironments ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  on('GET', '/envgroups/{}/attachments', ({ params, query }) => {
    const { items, nextPageToken } = onePage(needGroup(params[0]) === group ? attached : [], query);
    return compact({
      environmentGroupAttachments: items.map((e) => ({ name: `${e}-attachment`, environment: e, createdAt: group.createdAt, environmentGroupId: group.name })),
      nextPageToken,
    });
  });

  // ---- dispatch ----------------------------------------------------------------------------
  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const apiError = error instanceof ApiError ? error : new ApiError('INTERNAL', 'Internal error encountered.');
      if (!(error instanceof ApiError)) process.stderr.write(`apigee-local: ${(error as Error).stack ?? String(error)}\n`);
      if (!res.headersSent) sendJson(res, apiError.code, errorEnvelope(apiError));
      else res.destroy();
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A web page that rebinds its own DNS name to 127.0.0.1 still sends its name in Host: refuse it.
    const host = hostName(req.headers.host);
    if (!hosts.has(host)) {
      req.resume();
      throw new ApiError('PERMISSION_DENIED',
        `Host "${host}" is not served: the stand-in's management API answers requests for 127.0.0.1, localhost and [::1] (and APIGEE_LOCAL_ALLOWED_HOSTS)`);
    }
    const url = new URL(req.url ?? '/', 'http://apigee.local');
    // The path as sent, not url.pathname: a WHATWG URL resolves dot segments, also encoded ones,
    // so `DELETE …/keystores/ks/aliases/%2e%2e` would have deleted the keystore `ks`. Here `..`
    // stays a name, which no resource can have (checkName): 404. Absolute form keeps only its path.
    const pathname = (req.url ?? '/').replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, '').split(/[?#]/, 1)[0] || '/';
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!token || (options.token !== undefined && token !== options.token)) {
      req.resume();
      throw new ApiError('UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    const prefix = /^\/v1\/organizations\/([^/]+)(\/.*)?$/.exec(pathname);
    if (!prefix) throw notFound(`The requested URL ${pathname} was not found on this server.`);
    const orgInPath = decodePart(prefix[1]!);
    if (orgInPath !== org) {
      req.resume();
      throw new ApiError('PERMISSION_DENIED', `Permission denied on resource "organizations/${orgInPath}" (or it may not exist).`);
    }
    const rest = (prefix[2] ?? '').replace(/\/$/, '');
    const method = req.method ?? 'GET';
    let pathMatched = false;
    for (const route of routes) {
      const match = route.pattern.exec(rest);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params = match.slice(1).map(decodePart);
      const result = await route.handler({ req, query: url.searchParams, params, body: () => readBody(req, UPLOAD_LIMIT), readJson: async () => jsonBody(await readBody(req, JSON_LIMIT)) });
      if (result && typeof result === 'object' && 'raw' in result && Buffer.isBuffer((result as { raw: unknown }).raw)) {
        const raw = result as { raw: Buffer; contentType: string };
        sendBytes(res, 200, raw.contentType, raw.raw);
      } else {
        sendJson(res, 200, result);
      }
      return;
    }
    req.resume();
    // Google's front end answers an unknown method on a known path like an unknown path: 404.
    if (pathMatched) throw notFound(`method ${method} is not supported on ${pathname}`);
    throw notFound(`The requested URL ${pathname} was not found on this server.`);
  }
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`malformed percent-encoding in the URL path: "${part}"`);
  }
}

const isMultipart = (req: IncomingMessage) => /^multipart\/form-data/i.test(req.headers['content-type'] ?? '');

async function readParts(req: IncomingMessage, limits: typeof ALIAS_PARTS): Promise<Part[]> {
  if (!isMultipart(req)) {
    req.resume();
    throw invalid('alias uploads must be multipart/form-data');
  }
  const parts = await readMultipart(req, limits);
  // Only the first of two certFile (or keyFile, password…) parts would be read: the client meant
  // something the alias would not hold, so neither is taken.
  const names = parts.map((p) => p.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw invalid(`multipart part "${twice}" is sent more than once; send each part once (a certificate chain goes in one certFile)`);
  return parts;
}

/** The zip of an import: the single file part of a multipart body, or the raw body. */
async function bundleBytes(req: IncomingMessage, readRaw: () => Promise<Buffer>): Promise<Buffer> {
  if (isMultipart(req)) {
    const parts = await readMultipart(req, IMPORT_PARTS);
    // apigeecli names the part "proxy", the docs and Terraform "file": any single file part will do.
    const files = parts.filter((p) => p.filename !== undefined || p.name === 'file' || p.name === 'proxy');
    const candidates = files.length > 0 ? files : parts;
    if (candidates.length !== 1) throw invalid(`the import request must carry exactly one file part, found ${candidates.length}`);
    return candidates[0]!.data;
  }
  const body = await readRaw();
  if (body.length === 0) throw invalid('the import request has no bundle (send a zip as multipart file part or application/octet-stream)');
  return body;
}

interface NewAlias {
  type: 'KEY_CERT' | 'CERT';
  certs: X509Certificate[];
  keyPem?: string;
}

async function buildAlias(format: string, parts: Part[], query: Query, strict: boolean): Promise<NewAlias> {
  const part = (name: string) => parts.find((p) => p.name === name);
  // The password may come as a form part (documented), `_password` (deprecated) or `password` (apigeecli).
  const password = part('password')?.data.toString('utf8') ?? query.get('_password') ?? query.get('password') ?? undefined;
  if (strict && !part('password') && query.get('_password') === null && query.get('password') !== null) {
    throw strictRefusal('the password came as query parameter "password" (apigeecli\'s form)', 'Send it as the multipart part "password" (documented) or the deprecated query "_password".');
  }
  const ignoreExpiry = boolParam(query, 'ignoreExpiryValidation');
  if (format === 'keycertfile') {
    const certFile = part('certFile');
    if (!certFile) throw invalid('format keycertfile needs a multipart part named certFile');
    const certs = parseCertificates(certFile.data.toString('utf8'));
    const keyFile = part('keyFile');
    const key = keyFile ? await parsePrivateKey(keyFile.data.toString('utf8'), password) : undefined;
    validateEntry(certs, key, ignoreExpiry);
    const alias: NewAlias = { type: key ? 'KEY_CERT' : 'CERT', certs };
    if (key) alias.keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    return alias;
  }
  if (format === 'pkcs12') {
    const file = part('file') ?? parts.find((p) => p.filename !== undefined && p.name !== 'password');
    if (!file) throw invalid('format pkcs12 needs a multipart part named file holding the .p12');
    if (strict && !password) {
      throw strictRefusal('the PKCS#12 upload has no password', 'Export the .p12 with a non-empty password and send it as the multipart part "password".');
    }
    try {
      // Limits first (no key derivation), then the parse in a worker thread: a costly file never stalls the gateway.
      const parsed = await parsePkcs12Async(file.data, password ?? '');
      if (strict) checkPkcs12Protection(await pkcs12Protection(file.data, password ?? ''));
      if (parsed.keys.length === 0) {
        const certs = parsed.certs.map((c) => c.x509);
        validateEntry(certs, undefined, ignoreExpiry);
        return { type: 'CERT', certs };
      }
      const entry = keyEntry(parsed);
      const certs = entry.chain.map((c) => c.x509);
      validateEntry(certs, entry.key, ignoreExpiry);
      return { type: 'KEY_CERT', certs, keyPem: entry.key.export({ type: 'pkcs8', format: 'pem' }).toString() };
    } catch (error) {
      if (error instanceof Pkcs12Error) {
        if (error.code === 'BAD_PASSWORD') throw invalid('failed to decrypt the PKCS#12 file: wrong password');
        if (error.code === 'LIMIT') throw invalid(`PKCS#12 file refused: ${error.message}`);
        throw invalid(`invalid PKCS#12 file: ${error.message}`);
      }
      throw error;
    }
  }
  if (format === 'selfsignedcert') throw invalid('format selfsignedcert is not supported by the local stand-in; upload a keycertfile or pkcs12');
  throw invalid(`format must be keycertfile or pkcs12, got "${format}"`);
}

function storeAlias(entry: NewAlias, changes: Changes): AliasRecord {
  const record: AliasRecord = { type: entry.type, certs: entry.certs.map(certPem) };
  if (entry.keyPem) record.keyFile = changes.addFile('keys', '.pem', entry.keyPem, 0o600);
  return record;
}

function revisionJson(name: string, record: RevisionRecord): Record<string, unknown> {
  const b = record.bundle;
  return compact({
    name,
    revision: record.revision,
    basepaths: b.basepaths,
    configurationVersion: { majorVersion: 4 },
    createdAt: record.createdAt,
    lastModifiedAt: record.createdAt,
    description: b.description,
    displayName: b.displayName,
    entityMetaDataAsProperties: { bundle_type: 'zip', subType: 'Proxy', lastModifiedAt: record.createdAt, createdAt: record.createdAt },
    policies: b.policies,
    proxies: b.proxyEndpoints.map((p) => p.name),
    proxyEndpoints: b.proxyEndpoints.map((p) => p.name),
    targetEndpoints: b.targetEndpoints.map((t) => t.name),
    targetServers: [...new Set(b.targetEndpoints.flatMap((t) => t.servers))],
    targets: b.targetEndpoints.map((t) => t.name),
    resources: b.resources,
    resourceFiles: {},
    type: 'Application',
  });
}

function targetServerFrom(json: Record<string, unknown>, name: string): TargetServerRecord {
  const host = toOptString('host', json.host);
  if (!host) throw invalid('host is required');
  if (!isIP(host) && !/^(?!-)[A-Za-z0-9-]{1,63}(\.(?!-)[A-Za-z0-9-]{1,63})*\.?$/.test(host)) throw invalid(`host "${host}" is not a valid host name or IP address`);
  const port = typeof json.port === 'string' && /^\d+$/.test(json.port) ? Number(json.port) : json.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`port must be a number from 1 to 65535, got ${JSON.stringify(json.port)}`);
  const protocol = (toOptString('protocol', json.protocol) ?? 'HTTP').toUpperCase();
  if (!['HTTP', 'HTTP2', 'GRPC_TARGET', 'GRPC', 'EXTERNAL_CALLOUT', 'PROTOCOL_UNSPECIFIED'].includes(protocol)) throw invalid(`protocol "${protocol}" is not one of HTTP, HTTP2, GRPC_TARGET, GRPC, EXTERNAL_CALLOUT`);
  const record: TargetServerRecord = {
    name,
    host,
    port,
    isEnabled: toBool('isEnabled', json.isEnabled) ?? true,
    protocol: protocol === 'PROTOCOL_UNSPECIFIED' ? 'HTTP' : protocol,
  };
  const description = toOptString('description', json.description);
  if (description) record.description = description;
  const ssl = json.sSLInfo ?? json.sslInfo;
  if (ssl !== undefined && ssl !== null) record.sSLInfo = tlsInfoFrom(ssl);
  return record;
}

function tlsInfoFrom(value: unknown): TlsInfo {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`Invalid value at 'sSLInfo': expected an object, got ${JSON.stringify(value)}`);
  const v = value as Record<string, unknown>;
  const info: TlsInfo = compact({
    enabled: toBool('sSLInfo.enabled', v.enabled),
    clientAuthEnabled: toBool('sSLInfo.clientAuthEnabled', v.clientAuthEnabled),
    keyStore: toOptString('sSLInfo.keyStore', v.keyStore),
    keyAlias: toOptString('sSLInfo.keyAlias', v.keyAlias),
    trustStore: toOptString('sSLInfo.trustStore', v.trustStore),
    ignoreValidationErrors: toBool('sSLInfo.ignoreValidationErrors', v.ignoreValidationErrors),
    enforce: toBool('sSLInfo.enforce', v.enforce),
    protocols: toStringList('sSLInfo.protocols', v.protocols),
    ciphers: toStringList('sSLInfo.ciphers', v.ciphers),
  });
  if (v.commonName !== undefined && v.commonName !== null) {
    if (typeof v.commonName !== 'object' || Array.isArray(v.commonName)) throw invalid(`Invalid value at 'sSLInfo.commonName': expected an object {value, wildcardMatch}, got ${JSON.stringify(v.commonName)}`);
    const cn = v.commonName as Record<string, unknown>;
    info.commonName = compact({ value: toOptString('sSLInfo.commonName.value', cn.value), wildcardMatch: toBool('sSLInfo.commonName.wildcardMatch', cn.wildcardMatch) });
  }
  if (info.clientAuthEnabled && (!info.keyStore || !info.keyAlias)) throw invalid('sSLInfo: keyStore and keyAlias are required when clientAuthEnabled is true');
  for (const p of info.protocols ?? []) {
    if (!/^TLSv1(\.[0-3])?$/.test(p)) throw invalid(`sSLInfo.protocols: unknown protocol "${p}" (use TLSv1.2, TLSv1.3)`);
  }
  const badCipher = unknownCipher(info.ciphers ?? []);
  if (badCipher) throw invalid(`sSLInfo.ciphers: ${badCipher}`);
  return info;
}

function targetServerJson(ts: TargetServerRecord): Record<string, unknown> {
  // isEnabled is optional with default true: a disabled server must say so, or clients read it as enabled.
  return { ...compact({ ...ts, sSLInfo: ts.sSLInfo ? compact({ ...ts.sSLInfo }) : undefined }), isEnabled: ts.isEnabled };
}

/**
 * The served revision in the shape of Apigee's `EnvironmentConfig` (fields this stand-in has:
 * targets, keystores, resourceReferences). Resource names are full paths, as in that schema.
 */
function deployedConfigJson(config: EnvironmentConfig, envPath: string): Record<string, unknown> {
  const storePath = (value: string) => {
    const ref = /^ref:\/\/(.+)$/.exec(value)?.[1];
    return ref === undefined ? `${envPath}/keystores/${value}` : `${envPath}/references/${ref}`;
  };
  const tlsInfo = (ssl: TlsInfo) => {
    const keyStore = ssl.keyStore ?? '';
    const byReference = keyStore.startsWith('ref://');
    return compact({
      enabled: ssl.enabled,
      clientAuthEnabled: ssl.clientAuthEnabled,
      keyAlias: ssl.keyAlias && !byReference ? `${storePath(keyStore)}/aliases/${ssl.keyAlias}` : undefined,
      keyAliasReference: ssl.keyAlias && byReference ? { aliasId: ssl.keyAlias, reference: storePath(keyStore) } : undefined,
      trustStore: ssl.trustStore ? storePath(ssl.trustStore) : undefined,
      ignoreValidationErrors: ssl.ignoreValidationErrors,
      enforce: ssl.enforce,
      protocols: ssl.protocols,
      ciphers: ssl.ciphers,
      commonName: ssl.commonName,
    });
  };
  return compact({
    name: `${envPath}/configs/${config.revisionId}`,
    revisionId: String(config.revisionId),
    createTime: new Date(config.createTime).toISOString(),
    targets: [...config.targetServers.values()].map((ts) => ({
      name: `${envPath}/targetservers/${ts.name}`,
      host: ts.host,
      port: ts.port,
      protocol: ts.protocol,
      ...(ts.sSLInfo ? { tlsInfo: tlsInfo(ts.sSLInfo) } : {}),
      enabled: ts.isEnabled,
    })),
    keystores: [...config.keystores].map(([name, aliases]) => compact({
      name: `${envPath}/keystores/${name}`,
      aliases: [...aliases].map(([alias, a]) => ({ name: `${envPath}/keystores/${name}/aliases/${alias}`, type: a.type })),
    })),
    resourceReferences: [...config.references.values()].map((r) => ({
      name: `${envPath}/references/${r.name}`,
      resourceName: `${envPath}/keystores/${r.refers}`,
    })),
  });
}
