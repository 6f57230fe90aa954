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
import { checkServes, cleanUpOnSignal, clientPem, compileBackend, count, loadAverage, makePki, measureRounds, say, warmUp, CONNECTIONS, LOAD_CORE, SERVER_CORE } from './harness.ts';
import { handshakes, keepAlive, type Pem } from './load.ts';
import { memoryMiB } from './proc.ts';
import { summariseProfile } from './profile.ts';
import { startBackend, startJdk, startNginx, startPlainNode, type RunningServer } from './servers.ts';
import { renderResults, type Profiled, type ServerFigures } from './report.ts';

// Whole seconds: s_time and ab take no fractions.
const SECONDS = count('BENCH_SECONDS', 1);
const KEEPALIVE_SECONDS = 2 * SECONDS;
const ROUNDS = count('BENCH_ROUNDS', 8);
const COPIES = count('BENCH_COPIES', 3);
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
  const servers: RunningServer[] = [];
  try {
    const pki = await makePki(join(work, 'pki'));
    const pem = clientPem(pki, work);
    const compiled = join(work, 'backend-js');
    await compileBackend(repoRoot, compiled);

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
    for (const s of servers) await warmUp(s, pem);

    // Servers take turns on each measurement, so a change in the machine's other load during the
    // run hits all of them alike. nginx and the JDK are measured once per round; our backend and
    // the bare server twice each, mirrored (see the header), their two runs added up, and their
    // ratio is taken per round (report.ts). One entry per server name: the copies of ours (and of
    // bare) share theirs, a round each.
    const samples = await measureRounds({ a: ourCopies, b: bareCopies, company: [servers[0]!, servers[1]!], rounds: ROUNDS, seconds: SECONDS, keepAliveSeconds: KEEPALIVE_SECONDS, pem });

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
