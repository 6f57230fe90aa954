// Benchmark of the mTLS backend against the stack it is built on (a bare node:https server), a
// JDK-only HTTPS server and nginx: same certificates, same client-certificate policy, one run.
// Command: make bench-backend (node --import tsx bench/backend/run.ts).
// Each server is pinned to core 0, the load generators (and this script) to core 1. Then our
// backend and the bare server run once more under CPU profiling (profile.ts). Writes
// bench/backend/RESULTS.md.
// Our backend and the bare server each run as BENCH_COPIES processes (default 3), one pair per
// round in turn: two runs of the same server differ by up to 20 % here for as long as they live
// (where their memory landed, what the JIT chose), so a single pair would compare that luck.
// Within a round, our backend and the bare server are each measured twice, in mirrored order
// (ours, bare, bare, ours; the other way round in the next round): the speed of this shared
// machine drifts within seconds, and the mirror makes a steady drift weigh on both alike. An
// even number of rounds also gives each server the first place (right after the JDK) equally often.
// BENCH_SECONDS (per handshake measurement, default 1; keep-alive measurements take twice as
// long, so the handshakes that open ab's connections weigh less) and BENCH_ROUNDS (default 8:
// on a shared machine more short rounds give a steadier median ratio than a few long ones)
// trade run time for steadiness; BENCH_NICE=-10 (root) raises the servers and load generators
// above the rest of a busy machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { ensureTools } from './tools.ts';
import { addHandshakes, addKeepAlive, handshakes, keepAlive, type Pem } from './load.ts';
import { memoryMiB } from './proc.ts';
import { summariseProfile } from './profile.ts';
import { startBackend, startJdk, startNginx, startPlainNode, MESSAGE, type Pki, type RunningServer } from './servers.ts';
import { renderResults, type Profiled, type Samples, type ServerFigures } from './report.ts';

/** A whole number ≥ 1 from the environment, or the default. */
function count(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`bench: ${name} must be a whole number of at least 1, not "${process.env[name]}"\n`);
    process.exit(2);
  }
  return value;
}

// Whole seconds: s_time and ab take no fractions.
const SECONDS = count('BENCH_SECONDS', 1);
const KEEPALIVE_SECONDS = 2 * SECONDS;
const ROUNDS = count('BENCH_ROUNDS', 8);
const COPIES = count('BENCH_COPIES', 3);
const CONNECTIONS = [1, 8, 32];
const PROFILE_SECONDS = 4;
const SERVER_CORE = 0;
const LOAD_CORE = 1;

const say = (line: string) => process.stdout.write(line + '\n');

async function makePki(dir: string): Promise<Pki> {
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

async function compileBackend(out: string): Promise<void> {
  say('backend: tsc -p backend/tsconfig.build.json (as in backend/Dockerfile)');
  await execa(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'backend/tsconfig.build.json', '--outDir', out], { cwd: repoRoot });
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
}

/** One request with curl proves each server answers the greeting to the client certificate. */
async function checkServes(server: RunningServer, pem: Pem): Promise<void> {
  const r = await execa('curl', ['-sS', '--max-time', '5', '--cert', pem.cert, '--key', pem.key, '--cacert', pem.ca, `https://127.0.0.1:${server.port}/`], { reject: false });
  if (r.exitCode !== 0 || !r.stdout.includes(MESSAGE)) throw new Error(`${server.name} does not answer the greeting over mTLS (curl ${r.exitCode}): ${r.stderr}`);
}


const loadAverage = async () => (await execa('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');

/**
 * One more run of a server under `node --cpu-prof`, for each load: keep-alive requests at 8
 * connections, then full handshakes. Returns each profile's summary and how much work it covered.
 */
async function profileUnderLoad(start: (flags: string[]) => Promise<RunningServer>, pem: Pem, work: string): Promise<Profiled> {
  const run = async (load: 'keep-alive' | 'handshakes') => {
    const dir = join(work, `profile-${load}-${Date.now()}`);
    const server = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    try {
      await keepAlive(server, pem, 8, 1, LOAD_CORE); // warm-up, in the profile too
      const done = load === 'keep-alive'
        ? (await keepAlive(server, pem, 8, PROFILE_SECONDS, LOAD_CORE)).requests
        : (await handshakes(server, pem, 'new', PROFILE_SECONDS, LOAD_CORE)).connections;
      await server.stop(); // the profile is written as the process exits
      return { summary: summariseProfile(dir), units: done };
    } finally {
      await server.stop();
    }
  };
  return { keepAlive: await run('keep-alive'), handshakes: await run('handshakes') };
}

async function main() {
  if (cpus().length < 2) throw new Error('needs at least 2 CPU cores (one for the servers, one for the load)');
  await ensureTools();
  // This script and everything it starts stay off the servers' core (the servers re-pin themselves).
  execFileSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });

  const work = mkdtempSync(join(tmpdir(), 'bench-backend-'));
  const started = Date.now();
  const loadBefore = await loadAverage();
  const servers: RunningServer[] = [];
  try {
    const pki = await makePki(join(work, 'pki'));
    const pem: Pem = {
      cert: join(pki.dir, 'apigee-client-cert.pem'),
      key: join(pki.dir, 'apigee-client-key.pem'),
      ca: join(pki.dir, 'ca-cert.pem'),
      combined: join(work, 'client-combined.pem'),
    };
    execFileSync('sh', ['-c', `umask 077 && cat "${pem.cert}" "${pem.key}" > "${pem.combined}"`]);
    const compiled = join(work, 'backend-js');
    await compileBackend(compiled);

    servers.push(await startNginx(pki, work, SERVER_CORE));
    servers.push(await startJdk(pki, work, SERVER_CORE));
    const ourCopies: RunningServer[] = [];
    const bareCopies: RunningServer[] = [];
    for (let i = 0; i < COPIES; i++) {
      ourCopies.push(await startBackend(pki, compiled, work, SERVER_CORE, [], i));
      bareCopies.push(await startPlainNode(pki, work, SERVER_CORE, [], i));
    }
    servers.push(...ourCopies, ...bareCopies);
    for (const s of servers) await checkServes(s, pem);
    say(`servers up: ${servers.map((s) => `${s.name} (pid ${s.pid}, port ${s.port})`).join(', ')}`);

    // Warm-up (the JIT of the JDK server, V8's optimiser), not measured.
    const warmUp = async (s: RunningServer) => {
      await keepAlive(s, pem, 8, 1, LOAD_CORE);
      await handshakes(s, pem, 'new', 1, LOAD_CORE);
    };
    for (const s of servers) await warmUp(s);

    // One entry per server name: the copies of ours (and of bare) share theirs, a round each.
    const samples = new Map<string, Samples>();
    for (const s of servers) samples.set(s.name, { full: [], resumed: [], keepAlive: new Map(CONNECTIONS.map((c) => [c, []])) });
    // Servers take turns on each measurement, so a change in the machine's other load during the
    // run hits all of them alike. nginx and the JDK are measured once per round; our backend and
    // the bare server twice each, mirrored (see the header), their two runs added up, and their
    // ratio is taken per round (report.ts).
    const [nginx, jdk] = [servers[0]!, servers[1]!];
    async function turns<T>(measure: (s: RunningServer) => Promise<T>, add: (a: T, b: T) => T, first: RunningServer, second: RunningServer): Promise<Map<string, T>> {
      const got = new Map<string, T>();
      for (const s of [nginx, jdk]) got.set(s.name, await measure(s));
      const first1 = await measure(first);
      const second1 = await measure(second);
      const second2 = await measure(second);
      const first2 = await measure(first);
      got.set(first.name, add(first1, first2));
      got.set(second.name, add(second1, second2));
      return got;
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const ours = ourCopies[(round - 1) % COPIES]!;
      const bare = bareCopies[(round - 1) % COPIES]!;
      const [first, second] = round % 2 === 1 ? [ours, bare] : [bare, ours];
      // The round's two copies sat idle while the other copies had their rounds; a Node server's
      // first second of load after a minute's rest is ~10 % slower (measured), so both are
      // warmed up again, as at the start, and the rounds compare the servers' steady state.
      for (const s of [first, second]) await warmUp(s);
      for (const [name, r] of await turns((s) => handshakes(s, pem, 'new', SECONDS, LOAD_CORE), addHandshakes, first, second)) samples.get(name)!.full.push(r);
      for (const [name, r] of await turns((s) => handshakes(s, pem, 'reuse', SECONDS, LOAD_CORE), addHandshakes, first, second)) samples.get(name)!.resumed.push(r);
      for (const c of CONNECTIONS) {
        for (const [name, r] of await turns((s) => keepAlive(s, pem, c, KEEPALIVE_SECONDS, LOAD_CORE), addKeepAlive, first, second)) samples.get(name)!.keepAlive.get(c)!.push(r);
      }
      say(`round ${round}/${ROUNDS} measured`);
    }

    const figures: ServerFigures[] = [servers[0]!, servers[1]!, ourCopies[0]!, bareCopies[0]!].map((s) => {
      const all = samples.get(s.name)!;
      const copies = servers.filter((x) => x.name === s.name);
      const best = <T>(list: T[], key: (x: T) => number) => list.reduce((a, b) => (key(b) > key(a) ? b : a));
      return {
        name: s.name,
        full: best(all.full, (x) => x.perCoreCapacity),
        resumed: best(all.resumed, (x) => x.perCoreCapacity),
        keepAlive: CONNECTIONS.map((c) => best(all.keepAlive.get(c)!, (x) => x.requestsPerSecond)),
        // The largest of the copies.
        memory: copies.map((x) => memoryMiB(x.pid)).reduce((a, b) => (b.peak > a.peak ? b : a)),
        samples: all,
      };
    });
    const loadAfterMeasuring = await loadAverage();
    for (const s of servers.splice(0)) await s.stop();

    say('profiles: our backend and bare node:https under node --cpu-prof');
    const profiles: Record<string, Profiled> = {
      backend: await profileUnderLoad((flags) => startBackend(pki, compiled, work, SERVER_CORE, flags), pem, work),
      'plain-node': await profileUnderLoad((flags) => startPlainNode(pki, work, SERVER_CORE, flags), pem, work),
    };
    const markdown = renderResults(figures, profiles, {
      seconds: SECONDS,
      keepAliveSeconds: KEEPALIVE_SECONDS,
      profileSeconds: PROFILE_SECONDS,
      rounds: ROUNDS,
      copies: COPIES,
      durationS: (Date.now() - started) / 1000,
      versions: await versions(),
      cpu: cpus()[0]?.model ?? 'unknown',
      load: { before: loadBefore, afterMeasuring: loadAfterMeasuring, atEnd: await loadAverage() },
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      pem,
      work,
    });
    writeFileSync(join(repoRoot, 'bench', 'backend', 'RESULTS.md'), markdown);
    say('');
    say(markdown);
    say('written: bench/backend/RESULTS.md');
  } finally {
    for (const s of servers) await s.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function versions(): Promise<Record<string, string>> {
  const first = async (command: string, flag: string, pattern: RegExp) => {
    const r = await execa(command, [flag], { reject: false, all: true });
    return pattern.exec(r.all ?? '')?.[1] ?? 'unknown';
  };
  return {
    node: process.version,
    nginx: await first('nginx', '-v', /nginx\/([\d.]+)/),
    java: await first('java', '-version', /version "([^"]+)"/),
    openssl: await first('openssl', 'version', /OpenSSL ([\d.]+\w*)/),
    ab: await first('ab', '-V', /Version ([\d.]+)/),
  };
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exit(1);
}
