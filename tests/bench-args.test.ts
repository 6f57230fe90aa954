// bench/backend/run.ts and ab.ts refuse a bad BENCH_ROUNDS / BENCH_COPIES / BENCH_SECONDS (and
// ab.ts a BASE that is no commit) at once, in one line with exit code 2, before they start
// anything (a bad value used to fail minutes later).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';

const run = (env: Record<string, string>, script = 'run.ts') =>
  execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'backend', script)], { cwd: repoRoot, env, reject: false, timeout: 30_000 });

for (const [name, value] of [['BENCH_ROUNDS', '0'], ['BENCH_COPIES', 'three'], ['BENCH_SECONDS', '1.5'], ['BENCH_SECONDS', 'abc']] as const) {
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

test.run();
