// Converging operations on Apigee resources: look up, then create, update or keep. A rerun changes
// nothing that already matches, so every step is safe to repeat.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { log } from '../../../core/log.ts';
import type { ApigeeClient, FormPart } from './client.ts';

export type Outcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent' | 'dry-run';

const enc = encodeURIComponent;

export async function ensureKeystore(client: ApigeeClient, name: string, role: string): Promise<Outcome> {
  const existing = await client.lookup<{ name: string }>(`${client.envPath}/keystores/${enc(name)}`, ['keystores', 'get', '-n', name]);
  if (existing) {
    log.reused(`${role} ${name}`);
    return 'unchanged';
  }
  await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name }, apigeecli: ['keystores', 'create', '-n', name] });
  if (client.dryRun) return 'dry-run';
  log.created(`${role} ${name}`);
  return 'created';
}

export type AliasUpload =
  | { format: 'pkcs12'; p12File: string; password: string }
  | { format: 'keycertfile'; certFile: string; keyFile?: string };

export interface AliasSpec {
  keystore: string;
  alias: string;
  /** The certificate the alias must hold, to compare with what Apigee has. */
  certFile: string;
  upload: AliasUpload;
}

export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Creates the alias, or replaces it when Apigee holds a different certificate. */
export async function ensureAlias(client: ApigeeClient, spec: AliasSpec): Promise<Outcome> {
  const base = `${client.envPath}/keystores/${enc(spec.keystore)}/aliases`;
  const wanted = fingerprint(readFileSync(spec.certFile, 'utf8'));
  const current = await client.call({
    method: 'GET', path: `${base}/${enc(spec.alias)}/certificate`, allowNotFound: true,
    apigeecli: ['keyaliases', 'getcert', '-k', spec.keystore, '-s', spec.alias],
  });
  if (current) {
    const have = safeFingerprint(current.text());
    if (have === wanted) {
      log.reused(`alias ${spec.alias} in ${spec.keystore}`, `(same certificate, SHA-256 ${wanted.slice(0, 23)}…)`);
      return 'unchanged';
    }
    log.warn(`alias ${spec.alias} holds a different certificate (${have?.slice(0, 23) ?? 'unreadable'}…); replacing it`);
    if (spec.upload.format === 'keycertfile' && !spec.upload.keyFile) {
      // A certificate-only alias can be updated in place.
      await client.call({
        method: 'PUT', path: `${base}/${enc(spec.alias)}`, form: [{ name: 'certFile', file: spec.upload.certFile }],
        apigeecli: ['keyaliases', 'update', '-k', spec.keystore, '-s', spec.alias, '--cert-filepath', spec.upload.certFile],
      });
      log.created(`alias ${spec.alias} in ${spec.keystore}`, '(certificate updated)');
      return 'updated';
    }
    // The key of a key+certificate alias cannot be updated: delete and upload again.
    await client.call({ method: 'DELETE', path: `${base}/${enc(spec.alias)}`, apigeecli: ['keyaliases', 'delete', '-k', spec.keystore, '-s', spec.alias] });
  }
  await uploadAlias(client, base, spec);
  if (client.dryRun) return 'dry-run';
  log.created(`alias ${spec.alias} in ${spec.keystore}`, `(SHA-256 ${wanted.slice(0, 23)}…)`);
  return current ? 'updated' : 'created';
}

function safeFingerprint(pem: string): string | undefined {
  try {
    return fingerprint(pem);
  } catch {
    return undefined;
  }
}

async function uploadAlias(client: ApigeeClient, base: string, spec: AliasSpec): Promise<void> {
  const u = spec.upload;
  let form: FormPart[];
  let cli: string[];
  if (u.format === 'pkcs12') {
    form = [{ name: 'file', file: u.p12File }, { name: 'password', value: u.password, variable: 'STORE_PASSWORD' }];
    cli = ['keyaliases', 'create', '-k', spec.keystore, '-s', spec.alias, '-f', 'pkcs12', '--pfx-filepath', u.p12File, '-p', '$STORE_PASSWORD'];
  } else {
    form = [{ name: 'certFile', file: u.certFile }, ...(u.keyFile ? [{ name: 'keyFile', file: u.keyFile }] : [])];
    cli = ['keyaliases', 'create', '-k', spec.keystore, '-s', spec.alias, '-f', 'keycertfile', '--cert-filepath', u.certFile, ...(u.keyFile ? ['--key-filepath', u.keyFile] : [])];
  }
  await client.call({ method: 'POST', path: base, query: { alias: spec.alias, format: u.format }, form, apigeecli: cli });
}

interface Reference { name: string; resourceType: string; refers: string }

export async function ensureReference(client: ApigeeClient, name: string, resourceType: 'KeyStore' | 'TrustStore', refers: string): Promise<Outcome> {
  const path = `${client.envPath}/references`;
  const body: Reference = { name, resourceType, refers };
  const existing = await client.lookup<Reference>(`${path}/${enc(name)}`, ['references', 'get', '-n', name]);
  if (existing && existing.refers === refers && existing.resourceType === resourceType) {
    log.reused(`reference ${name}`, `→ ${refers}`);
    return 'unchanged';
  }
  if (existing) {
    await client.call({ method: 'PUT', path: `${path}/${enc(name)}`, json: body, apigeecli: ['references', 'update', '-n', name, '-s', resourceType, '--refers', refers] });
    log.created(`reference ${name}`, `now → ${refers} (was ${existing.refers})`);
    return 'updated';
  }
  await client.call({ method: 'POST', path, json: body, apigeecli: ['references', 'create', '-n', name, '-s', resourceType, '--refers', refers] });
  if (client.dryRun) return 'dry-run';
  log.created(`reference ${name}`, `→ ${refers}`);
  return 'created';
}

export interface SslInfo {
  enabled: boolean;
  clientAuthEnabled: boolean;
  keyStore?: string;
  keyAlias?: string;
  trustStore?: string;
  ignoreValidationErrors: boolean;
  enforce: boolean;
}
export interface TargetServer {
  name: string;
  description?: string;
  host: string;
  port: number;
  isEnabled: boolean;
  protocol: 'HTTP';
  sSLInfo: SslInfo;
}

/** The tutorial's target server: TLS on, two-way TLS, strict validation. */
export function desiredTargetServer(config: Config): TargetServer {
  const a = config.apigee;
  return {
    name: a.targetServer,
    description: 'mTLS backend of the Apigee mTLS tutorial',
    host: config.pki.serverHost,
    port: config.backend.port,
    isEnabled: true,
    protocol: 'HTTP',
    sSLInfo: {
      enabled: true,
      clientAuthEnabled: true,
      keyStore: a.useReferences ? `ref://${a.keystoreRef}` : a.keystore,
      keyAlias: a.keyAlias,
      trustStore: a.useReferences ? `ref://${a.truststoreRef}` : a.truststore,
      ignoreValidationErrors: false,
      enforce: true,
    },
  };
}

/** Field-by-field differences that matter for the connection ("" = same). */
export function targetServerDiff(have: Partial<TargetServer>, want: TargetServer): string[] {
  const diffs: string[] = [];
  const cmp = (label: string, a: unknown, b: unknown) => {
    if (String(a ?? '') !== String(b ?? '')) diffs.push(`${label}: ${JSON.stringify(a ?? null)} → ${JSON.stringify(b)}`);
  };
  cmp('host', have.host, want.host);
  cmp('port', have.port, want.port);
  cmp('isEnabled', have.isEnabled ?? true, want.isEnabled);
  const s = (have.sSLInfo ?? {}) as Partial<SslInfo>;
  const w = want.sSLInfo;
  cmp('sSLInfo.enabled', s.enabled ?? false, w.enabled);
  cmp('sSLInfo.clientAuthEnabled', s.clientAuthEnabled ?? false, w.clientAuthEnabled);
  cmp('sSLInfo.keyStore', s.keyStore, w.keyStore);
  cmp('sSLInfo.keyAlias', s.keyAlias, w.keyAlias);
  cmp('sSLInfo.trustStore', s.trustStore, w.trustStore);
  cmp('sSLInfo.ignoreValidationErrors', s.ignoreValidationErrors ?? false, w.ignoreValidationErrors);
  cmp('sSLInfo.enforce', s.enforce ?? false, w.enforce);
  return diffs;
}

function targetServerCli(verb: 'create' | 'update', ts: TargetServer): string[] {
  const s = ts.sSLInfo;
  return ['targetservers', verb, '-n', ts.name, '-s', ts.host, '-p', String(ts.port), '--tls', String(s.enabled), '-c', String(s.clientAuthEnabled),
    ...(s.keyStore ? ['--keystore', s.keyStore] : []), ...(s.keyAlias ? ['--keyalias', s.keyAlias] : []), ...(s.trustStore ? ['--truststore', s.trustStore] : []),
    '--tlsenforce', String(s.enforce), '-i', String(s.ignoreValidationErrors)];
}

export async function ensureTargetServer(client: ApigeeClient, want: TargetServer): Promise<Outcome> {
  const path = `${client.envPath}/targetservers`;
  const existing = await client.lookup<Partial<TargetServer>>(`${path}/${enc(want.name)}`, ['targetservers', 'get', '-n', want.name]);
  if (existing) {
    const diffs = targetServerDiff(existing, want);
    if (diffs.length === 0) {
      log.reused(`target server ${want.name}`, `(${want.host}:${want.port}, TLS + client auth + enforce)`);
      return 'unchanged';
    }
    for (const d of diffs) log.explain(`  change ${d}`);
    await client.call({ method: 'PUT', path: `${path}/${enc(want.name)}`, json: want, apigeecli: targetServerCli('update', want) });
    log.created(`target server ${want.name}`, `(updated: ${diffs.length} field${diffs.length > 1 ? 's' : ''})`);
    return 'updated';
  }
  await client.call({ method: 'POST', path, json: want, apigeecli: targetServerCli('create', want) });
  if (client.dryRun) return 'dry-run';
  log.created(`target server ${want.name}`, `(${want.host}:${want.port})`);
  return 'created';
}

interface ProxyInfo { name: string; latestRevisionId?: string; revision?: string[] }
interface RevisionInfo { revision: string; description?: string }

export async function latestRevision(client: ApigeeClient, proxy: string): Promise<RevisionInfo | undefined> {
  const info = await client.lookup<ProxyInfo>(`${client.orgPath}/apis/${enc(proxy)}`, ['apis', 'get', '-n', proxy]);
  const latest = info?.latestRevisionId ?? info?.revision?.map(Number).sort((a, b) => b - a)[0]?.toString();
  if (!latest) return undefined;
  return client.lookup<RevisionInfo>(`${client.orgPath}/apis/${enc(proxy)}/revisions/${enc(latest)}`);
}

export async function importProxy(client: ApigeeClient, proxy: string, zipFile: string): Promise<string | undefined> {
  const response = await client.call({
    method: 'POST', path: `${client.orgPath}/apis`, query: { name: proxy, action: 'import' }, form: [{ name: 'file', file: zipFile }],
    apigeecli: ['apis', 'create', 'bundle', '-n', proxy, '-p', zipFile],
  });
  return response?.json<RevisionInfo>().revision;
}

interface Deployment { revision?: string; state?: string; apiProxy?: string; errors?: Array<{ message?: string }> }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deploys (override) unless that revision is already READY, then waits for READY. */
export async function deployAndWait(client: ApigeeClient, proxy: string, revision: string, options: { intervalMs: number; timeoutMs: number }): Promise<Outcome> {
  const path = `${client.envPath}/apis/${enc(proxy)}/revisions/${enc(revision)}/deployments`;
  // The environment's deployment list says what is deployed; only then ask for that revision's state.
  const deployed = await deployedRevisions(client, proxy);
  const status = deployed.includes(revision) ? await client.lookup<Deployment>(path, ['apis', 'listdeploy', '-n', proxy]) : undefined;
  for (const other of deployed.filter((r) => r !== revision)) log.explain(`revision ${other} is deployed now; override=true replaces it without downtime`);
  if (status?.state === 'READY') {
    log.reused(`deployment of ${proxy} revision ${revision} in ${client.env}`, '(READY)');
    return 'unchanged';
  }
  if (!status || status.state !== 'PROGRESSING') {
    await client.call({ method: 'POST', path, query: { override: true }, apigeecli: ['apis', 'deploy', '-n', proxy, '-v', revision, '--ovr', '--wait'] });
  }
  if (client.dryRun) return 'dry-run';
  const started = Date.now();
  process.stdout.write('   waiting for READY ');
  for (;;) {
    const now = await client.call({ method: 'GET', path, quiet: true, allowNotFound: true });
    const state = now?.json<Deployment>();
    if (state?.state === 'READY') break;
    if (state?.state === 'ERROR') {
      process.stdout.write('\n');
      throw new StepError(`deployment of ${proxy} revision ${revision} failed: ${state.errors?.map((e) => e.message).join('; ') || 'state ERROR'}`);
    }
    if (Date.now() - started > options.timeoutMs) {
      process.stdout.write('\n');
      throw new StepError(`deployment of ${proxy} revision ${revision} not READY after ${Math.round(options.timeoutMs / 1000)}s (state ${state?.state ?? 'unknown'}); rerun ./scripts/46-deploy.ts`);
    }
    process.stdout.write('.');
    await sleep(options.intervalMs);
  }
  process.stdout.write(` READY after ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  log.created(`${proxy} revision ${revision} deployed to ${client.env}`);
  return 'created';
}

/** Revisions of the proxy deployed in the environment. */
export async function deployedRevisions(client: ApigeeClient, proxy: string): Promise<string[]> {
  const list = await client.lookup<{ deployments?: Deployment[] }>(`${client.envPath}/deployments`, ['envs', 'deployments', 'get']);
  return (list?.deployments ?? []).filter((d) => d.apiProxy === proxy && d.revision).map((d) => d.revision!);
}

/** DELETE that treats "already gone" as success. */
export async function deleteIfPresent(client: ApigeeClient, path: string, what: string, apigeecli: string[]): Promise<Outcome> {
  const response = await client.call({ method: 'DELETE', path, allowNotFound: true, apigeecli });
  if (client.dryRun) return 'dry-run';
  if (response) log.created(`deleted ${what}`);
  else log.info(`${what}: already absent`);
  return response ? 'deleted' : 'absent';
}
