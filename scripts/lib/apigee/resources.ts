// What the Apigee steps look up before they call: which keystore version the gateway uses, what
// an alias holds, how a target server differs from the wanted one, which revision is latest or
// deployed. The calls that change something are in the steps themselves.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { log } from '../../../core/log.ts';
import { onInterrupt } from '../interrupt.ts';
import type { ApigeeClient } from './client.ts';
import { followUp } from '../follow-up.ts';

export const enc = encodeURIComponent;

// ---- keystores and their versions -------------------------------------------------------------

export type StoreRole = 'keystore' | 'truststore';

/** Version n of a store: the configured name is version 1, then name-v2, name-v3, … */
const storeVersionName = (family: string, n: number) => (n <= 1 ? family : `${family}-v${n}`);

function versionOf(family: string, name: string): number | undefined {
  if (name === family) return 1;
  const m = name.startsWith(`${family}-v`) ? /^(\d+)$/.exec(name.slice(family.length + 2)) : null;
  return m && Number(m[1]) >= 2 ? Number(m[1]) : undefined;
}

export interface StoreFamily {
  role: StoreRole;
  /** The configured name (APIGEE_KEYSTORE / APIGEE_TRUSTSTORE), version 1. */
  family: string;
  /** Versions that exist, oldest first. */
  versions: string[];
  /** The version the gateway uses (through the reference or the target server), else the newest. */
  current: string;
  exists: boolean;
  /** The name the next version gets. */
  next: string;
  /** The reference to the store as Apigee has it (APIGEE_USE_REFERENCES=1; undefined = none yet). */
  reference?: Reference;
}

/** Reference name and target-server field through which the gateway finds a store. */
export function storePointer(config: Config, role: StoreRole): { family: string; reference: string; field: 'keyStore' | 'trustStore'; resourceType: 'KeyStore' | 'TrustStore' } {
  const a = config.apigee;
  return role === 'keystore'
    ? { family: a.keystore, reference: a.keystoreRef, field: 'keyStore', resourceType: 'KeyStore' }
    : { family: a.truststore, reference: a.truststoreRef, field: 'trustStore', resourceType: 'TrustStore' };
}

export interface Reference { name: string; resourceType: string; refers: string }

/** Finds the versions of a store and the one in use. */
export async function storeFamily(client: ApigeeClient, config: Config, role: StoreRole): Promise<StoreFamily> {
  const { family, reference, field } = storePointer(config, role);
  const names = (await client.lookup<string[]>(`${client.envPath}/keystores`, ['keystores', 'list'])) ?? [];
  const numbered = names.map((name) => ({ name, n: versionOf(family, name) })).filter((v): v is { name: string; n: number } => v.n !== undefined);
  numbered.sort((x, y) => x.n - y.n);
  const versions = numbered.map((v) => v.name);
  const ref = config.apigee.useReferences
    ? await client.lookup<Reference>(`${client.envPath}/references/${enc(reference)}`, ['references', 'get', '-n', reference])
    : undefined;
  const inUse = config.apigee.useReferences ? ref?.refers : (await targetServer(client, config.apigee.targetServer))?.sSLInfo?.[field];
  const current = inUse !== undefined && versions.includes(inUse) ? inUse : versions.at(-1) ?? family;
  const next = storeVersionName(family, (numbered.at(-1)?.n ?? 1) + 1);
  return { role, family, versions, current, exists: versions.includes(current), next, reference: ref };
}

/** The certificate an alias holds (PEM), or undefined when the alias does not exist. */
export async function aliasCertificate(client: ApigeeClient, keystore: string, alias: string): Promise<string | undefined> {
  const res = await client.call({
    method: 'GET', path: `${client.envPath}/keystores/${enc(keystore)}/aliases/${enc(alias)}/certificate`, allowNotFound: true,
    apigeecli: ['keyaliases', 'getcert', '-k', keystore, '-s', alias],
  });
  return res?.text();
}

export interface AliasPlan {
  store: StoreFamily;
  /** The alias already holds this certificate: nothing to do. */
  unchanged: boolean;
  /** Where the alias goes: the version in use while it has no alias, else the next version. */
  keystore: string;
  /** The keystore must be created first. */
  create: boolean;
  /** The alias must be uploaded (false when an interrupted run already put it into `keystore`). */
  upload: boolean;
  /** The version in use holds another certificate: the gateway must be pointed at `keystore`. */
  replacing: boolean;
}

/**
 * Decides where an alias upload goes, and says so. An alias in use is never replaced in place:
 * a changed certificate goes into the next keystore version (see repoint.ts).
 */
export async function aliasPlan(client: ApigeeClient, config: Config, role: StoreRole, alias: string, certFile: string): Promise<AliasPlan> {
  const store = await storeFamily(client, config, role);
  const held = store.exists ? await aliasCertificate(client, store.current, alias) : undefined;
  if (held && sameCertificate(held, certFile)) {
    log.reused(`alias ${alias} in ${store.current}`, '(same certificate)');
    return { store, unchanged: true, keystore: store.current, create: false, upload: false, replacing: false };
  }
  if (held) {
    const resumed = await interruptedVersion(client, store, alias, certFile);
    if (resumed) return resumed;
    log.warn(`alias ${alias} in ${store.current} holds another certificate: the new one goes into a new ${role}, ${store.next}`);
  }
  return { store, unchanged: false, keystore: held ? store.next : store.current, create: held !== undefined || !store.exists, upload: true, replacing: held !== undefined };
}

/**
 * A version newer than the one in use is what a run stopped halfway left (Ctrl-C after the
 * keystore POST, or after the alias POST but before the gateway was pointed at it). It is finished
 * rather than left behind with a further version made beside it: an empty one gets the alias, one
 * already holding this certificate only needs the gateway pointed at it.
 */
async function interruptedVersion(client: ApigeeClient, store: StoreFamily, alias: string, certFile: string): Promise<AliasPlan | undefined> {
  const newest = store.versions.at(-1);
  if (!newest || store.versions.indexOf(newest) <= store.versions.indexOf(store.current)) return undefined;
  const held = await aliasCertificate(client, newest, alias);
  const plan = { store, unchanged: false, keystore: newest, create: false, replacing: true };
  if (held === undefined) {
    log.warn(`${store.role} ${newest} has no alias ${alias} (a run stopped after creating it): the new certificate goes there`);
    return { ...plan, upload: true };
  }
  if (sameCertificate(held, certFile)) {
    log.reused(`alias ${alias} in ${newest}`, `(same certificate; a run stopped before the gateway was pointed at it)`);
    return { ...plan, upload: false };
  }
  return undefined;
}

export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** True when the PEM Apigee holds is the certificate in `file`. */
function sameCertificate(held: string, file: string): boolean {
  try {
    return fingerprint(held) === fingerprint(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

// ---- target servers ---------------------------------------------------------------------------

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

/** Field-by-field differences that matter for the connection (empty = same). */
export function targetServerDiff(have: Partial<TargetServer>, want: TargetServer): string[] {
  const diffs: string[] = [];
  const cmp = (label: string, a: unknown, b: unknown) => {
    if (String(a ?? '') !== String(b ?? '')) diffs.push(`${label}: ${JSON.stringify(a ?? null)} → ${JSON.stringify(b ?? null)}`);
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

/** apigeecli's flags for a target server (create or update). */
export function targetServerCli(verb: 'create' | 'update', ts: TargetServer): string[] {
  const s = ts.sSLInfo;
  // Apigee leaves false booleans out of what it returns: absent means false.
  return ['targetservers', verb, '-n', ts.name, '-s', ts.host, '-p', String(ts.port), '--tls', String(s.enabled ?? false), '-c', String(s.clientAuthEnabled ?? false),
    ...(s.keyStore ? ['--keystore', s.keyStore] : []), ...(s.keyAlias ? ['--keyalias', s.keyAlias] : []), ...(s.trustStore ? ['--truststore', s.trustStore] : []),
    '--tlsenforce', String(s.enforce ?? false), '-i', String(s.ignoreValidationErrors ?? false)];
}

/** The target server as Apigee has it (undefined when it does not exist). */
export function targetServer(client: ApigeeClient, name: string, quiet = false): Promise<TargetServer | undefined> {
  return client.lookup<TargetServer>(`${client.envPath}/targetservers/${enc(name)}`, ['targetservers', 'get', '-n', name], quiet);
}

// ---- proxies, revisions, deployments ---------------------------------------------------------

interface ProxyInfo { name: string; latestRevisionId?: string; revision?: string[] }
export interface RevisionInfo { revision: string; description?: string }

export async function latestRevision(client: ApigeeClient, proxy: string, quiet = false): Promise<RevisionInfo | undefined> {
  const info = await client.lookup<ProxyInfo>(`${client.orgPath}/apis/${enc(proxy)}`, ['apis', 'get', '-n', proxy], quiet);
  const latest = info?.latestRevisionId ?? info?.revision?.map(Number).sort((a, b) => b - a)[0]?.toString();
  if (!latest) return undefined;
  return client.lookup<RevisionInfo>(`${client.orgPath}/apis/${enc(proxy)}/revisions/${enc(latest)}`, undefined, quiet);
}

/** The newest revision of the proxy older than `revision` (undefined: `revision` is its first), looked up quietly. */
export async function revisionBefore(client: ApigeeClient, proxy: string, revision: string): Promise<RevisionInfo | undefined> {
  const info = await client.lookup<ProxyInfo>(`${client.orgPath}/apis/${enc(proxy)}`, undefined, true);
  const before = info?.revision?.map(Number).filter((r) => r < Number(revision)).sort((a, b) => b - a)[0];
  if (before === undefined) return undefined;
  return (await client.lookup<RevisionInfo>(`${client.orgPath}/apis/${enc(proxy)}/revisions/${before}`, undefined, true)) ?? { revision: String(before) };
}

export interface Deployment { revision?: string; state?: string; apiProxy?: string; errors?: Array<{ message?: string }> }

/** Every deployment in the environment (no status fields: those come with one deployment's GET). */
export async function envDeployments(client: ApigeeClient): Promise<Deployment[]> {
  return (await client.lookup<{ deployments?: Deployment[] }>(`${client.envPath}/deployments`, ['envs', 'deployments', 'get']))?.deployments ?? [];
}

/** Revisions of the proxy deployed in the environment. */
export async function deployedRevisions(client: ApigeeClient, proxy: string): Promise<string[]> {
  return (await envDeployments(client)).filter((d) => d.apiProxy === proxy && d.revision).map((d) => d.revision!);
}


/**
 * Polls a deployment until READY; ERROR or the timeout stop the step. The first GET is printed, so
 * a reader pasting the commands knows which request to repeat; the polls after it are not. DRY_RUN
 * prints that GET only. Ctrl-C or SIGTERM meanwhile stops the wait only (Apigee goes on deploying):
 * one line with the state last seen and the step to re-run, exit 130 or 143.
 */
export async function waitForReady(client: ApigeeClient, path: string, what: string, options: { intervalMs: number; timeoutMs: number; apigeecli?: string[] }): Promise<void> {
  const started = Date.now();
  const poll = async (quiet: boolean) => (await client.call({ method: 'GET', path, quiet, allowNotFound: true, apigeecli: options.apigeecli }))?.json<Deployment>();
  let state: Deployment | undefined;
  const stopListening = onInterrupt(() => `stopped waiting for READY; the deployment of ${what} goes on in Apigee (last state ${state?.state ?? 'not read yet'}); re-run ${followUp('./scripts/46-deploy.ts')} to wait for it`);
  try {
    log.explain('the deployment is ready when this GET answers "state": "READY" (repeat it until then)');
    state = await poll(false);
    if (client.dryRun) return;
    log.progress('   waiting for READY ');
    for (;;) {
      if (state?.state === 'READY') break;
      if (state?.state === 'ERROR') throw new StepError(`deployment of ${what} failed: ${state.errors?.map((e) => e.message).join('; ') || 'state ERROR'}`);
      if (Date.now() - started > options.timeoutMs) {
        throw new StepError(`deployment of ${what} not READY after ${Math.round(options.timeoutMs / 1000)}s (state ${state?.state ?? 'unknown'}); rerun ${followUp('./scripts/46-deploy.ts')}`);
      }
      log.progress('.');
      await sleep(options.intervalMs);
      state = await poll(true);
    }
    log.progress(` READY after ${((Date.now() - started) / 1000).toFixed(1)}s`, true);
  } finally {
    stopListening();
  }
}

/** Prints what a DELETE that tolerates "already gone" did. */
export function reportDeleted(client: ApigeeClient, what: string, deleted: unknown): void {
  if (client.dryRun) return;
  if (deleted) log.created(`deleted ${what}`);
  else log.info(`${what}: already absent`);
}
