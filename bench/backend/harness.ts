// What the two backend benchmarks share (run.ts: ours against bare node:https, the JDK and nginx;
// ab.ts: two builds of ours): the certificates, compiling the backend, proving each server
// answers, and the rounds in which two servers are measured in mirrored order.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { addHandshakes, addKeepAlive, handshakes, keepAlive, type Pem } from './load.ts';
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

/** Not measured: the JIT of the JDK server, V8's optimiser, a Node process back from rest. */
export async function warmUp(s: RunningServer, pem: Pem): Promise<void> {
  await keepAlive(s, pem, 8, 1, LOAD_CORE);
  await handshakes(s, pem, 'new', 1, LOAD_CORE);
}

export interface Rounds {
  /** The two servers compared, each as copies (processes) taking the rounds in turn. */
  a: RunningServer[];
  b: RunningServer[];
  /** Servers measured once per round before the pair (run.ts: nginx and the JDK). */
  company: RunningServer[];
  rounds: number;
  /** Per handshake measurement; keep-alive measurements take keepAliveSeconds. */
  seconds: number;
  keepAliveSeconds: number;
  pem: Pem;
}

/**
 * Every round: the round's copy of `a` and of `b` warmed up again (a Node server's first second
 * of load after minutes of rest is ~10 % slower, measured), then for each measurement the
 * company once each and the pair twice each in mirrored order (a, b, b, a; the other way round
 * in the next round), each one's two runs added up. Samples by server name.
 */
export async function measureRounds(r: Rounds): Promise<Map<string, Samples>> {
  const samples = new Map<string, Samples>();
  for (const s of [...r.company, ...r.a, ...r.b]) samples.set(s.name, { full: [], resumed: [], keepAlive: new Map(CONNECTIONS.map((c) => [c, []])) });
  async function turns<T>(measure: (s: RunningServer) => Promise<T>, add: (x: T, y: T) => T, first: RunningServer, second: RunningServer): Promise<Map<string, T>> {
    const got = new Map<string, T>();
    for (const s of r.company) got.set(s.name, await measure(s));
    const first1 = await measure(first);
    const second1 = await measure(second);
    const second2 = await measure(second);
    const first2 = await measure(first);
    got.set(first.name, add(first1, first2));
    got.set(second.name, add(second1, second2));
    return got;
  }
  for (let round = 1; round <= r.rounds; round++) {
    const a = r.a[(round - 1) % r.a.length]!;
    const b = r.b[(round - 1) % r.b.length]!;
    const [first, second] = round % 2 === 1 ? [a, b] : [b, a];
    for (const s of [first, second]) await warmUp(s, r.pem);
    for (const [name, x] of await turns((s) => handshakes(s, r.pem, 'new', r.seconds, LOAD_CORE), addHandshakes, first, second)) samples.get(name)!.full.push(x);
    for (const [name, x] of await turns((s) => handshakes(s, r.pem, 'reuse', r.seconds, LOAD_CORE), addHandshakes, first, second)) samples.get(name)!.resumed.push(x);
    for (const c of CONNECTIONS) {
      for (const [name, x] of await turns((s) => keepAlive(s, r.pem, c, r.keepAliveSeconds, LOAD_CORE), addKeepAlive, first, second)) samples.get(name)!.keepAlive.get(c)!.push(x);
    }
    say(`round ${round}/${r.rounds} measured`);
  }
  return samples;
}
