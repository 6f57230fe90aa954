// Two builds of the backend in the same run: the working tree's against the one at a git
// revision (make bench-backend-ab BASE=<revision>, default HEAD). Same rounds as run.ts (a fresh
// process of each build per round, the two measured side by side: harness.ts, measurePaired),
// without the other servers. Prints, for each figure, the median over the rounds of this build ÷
// BASE and the rounds' range. Writes nothing.
// Why: runs of `make bench-backend` taken minutes apart move by ±5 %, more than most changes to
// the backend are worth; two builds measured side by side in one run differ only by the change.
// With BASE=HEAD and no change in the tree it is an A/A run, which shows how far a median strays
// by chance on this machine that day (docs/backend.md, "Speed").
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { ensureTools } from './tools.ts';
import { cleanUpOnSignal, clientPem, compileBackend, count, loadAverage, makePki, measurePaired, say, CONNECTIONS, LOAD_CORE, SERVER_CORE } from './harness.ts';
import { median, type Samples } from './report.ts';
import { startBackend } from './servers.ts';

const SECONDS = count('BENCH_SECONDS', 2);
const ROUNDS = count('BENCH_ROUNDS', 8);
const BASE = process.env.BASE || 'HEAD';

/** The commit BASE names, or one line and exit 2 before anything starts. */
async function baseCommit(): Promise<string> {
  const r = await execa('git', ['rev-parse', '--verify', '--quiet', `${BASE}^{commit}`], { cwd: repoRoot, reject: false });
  if (r.exitCode !== 0) {
    process.stderr.write(`bench: BASE=${BASE} is not a commit of this repository (try a branch, a tag or a hash from git log)\n`);
    process.exit(2);
  }
  return r.stdout.trim();
}

/** The backend's sources (backend/, lib/, and package.json, which makes them ES modules) as they were at `commit`, in `dir`. */
async function checkOut(commit: string, dir: string): Promise<void> {
  say(`baseline: git archive ${commit.slice(0, 12)} package.json backend lib | tar -x -C ${dir}`);
  mkdirSync(dir, { recursive: true });
  const archive = await execa('git', ['archive', '--format=tar', commit, 'package.json', 'backend', 'lib'], { cwd: repoRoot, encoding: 'buffer' });
  await execa('tar', ['-x', '-C', dir], { input: archive.stdout });
}

/** One figure's line: the median of this ÷ base over the rounds, and their range. */
function line(figure: string, ours: number[], base: number[]): string {
  const ratios = ours.map((x, i) => x / base[i]!);
  return `| ${figure} | **${median(ratios).toFixed(3)}×** | ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} |`;
}

async function main() {
  const commit = await baseCommit();
  if (cpus().length < 2) throw new Error('needs at least 2 CPU cores (one for the servers, one for the load)');
  await ensureTools();
  execFileSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
  const work = mkdtempSync(join(tmpdir(), 'bench-backend-ab-'));
  cleanUpOnSignal(work);
  try {
    const loadBefore = await loadAverage();
    const pki = await makePki(join(work, 'pki'));
    const pem = clientPem(pki, work);
    await compileBackend(repoRoot, join(work, 'this-js'));
    await checkOut(commit, join(work, 'base-src'));
    await compileBackend(join(work, 'base-src'), join(work, 'base-js'));
    mkdirSync(join(work, 'base-logs'));
    const { samples } = await measurePaired({
      a: { fresh: true, start: (round) => startBackend(pki, join(work, 'this-js'), work, SERVER_CORE, [], round) },
      b: { fresh: true, start: async (round) => ({ ...(await startBackend(pki, join(work, 'base-js'), join(work, 'base-logs'), SERVER_CORE, [], round)), name: 'base' }) },
      rounds: ROUNDS, seconds: SECONDS, keepAliveSeconds: SECONDS, pem,
    });
    const [o, b] = [samples.get('backend')!, samples.get('base')!];
    const perCore = (s: Samples) => ({
      full: s.full.map((x) => x.perCoreCapacity),
      resumed: s.resumed.map((x) => x.perCoreCapacity),
      keepAlive: CONNECTIONS.map((c) => s.keepAlive.get(c)!.map((x) => x.perCoreCapacity)),
    });
    const [po, pb] = [perCore(o), perCore(b)];
    say('');
    say(`This tree's backend ÷ the backend at ${BASE} (${commit.slice(0, 12)}), per core, ${ROUNDS} rounds, the two side by side, a fresh process of each per round; load average ${loadBefore} before, ${await loadAverage()} after:`);
    say('');
    say('| figure | median of rounds | rounds |');
    say('|---|--:|--:|');
    say(line('full mTLS handshakes', po.full, pb.full));
    say(line('resumed handshakes', po.resumed, pb.resumed));
    CONNECTIONS.forEach((c, i) => say(line(`keep-alive requests, ${c} connection${c > 1 ? 's' : ''}`, po.keepAlive[i]!, pb.keepAlive[i]!)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n`);
  process.exit(1);
}
