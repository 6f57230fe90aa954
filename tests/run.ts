// Test entry point (`make test` / `npm test`): type-checks the project, then runs every
// tests/**/*.test.ts file in its own process (two at a time, one per core) and ends with the
// line "N passed, N failed". Pass words to run only the files whose path in the repository
// (tests/…) contains one of them.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { prepareFixtures } from './helpers/fixtures.ts';
// This process, and so every test file, runs without the kit's settings from your shell and with
// LOCAL_ENV_FILE naming a file that does not exist: the checkout's env/local.env changes no test.
import './helpers/isolation.ts';

const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY ?? 2));

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'fixtures' || name === 'helpers' ? [] : findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

interface Outcome { file: string; passed: number; failed: number; skipped: number; output: string; ms: number }

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** A test file still running after this long has hung (the slowest takes well under a minute alone). */
const fileTimeoutS = Number(process.env.TEST_FILE_TIMEOUT_S ?? 600);

function runProcess(file: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so a hung file is stopped with the servers it started.
    const child = spawn(file, argv, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\nstopped after ${fileTimeoutS} s without finishing (TEST_FILE_TIMEOUT_S): a hung test\n`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, fileTimeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output, ms: Date.now() - started });
    });
  });
}

async function typecheck(): Promise<Outcome> {
  const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');
  const { code, output, ms } = await runProcess(tsc, ['--noEmit', '-p', '.'], process.env);
  return { file: 'typecheck (tsc --noEmit)', passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0, output, ms };
}

const isolation = join(repoRoot, 'tests', 'helpers', 'isolation.ts');

async function runTestFile(file: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  // Preloaded so its guard covers files that import no helper.
  const { code, output, ms } = await runProcess(process.execPath, ['--import', 'tsx', '--import', isolation, file], env);
  const text = strip(output);
  const num = (label: string) => [...text.matchAll(new RegExp(`${label}:\\s+(\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  let failed = total - passed - skipped;
  // A crash before uvu's summary, or a non-zero exit with no failed test, still counts as a failure.
  if (code !== 0 && failed === 0) failed = 1;
  return { file: relative(repoRoot, file), passed, failed, skipped, output, ms };
}

async function main() {
  const files = findTests(join(repoRoot, 'tests'))
    // Words match the path inside the repository (a checkout under ~/docs must not match everything).
    .filter((f) => filters.length === 0 || filters.some((w) => relative(repoRoot, f).includes(w)))
    .sort();
  const outcomes: Outcome[] = [];
  const report = (o: Outcome) => {
    outcomes.push(o);
    const mark = o.failed > 0 ? '✗' : '✓';
    console.log(`${mark} ${o.file}  ${o.passed} passed, ${o.failed} failed${o.skipped ? `, ${o.skipped} skipped` : ''}  (${(o.ms / 1000).toFixed(1)}s)`);
    if (o.failed > 0 || process.env.TEST_VERBOSE) console.log(o.output.replace(/^/gm, '    '));
  };

  const typecheckRun = filters.length === 0 ? typecheck() : undefined;
  const fixturesStarted = Date.now();
  const fixtureEnv = await prepareFixtures();
  console.log(`fixtures ready in ${((Date.now() - fixturesStarted) / 1000).toFixed(1)}s`);
  const env: NodeJS.ProcessEnv = { ...process.env, ...fixtureEnv, FORCE_COLOR: '0' };

  const queue = [...files];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let file = queue.shift(); file; file = queue.shift()) report(await runTestFile(file, env));
  }));
  if (typecheckRun) report(await typecheckRun);

  const sum = (k: 'passed' | 'failed' | 'skipped') => outcomes.reduce((n, o) => n + o[k], 0);
  const skipped = sum('skipped');
  console.log(`\n${sum('passed')} passed, ${sum('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(sum('failed') > 0 || files.length === 0 ? 1 : 0);
}

await main();
