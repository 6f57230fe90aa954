// bench/backend/run.ts refuses a bad BENCH_ROUNDS / BENCH_COPIES / BENCH_SECONDS at once, in one
// line with exit code 2, before it starts anything (a bad value used to fail minutes later).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';

const run = (env: Record<string, string>) =>
  execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'backend', 'run.ts')], { cwd: repoRoot, env, reject: false, timeout: 30_000 });

for (const [name, value] of [['BENCH_ROUNDS', '0'], ['BENCH_COPIES', 'three'], ['BENCH_SECONDS', '1.5'], ['BENCH_SECONDS', 'abc']] as const) {
  test(`${name}=${value} is refused in one line, exit 2`, async () => {
    const r = await run({ [name]: value });
    assert.is(r.exitCode, 2);
    assert.is(r.stderr.trim(), `bench: ${name} must be a whole number of at least 1, not "${value}"`);
    assert.is(r.stdout, '', 'nothing was started or measured');
  });
}

test.run();
