// The stand-in's persistent state: one JSON document (state.json) plus side files for private
// keys (0600) and uploaded bundles. Every change goes through `mutate`, which runs changes one at a
// time, works on a copy, writes side files first and the JSON last (temp file + fsync + rename),
// so a refused request stores nothing and a process killed mid-write leaves the previous state.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/files.ts';
import type { BundleModel } from './bundle.ts';

export interface AliasRecord {
  type: 'KEY_CERT' | 'CERT';
  /** PEM certificates, leaf first. */
  certs: string[];
  /** Side file (under keys/) holding the PEM private key of a KEY_CERT alias. */
  keyFile?: string;
}
export interface KeystoreRecord {
  name: string;
  aliases: Record<string, AliasRecord>;
}
export interface ReferenceRecord {
  name: string;
  description?: string;
  resourceType: 'KeyStore' | 'TrustStore';
  refers: string;
}
export interface TlsInfo {
  enabled?: boolean;
  clientAuthEnabled?: boolean;
  keyStore?: string;
  keyAlias?: string;
  trustStore?: string;
  ignoreValidationErrors?: boolean;
  enforce?: boolean;
  protocols?: string[];
  ciphers?: string[];
  commonName?: { value?: string; wildcardMatch?: boolean };
}
export interface TargetServerRecord {
  name: string;
  description?: string;
  host: string;
  port: number;
  isEnabled: boolean;
  protocol: string;
  sSLInfo?: TlsInfo;
}
export interface RevisionRecord {
  revision: string;
  createdAt: string;
  bundleFile: string;
  bundle: BundleModel;
}
export interface ProxyRecord {
  name: string;
  createdAt: string;
  lastModifiedAt: string;
  revisions: Record<string, RevisionRecord>;
}
export interface DeploymentRecord {
  apiProxy: string;
  revision: string;
  deployStartTime: string;
  /** Problems found when the deployment was made; non-empty means state ERROR. */
  errors: string[];
  /**
   * The revision the runtime served when this deployment started (a redeploy or an override); it
   * keeps serving it while this one is PROGRESSING. Absent for a first deployment.
   */
  previousRevision?: string;
}
export interface State {
  version: 1;
  keystores: Record<string, KeystoreRecord>;
  references: Record<string, ReferenceRecord>;
  targetServers: Record<string, TargetServerRecord>;
  apis: Record<string, ProxyRecord>;
  deployments: Record<string, DeploymentRecord>;
}

/**
 * A record keyed by names users choose: no prototype, so `__proto__`, `constructor` or `toString`
 * are names like any other (assignment creates an own key; a lookup never finds Object.prototype).
 */
export function byName<T>(from: Record<string, T> = {}): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, from);
}

/** The record stored under `name` (own keys only). */
export function lookup<T>(records: Record<string, T>, name: string): T | undefined {
  return Object.hasOwn(records, name) ? records[name] : undefined;
}

/** A stored revision of a proxy, if both exist. */
export function revisionOf(state: State, api: string, revision: string): RevisionRecord | undefined {
  const proxy = lookup(state.apis, api);
  return proxy ? lookup(proxy.revisions, revision) : undefined;
}

const emptyState = (): State => withNameRecords({ version: 1, keystores: {}, references: {}, targetServers: {}, apis: {}, deployments: {} });

/** Gives every name-keyed record of a state (fresh from JSON or structuredClone) a null prototype. */
function withNameRecords(state: State): State {
  state.keystores = byName(state.keystores);
  for (const ks of Object.values(state.keystores)) ks.aliases = byName(ks.aliases);
  state.references = byName(state.references);
  state.targetServers = byName(state.targetServers);
  state.apis = byName(state.apis);
  for (const api of Object.values(state.apis)) api.revisions = byName(api.revisions);
  state.deployments = byName(state.deployments);
  return state;
}

/** Side files a change wants written before its state is committed, or removed after. */
export class Changes {
  readonly writes: Array<{ rel: string; data: string | Uint8Array; mode: number }> = [];
  readonly removals: string[] = [];
  /** Registers a new side file and returns its path relative to the state folder. */
  addFile(folder: 'keys' | 'bundles', extension: string, data: string | Uint8Array, mode: number): string {
    const rel = `${folder}/${randomUUID()}${extension}`;
    this.writes.push({ rel, data, mode });
    return rel;
  }
  removeFile(rel: string | undefined): void {
    if (rel) this.removals.push(rel);
  }
}

export class Store {
  private current: State;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners: Array<(state: State) => void> = [];
  readonly statePath: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.statePath = join(dir, 'state.json');
    this.current = existsSync(this.statePath) ? this.load() : emptyState();
    this.sweep();
  }

  /**
   * A process killed mid-change can leave temp files and side files the state never committed;
   * neither is ever read, so they are removed at start.
   */
  private sweep(): void {
    const used = new Set<string>();
    for (const ks of Object.values(this.current.keystores)) for (const a of Object.values(ks.aliases)) if (a.keyFile) used.add(a.keyFile);
    for (const api of Object.values(this.current.apis)) for (const r of Object.values(api.revisions)) used.add(r.bundleFile);
    for (const folder of ['', 'keys', 'bundles']) {
      const dir = join(this.dir, folder);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        const rel = folder ? `${folder}/${name}` : name;
        if (name.endsWith('.tmp') || (folder !== '' && !used.has(rel))) rmSync(join(dir, name), { force: true });
      }
    }
  }

  private load(): State {
    try {
      const parsed = JSON.parse(readFileSync(this.statePath, 'utf8')) as State;
      if (parsed.version !== 1) throw new Error(`unknown state version ${String(parsed.version)}`);
      return withNameRecords({ ...emptyState(), ...parsed });
    } catch (error) {
      throw new Error(`cannot read ${this.statePath}: ${(error as Error).message}`);
    }
  }

  /** Calls `listener` with each newly committed state, before side files of the change are removed. */
  onCommit(listener: (state: State) => void): void {
    this.listeners.push(listener);
  }

  /** The committed state; treat as read-only. */
  get state(): State {
    return this.current;
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  readFile(rel: string): Buffer {
    return readFileSync(this.path(rel));
  }

  /**
   * Applies one change. `change` works on a copy; when it throws, nothing is written and the
   * error is passed on. Changes run strictly one after another.
   */
  mutate<T>(change: (draft: State, changes: Changes) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const draft = withNameRecords(structuredClone(this.current));
      const changes = new Changes();
      const result = change(draft, changes);
      const written: string[] = [];
      try {
        for (const file of changes.writes) {
          writeFileAtomic(this.path(file.rel), file.data, file.mode);
          written.push(file.rel);
        }
        writeFileAtomic(this.statePath, JSON.stringify(draft, null, 1), 0o600);
      } catch (error) {
        for (const rel of written) rmSync(this.path(rel), { force: true });
        throw error;
      }
      this.current = draft;
      for (const listener of this.listeners) listener(draft);
      for (const rel of changes.removals) rmSync(this.path(rel), { force: true });
      return result;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
