// Benchmark of the mTLS backend against the stack it is built on (a bare node:https server), a
// JDK-only HTTPS server and nginx: same certificates, same client-certificate policy, one run.
// Command: make bench-backend (node --import tsx bench/backend/run.ts).
// Each server is pinned to core 0, the load generators (and this script) to core 1. Servers are
// measured in pairs, AT THE SAME TIME and only the pair running (harness.ts, measurePaired): our
// backend against bare node:https (BENCH_ROUNDS rounds, default 8, a fresh process of each per
// round); then against the JDK server and against nginx, taking turns with them instead (as many
// rounds; each runs as one long-lived process, warmed up first, since the JDK's JIT needs longer
// than a round); then two bare servers against each other side by side (A/A, half as many rounds:
// what a ratio strays by chance in this run). Then our backend and the bare server run once
// more under CPU profiling (profile.ts). Writes bench/backend/RESULTS.md.
// BENCH_SECONDS (per measurement, default 2) and BENCH_ROUNDS trade run time
// for steadiness; BENCH_NICE=-10 (root) raises the servers and load generators above the rest of
// a busy machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { ensureTools } from './tools.ts';
import { cleanUpOnSignal, clientPem, compileBackend, count, loadAverage, makePki, measurePaired, say, warmUp, CONNECTIONS, LOAD_CORE, SERVER_CORE, type Paired, type Side } from './harness.ts';
import { handshakes, keepAlive, type Pem } from './load.ts';
import { summariseProfile } from './profile.ts';
import { startBackend, startJdk, startNginx, startPlainNode, type RunningServer } from './servers.ts';
import { renderResults, type Pair, type Pairs, type Profiled, type ServerFigures } from './report.ts';

// Whole seconds: s_time and ab take no fractions. Handshakes get as long as keep-alive: one
// s_time client makes only ~150 full handshakes a second next to the other server's.
const SECONDS = count('BENCH_SECONDS', 2);
const KEEPALIVE_SECONDS = SECONDS;
const ROUNDS = count('BENCH_ROUNDS', 8);
/** Rounds of the A/A pair. */
const AA_ROUNDS = Math.max(2, Math.ceil(ROUNDS / 2));
const PROFILE_SECONDS = 4;

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
  cleanUpOnSignal(work);
  const started = Date.now();
  const loadBefore = await loadAverage();
  try {
    const pki = await makePki(join(work, 'pki'));
    const pem = clientPem(pki, work);
    const compiled = join(work, 'backend-js');
    await compileBackend(repoRoot, compiled);

    const fresh = (start: (round: number) => Promise<RunningServer>): Side => ({ start, fresh: true });
    /** One process for every round, warmed up for longer before the first; measurePaired stops it after its last round. */
    const longLived = (start: () => Promise<RunningServer>): Side => {
      let server: RunningServer | undefined;
      return {
        fresh: false,
        async start() {
          if (!server) {
            server = await start();
            for (let i = 0; i < 3; i++) await warmUp(server, pem);
          }
          return server;
        },
      };
    };
    const ours = fresh((round) => startBackend(pki, compiled, work, SERVER_CORE, [], round));
    const bare = fresh((round) => startPlainNode(pki, work, SERVER_CORE, [], round));
    say(`our backend and bare node:https, ${ROUNDS} rounds`);
    const vsBare = await measurePaired({ a: ours, b: bare, rounds: ROUNDS, seconds: SECONDS, keepAliveSeconds: KEEPALIVE_SECONDS, pem });
    say(`our backend and the JDK server in turns, ${ROUNDS} rounds`);
    const vsJdk = await measurePaired({ a: ours, b: longLived(() => startJdk(pki, work, SERVER_CORE)), rounds: ROUNDS, seconds: SECONDS, keepAliveSeconds: KEEPALIVE_SECONDS, pem, inTurns: true });
    say(`our backend and nginx in turns, ${ROUNDS} rounds`);
    const vsNginx = await measurePaired({ a: ours, b: longLived(() => startNginx(pki, work, SERVER_CORE)), rounds: ROUNDS, seconds: SECONDS, keepAliveSeconds: KEEPALIVE_SECONDS, pem, inTurns: true });
    say(`A/A: two bare node:https servers, ${AA_ROUNDS} rounds`);
    const twin = fresh(async (round) => ({ ...(await startPlainNode(pki, work, SERVER_CORE, [], 1000 + round)), name: 'plain-node-twin' }));
    const aa = await measurePaired({ a: bare, b: twin, rounds: AA_ROUNDS, seconds: SECONDS, keepAliveSeconds: KEEPALIVE_SECONDS, pem });

    const best = <T>(list: T[], key: (x: T) => number) => list.reduce((a, b) => (key(b) > key(a) ? b : a));
    const figuresOf = (name: string, run: Paired): ServerFigures => {
      const all = run.samples.get(name)!;
      return {
        name,
        full: best(all.full, (x) => x.perCoreCapacity),
        resumed: best(all.resumed, (x) => x.perCoreCapacity),
        keepAlive: CONNECTIONS.map((c) => best(all.keepAlive.get(c)!, (x) => x.requestsPerSecond)),
        memory: run.peakMiB.get(name)!,
        samples: all,
      };
    };
    const pairOf = (run: Paired, ours: string, other: string): Pair => ({ ours: figuresOf(ours, run), other: figuresOf(other, run) });
    const pairs: Pairs = {
      bare: pairOf(vsBare, 'backend', 'plain-node'),
      jdk: pairOf(vsJdk, 'backend', 'jdk'),
      nginx: pairOf(vsNginx, 'backend', 'nginx'),
      aa: pairOf(aa, 'plain-node', 'plain-node-twin'),
    };
    // The table's columns: nginx and the JDK alone, ours and bare from their side-by-side rounds.
    const figures = [pairs.nginx.other, pairs.jdk.other, pairs.bare.ours, pairs.bare.other];
    const loadAfterMeasuring = await loadAverage();

    say('profiles: our backend and bare node:https under node --cpu-prof');
    const profiles: Record<string, Profiled> = {
      backend: await profileUnderLoad((flags) => startBackend(pki, compiled, work, SERVER_CORE, flags), pem, work),
      'plain-node': await profileUnderLoad((flags) => startPlainNode(pki, work, SERVER_CORE, flags), pem, work),
    };
    const markdown = renderResults(figures, pairs, profiles, {
      seconds: SECONDS,
      keepAliveSeconds: KEEPALIVE_SECONDS,
      profileSeconds: PROFILE_SECONDS,
      rounds: ROUNDS,
      aaRounds: AA_ROUNDS,
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
