// What the two backend benchmarks share (run.ts: ours against bare node:https, the JDK and nginx;
// ab.ts: two builds of ours): the certificates, compiling the backend, proving each server
// answers, and the rounds in which two servers are measured side by side.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { handshakes, keepAlive, type Pem } from './load.ts';
import { memoryMiB } from './proc.ts';
import type { Samples } from './report.ts';
import { killServers, MESSAGE, type Pki, type RunningServer } from './servers.ts';

export const SERVER_CORE = 0;
export const LOAD_CORE = 1;
export const CONNECTIONS = [1, 8, 32];

export const say = (line: string) => process.stdout.write(line + '\n');

/** A whole number ≥ 1 from the environment, or the default; anything else ends the run at once. */
export function count(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`bench: ${name} must be a whole number of at least 1, not "${process.env[name]}"\n`);
    process.exit(2);
  }
  return value;
}

/**
 * A run stopped by a signal stops its servers and removes its temp folder `work`, then exits with
 * 128 + the signal's number, as a shell reports it. Without this, Node exits at once: a SIGTERM or
 * SIGHUP sent to the script alone (kill, a job's timeout) left every server running and listening,
 * and even Ctrl-C, which reaches the servers too, left the folder behind.
 */
export function cleanUpOnSignal(work: string): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killServers();
      rmSync(work, { recursive: true, force: true });
      process.stderr.write(`bench: stopped by ${signal}: servers stopped, ${work} removed\n`);
      process.exit(128 + constants.signals[signal]);
    });
  }
}

/** The demo's certificates and stores, made by the kit's own steps 10–13 (RSA, the defaults). */
export async function makePki(dir: string): Promise<Pki> {
  const password = 'changeit';
  const steps = ['10-ca', '11-server-cert', '12-client-cert', '13-server-stores'];
  const imports = steps.map((s) => `await import(${JSON.stringify(join(repoRoot, 'scripts', `${s}.ts`))});`).join('\n');
  say(`certificates: scripts ${steps.join(', ')} with CERTS_DIR=${dir} (RSA, the demo defaults)`);
  await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', imports], {
    cwd: repoRoot,
    env: { ...process.env, CERTS_DIR: dir, SERVER_HOST: '127.0.0.1', EXTRA_SANS: 'localhost', STORE_PASSWORD: password, KEY_TYPE: 'rsa', FORCE: '1', DRY_RUN: '0', FORCE_COLOR: '0' },
  });
  return { dir, password };
}

/** The client's files for curl, s_time and ab (ab wants certificate and key in one file). */
export function clientPem(pki: Pki, work: string): Pem {
  const pem: Pem = {
    cert: join(pki.dir, 'apigee-client-cert.pem'),
    key: join(pki.dir, 'apigee-client-key.pem'),
    ca: join(pki.dir, 'ca-cert.pem'),
    combined: join(work, 'client-combined.pem'),
  };
  execFileSync('sh', ['-c', `umask 077 && cat "${pem.cert}" "${pem.key}" > "${pem.combined}"`]);
  return pem;
}

/** Compiles the backend found in `source` (a checkout: backend/ and lib/) as backend/Dockerfile does. */
export async function compileBackend(source: string, out: string): Promise<void> {
  say(`backend: tsc -p backend/tsconfig.build.json (as in backend/Dockerfile)${source === repoRoot ? '' : ` in ${source}`}`);
  // Node's types from this checkout: a source outside it has no node_modules of its own.
  const types = ['--typeRoots', join(repoRoot, 'node_modules', '@types')];
  await execa(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'backend/tsconfig.build.json', '--outDir', out, ...(source === repoRoot ? [] : types)], { cwd: source });
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
}

/** One request with curl proves each server answers the greeting to the client certificate. */
export async function checkServes(server: RunningServer, pem: Pem): Promise<void> {
  const r = await execa('curl', ['-sS', '--max-time', '5', '--cert', pem.cert, '--key', pem.key, '--cacert', pem.ca, `https://127.0.0.1:${server.port}/`], { reject: false });
  if (r.exitCode !== 0 || !r.stdout.includes(MESSAGE)) throw new Error(`${server.name} does not answer the greeting over mTLS (curl ${r.exitCode}): ${r.stderr}`);
}

export const loadAverage = async () => (await execa('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');

/**
 * Not measured: the JIT of the JDK server, V8's optimiser, a Node process back from rest. V8 goes
 * on optimizing the code a connection runs (Node's and ours) for thousands of connections: under
 * `--trace-opt`, functions on that path were still being optimized 20 s into a load of ~300 full
 * handshakes a second. Resumed handshakes run the same JavaScript about four times as often per
 * second (8 s: ~6,000 connections). Side by side, 6 rounds of 2 s, one build: ours ÷ bare on full
 * handshakes 0.944× with 3 s of resumed handshakes here, 0.960× with 8 s (keep-alive at 1
 * connection 0.967×, 0.979×). A long-running backend spends its life past that point.
 */
export async function warmUp(s: RunningServer, pem: Pem): Promise<void> {
  await keepAlive(s, pem, 8, 1, LOAD_CORE);
  await handshakes(s, pem, 'new', 1, LOAD_CORE);
  await handshakes(s, pem, 'reuse', 8, LOAD_CORE);
}

/** One side of a paired measurement. */
export interface Side {
  /** A process to measure in round `round` (1-based): a fresh one, or the same long-lived one each time. */
  start(round: number): Promise<RunningServer>;
  /** Whether a round's process is stopped after the round (fresh processes) or kept (a long-lived one). */
  fresh: boolean;
}

export interface Rounds {
  a: Side;
  b: Side;
  rounds: number;
  /** Per handshake measurement; keep-alive measurements take keepAliveSeconds. */
  seconds: number;
  keepAliveSeconds: number;
  pem: Pem;
  /**
   * Both loaded at once (the default), or one after the other, the order alternating between
   * rounds. Side by side is fair only between servers alike in threads and memory (ours and bare
   * node:https): next to the JDK (several threads taking ~80 % of the core, 250 MB of heap) both
   * measured 40-55 % below their figures alone, and ours ÷ JDK read 0.71× where turns give 1.25×.
   */
  inTurns?: boolean;
}

export interface Paired {
  /** One sample per round and measurement, by server name. */
  samples: Map<string, Samples>;
  /** The largest peak RSS seen in a round, by server name. */
  peakMiB: Map<string, number>;
}

/**
 * Rounds in which two servers are measured AT THE SAME TIME (unless inTurns), each with its own load generator:
 * both servers share core 0 and both loads share core 1, so whatever the machine does during a
 * measurement (it drifts by ±20 % within seconds here) falls on both alike, and each server's
 * figure is its work ÷ its own CPU time. Only the pair runs: a third process on core 0, even an
 * idle one, made one side of an A/A pair measure 10-15 % below the other, the same side every time
 * (docs/backend.md, "Speed"). Fresh sides get a new process every round, so no round depends on
 * one process's luck (where its memory landed, what the JIT chose). Each round starts with both
 * warmed up at once (1 s of keep-alive and 1 s of handshakes); which load starts first alternates
 * between rounds.
 */
export async function measurePaired(r: Rounds): Promise<Paired> {
  const samples = new Map<string, Samples>();
  const peakMiB = new Map<string, number>();
  const sample = (name: string) => {
    if (!samples.has(name)) samples.set(name, { full: [], resumed: [], keepAlive: new Map(CONNECTIONS.map((c) => [c, []])) });
    return samples.get(name)!;
  };
  const kept = new Set<RunningServer>();
  try {
    for (let round = 1; round <= r.rounds; round++) {
      const a = await r.a.start(round);
      const b = await r.b.start(round);
      for (const [side, server] of [[r.a, a], [r.b, b]] as const) if (!side.fresh) kept.add(server);
      try {
        await checkServes(a, r.pem);
        await checkServes(b, r.pem);
        const both = async <T>(measure: (s: RunningServer) => Promise<T>): Promise<[T, T]> => {
          const [first, second] = round % 2 === 1 ? [a, b] : [b, a];
          const done = r.inTurns ? [await measure(first), await measure(second)] : await Promise.all([measure(first), measure(second)]);
          return first === a ? [done[0]!, done[1]!] : [done[1]!, done[0]!];
        };
        await both((s) => warmUp(s, r.pem));
        const [fa, fb] = await both((s) => handshakes(s, r.pem, 'new', r.seconds, LOAD_CORE));
        const [ra, rb] = await both((s) => handshakes(s, r.pem, 'reuse', r.seconds, LOAD_CORE));
        sample(a.name).full.push(fa);
        sample(b.name).full.push(fb);
        sample(a.name).resumed.push(ra);
        sample(b.name).resumed.push(rb);
        for (const c of CONNECTIONS) {
          const [ka, kb] = await both((s) => keepAlive(s, r.pem, c, r.keepAliveSeconds, LOAD_CORE));
          sample(a.name).keepAlive.get(c)!.push(ka);
          sample(b.name).keepAlive.get(c)!.push(kb);
        }
        for (const s of [a, b]) peakMiB.set(s.name, Math.max(peakMiB.get(s.name) ?? 0, memoryMiB(s.pid).peak));
      } finally {
        if (r.a.fresh) await a.stop();
        if (r.b.fresh) await b.stop();
      }
      say(`round ${round}/${r.rounds}: ${a.name} and ${b.name} measured`);
    }
  } finally {
    for (const s of kept) await s.stop();
  }
  return { samples, peakMiB };
}
