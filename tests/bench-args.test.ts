// bench/backend/run.ts and ab.ts refuse a bad BENCH_ROUNDS / BENCH_SECONDS (and
// ab.ts a BASE that is no commit) at once, in one line with exit code 2, before they start
// anything (a bad value used to fail minutes later). A run stopped by a signal stops its servers
// and removes its temp folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { isAlive } from '../core/pidfile.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';

const run = (env: Record<string, string>, script = 'run.ts') =>
  execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'backend', script)], { cwd: repoRoot, env, reject: false, timeout: 30_000 });

for (const [name, value] of [['BENCH_ROUNDS', '0'], ['BENCH_ROUNDS', 'three'], ['BENCH_SECONDS', '1.5'], ['BENCH_SECONDS', 'abc']] as const) {
  test(`${name}=${value} is refused in one line, exit 2`, async () => {
    const r = await run({ [name]: value });
    assert.is(r.exitCode, 2);
    assert.is(r.stderr.trim(), `bench: ${name} must be a whole number of at least 1, not "${value}"`);
    assert.is(r.stdout, '', 'nothing was started or measured');
  });
}

test('ab.ts refuses BENCH_ROUNDS=0 the same way', async () => {
  const r = await run({ BENCH_ROUNDS: '0' }, 'ab.ts');
  assert.is(r.exitCode, 2);
  assert.is(r.stderr.trim(), 'bench: BENCH_ROUNDS must be a whole number of at least 1, not "0"');
  assert.is(r.stdout, '');
});

test('ab.ts refuses a BASE that names no commit, in one line, exit 2, before anything starts', async () => {
  const r = await run({ PATH: process.env.PATH!, BASE: 'no-such-branch-xyz' }, 'ab.ts');
  assert.is(r.exitCode, 2);
  assert.is(r.stderr.trim(), 'bench: BASE=no-such-branch-xyz is not a commit of this repository (try a branch, a tag or a hash from git log)');
  assert.is(r.stdout, '', 'no certificates made, nothing compiled or started');
});

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  test(`${signal} to a bench run alone: its servers stop, its temp folder goes, exit 128 + the signal's number`, async () => {
    const fx = await pkiFixture();
    const work = tempDir('bench-signal-');
    // The start of a run as run.ts and ab.ts begin it, with one real server (bare node:https).
    const script = `
      import { cleanUpOnSignal } from ${JSON.stringify(join(repoRoot, 'bench', 'backend', 'harness.ts'))};
      import { startPlainNode } from ${JSON.stringify(join(repoRoot, 'bench', 'backend', 'servers.ts'))};
      cleanUpOnSignal(${JSON.stringify(work)});
      const server = await startPlainNode({ dir: ${JSON.stringify(fx.pki)}, password: '' }, ${JSON.stringify(work)}, 0);
      console.log('serving ' + server.pid);
      setInterval(() => {}, 1000);`;
    const bench = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    bench.stderr.on('data', (d) => (err += d));
    const pid = await new Promise<number>((resolve, reject) => {
      bench.stdout.on('data', (d) => {
        const m = /serving (\d+)/.exec((out += d));
        if (m) resolve(Number(m[1]));
      });
      bench.once('exit', () => reject(new Error(`the run ended before its server served: ${err}`)));
    });
    assert.ok(isAlive(pid) && existsSync(work), 'the server runs and the folder exists before the signal');
    const exited = once(bench, 'exit');
    bench.kill(signal);
    const [code] = await exited;
    for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    const [serverLeft, folderLeft] = [isAlive(pid), existsSync(work)];
    if (serverLeft) process.kill(pid, 'SIGKILL');
    assert.is(code, 128 + (signal === 'SIGTERM' ? 15 : 1));
    assert.not.ok(serverLeft, 'the server was stopped (it would be left running and listening)');
    assert.not.ok(folderLeft, 'the temp folder was removed');
    assert.match(err, `bench: stopped by ${signal}: servers stopped, ${work} removed`);
  });
}

test.run();
