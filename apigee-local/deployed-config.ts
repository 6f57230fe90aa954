// What the runtime serves: Apigee X distributes an environment's configuration (target servers,
// keystores, references) to its message processors asynchronously, as numbered revisions
// (`organizations.environments.getDeployedConfig`). The management API saves a change at once;
// here each change to those resources becomes a new revision that the runtime starts serving
// `propagationMs` later (APIGEE_LOCAL_PROPAGATION_MS; 0 = the next call sees it). Revisions apply
// in order, so the runtime never mixes two of them.
import type { AliasRecord, ReferenceRecord, State, Store, TargetServerRecord } from './state.ts';

export interface RuntimeAlias {
  type: AliasRecord['type'];
  /** PEM certificates, leaf first. */
  certs: string[];
  /** PEM private key of a KEY_CERT alias, read when the revision was made (the file may go later). */
  keyPem?: string;
}

/** One revision of the environment's configuration, as the runtime uses it (own-key Maps only). */
export interface EnvironmentConfig {
  revisionId: number;
  /** When the management API saved it (ms since epoch). */
  createTime: number;
  /** When the runtime started (or will start) serving it. */
  appliesAt: number;
  targetServers: ReadonlyMap<string, Readonly<TargetServerRecord>>;
  keystores: ReadonlyMap<string, ReadonlyMap<string, RuntimeAlias>>;
  references: ReadonlyMap<string, Readonly<ReferenceRecord>>;
}

/** The parts of the state that make up the environment configuration. */
const fingerprint = (state: State) => JSON.stringify([state.targetServers, state.keystores, state.references]);

export class DeployedConfig {
  private served: EnvironmentConfig;
  private latest: EnvironmentConfig;
  private latestFingerprint: string;
  private readonly pending: EnvironmentConfig[] = [];
  /** Key PEMs by side file; side files are never rewritten, so their content can be kept. */
  private keys = new Map<string, string>();

  constructor(private readonly store: Store, private readonly propagationMs: number) {
    // At start the runtime serves what is saved, as a runtime that had long caught up would.
    this.served = this.latest = this.snapshot(store.state, 1, Date.now(), 0);
    this.latestFingerprint = fingerprint(store.state);
    store.onCommit((state) => this.saved(state));
  }

  /** The revision the runtime serves now. */
  current(now = Date.now()): EnvironmentConfig {
    while (this.pending.length > 0 && this.pending[0]!.appliesAt <= now) this.served = this.pending.shift()!;
    return this.served;
  }

  private saved(state: State): void {
    const print = fingerprint(state);
    if (print === this.latestFingerprint) return; // e.g. a proxy import: not environment configuration
    const now = Date.now();
    const next = this.snapshot(state, this.latest.revisionId + 1, now, this.propagationMs);
    this.latest = next;
    this.latestFingerprint = print;
    if (this.propagationMs === 0) this.served = next;
    else this.pending.push(next);
  }

  private snapshot(state: State, revisionId: number, now: number, delayMs: number): EnvironmentConfig {
    const keys = new Map<string, string>();
    const keystores = new Map<string, Map<string, RuntimeAlias>>();
    for (const [name, ks] of Object.entries(state.keystores)) {
      const aliases = new Map<string, RuntimeAlias>();
      for (const [aliasName, alias] of Object.entries(ks.aliases)) {
        const entry: RuntimeAlias = { type: alias.type, certs: [...alias.certs] };
        if (alias.keyFile) {
          const pem = this.keys.get(alias.keyFile) ?? this.store.readFile(alias.keyFile).toString('utf8');
          keys.set(alias.keyFile, pem);
          entry.keyPem = pem;
        }
        aliases.set(aliasName, entry);
      }
      keystores.set(name, aliases);
    }
    this.keys = keys;
    return {
      revisionId,
      createTime: now,
      appliesAt: now + delayMs,
      targetServers: new Map(Object.entries(structuredClone(state.targetServers))),
      keystores,
      references: new Map(Object.entries(structuredClone(state.references))),
    };
  }
}
