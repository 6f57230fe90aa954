// How the steps start, as a reader starts them: through their first line (scripts/lib/node-tsx),
// before `make deps` (one line, no stack trace) and from any folder; and `make help`, which lists
// the targets in the tutorial's order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { tempDir } from './helpers/temp.ts';

test('a step on a fresh clone before make deps: one line saying to run make deps, exit 1', async () => {
  const clone = tempDir('fresh-clone-');
  mkdirSync(join(clone, 'scripts', 'lib'), { recursive: true });
  for (const file of ['scripts/10-ca.ts', 'scripts/lib/node-tsx']) copyFileSync(join(repoRoot, file), join(clone, file));
  const run = await execa('./scripts/10-ca.ts', [], { cwd: clone, reject: false, env: { DRY_RUN: '1' } });
  assert.is(run.exitCode, 1);
  assert.is(String(run.stdout), '');
  assert.is(String(run.stderr), '✗ the dependencies are not installed (no node_modules/tsx): run make deps first');
});

test('a step started from another folder finds the repository\'s tsx and runs', async () => {
  const elsewhere = tempDir('elsewhere-');
  const run = await execa(join(repoRoot, 'scripts', '10-ca.ts'), [], {
    cwd: elsewhere, reject: false, env: { DRY_RUN: '1', CERTS_DIR: join(elsewhere, 'certs'), FORCE_COLOR: '0' },
  });
  assert.is(run.exitCode, 0, String(run.stderr));
  assert.match(String(run.stdout), /== Certificate authority/);
  assert.match(String(run.stdout), /\$ openssl genpkey .* -out ca-key\.pem {3}# in certs\//);
});

test('a mistyped option is one line naming the options the step takes, exit 2, before anything runs', async () => {
  const work = tempDir('typo-');
  const env = { CERTS_DIR: join(work, 'certs'), RUN_DIR: join(work, 'run'), BACKEND_PORT: '1', FORCE_COLOR: '0' };
  // --detatch would otherwise start the backend in the foreground, --remove-cert keep the certificates.
  for (const [step, args, expected] of [
    ['20-backend.ts', ['--detatch'], '✗ unknown option --detatch; 20-backend.ts takes --detach, --stop, --running, --dry-run, --force, --yes'],
    ['99-cleanup.ts', ['--dry-run', '--remove-cert'], '✗ unknown option --remove-cert; 99-cleanup.ts takes --remove-certs, --dry-run, --force, --yes'],
    ['10-ca.ts', ['-f'], '✗ unknown option -f; 10-ca.ts takes --dry-run, --force, --yes'],
    ['10-ca.ts', ['--dry-run=1'], '✗ --dry-run takes no value (given "1"); write --dry-run alone'],
    // Without dashes: `stop` would otherwise start the backend in the foreground, `remove-certs` keep the certificates.
    ['20-backend.ts', ['stop'], '✗ unexpected argument "stop"; 20-backend.ts takes --detach, --stop, --running, --dry-run, --force, --yes'],
    ['99-cleanup.ts', ['--dry-run', 'remove-certs'], '✗ unexpected argument "remove-certs"; 99-cleanup.ts takes --remove-certs, --dry-run, --force, --yes'],
    ['10-ca.ts', ['--force', 'yes'], '✗ unexpected argument "yes"; 10-ca.ts takes --dry-run, --force, --yes'],
  ] as const) {
    const run = await execa(join(repoRoot, 'scripts', step), args, { cwd: work, env, reject: false, timeout: 30_000 });
    assert.is(run.exitCode, 2, `${step}: ${run.stdout}${run.stderr}`);
    assert.is(String(run.stderr), expected);
    assert.is(String(run.stdout), '');
  }
  // The options each step documents still work: 21's value, 22's --output=, a flag for make certs' steps in one process.
  const dry = { ...env, DRY_RUN: '1' };
  for (const [step, args] of [['21-direct-scenarios.ts', ['--tls-max', '1.2']], ['22-k8s-secrets.ts', ['--output=secrets.yaml']], ['22-k8s-secrets.ts', ['-o', 'secrets.yaml']], ['run-steps.ts', ['10-ca', '--force']]] as const) {
    const run = await execa(join(repoRoot, 'scripts', step), args, { cwd: work, env: dry, reject: false, timeout: 30_000 });
    assert.not.match(String(run.stderr), /unknown option/, `${step} ${args.join(' ')}`);
  }
});

test('--help and -h on a step: its usage, header and settings, exit 0, even with a bad setting', async () => {
  const work = tempDir('help-');
  // A bad setting must not hide the help (a newcomer asks for help exactly when something is wrong).
  const env = { CERTS_DIR: join(work, 'certs'), BACKEND_PORT: 'abc', FORCE_COLOR: '0', LOCAL_ENV_FILE: join(work, 'mine.env') };
  for (const [step, args, usage, fromHeader] of [
    ['10-ca.ts', ['--help'], 'usage: ./scripts/10-ca.ts [--dry-run] [--force] [--yes]', 'Certificado Entidad Certificadora (CA)'],
    ['20-backend.ts', ['-h'], 'usage: ./scripts/20-backend.ts [--detach] [--stop] [--running] [--dry-run] [--force] [--yes]', 'scripts/20-backend.ts --stop'],
    ['22-k8s-secrets.ts', ['--help'], 'usage: ./scripts/22-k8s-secrets.ts [--output VALUE] [--dry-run] [--force] [--yes]', '--output FILE'],
    ['run-steps.ts', ['10-ca', '-h'], 'usage: ./scripts/run-steps.ts [--dry-run] [--force] [--yes]', 'inside ONE Node process'],
  ] as const) {
    const run = await execa(join(repoRoot, 'scripts', step), args, { cwd: work, env, reject: false, timeout: 30_000 });
    assert.is(run.exitCode, 0, `${step}: ${run.stderr}`);
    assert.is(String(run.stderr), '');
    const out = String(run.stdout);
    assert.is(out.split('\n')[0], usage);
    assert.ok(out.includes(fromHeader), `${step}: ${out}`);
    assert.match(out, /^--dry-run {2}print the commands/m);
    assert.ok(out.includes(`Settings: the environment, then ${env.LOCAL_ENV_FILE}, then env/defaults.env`), out);
    assert.not.match(out, /^#!|^\/\//m, 'the shebang and comment markers are not part of the help');
  }
  // The runner alone: its usage and the steps it can run.
  const runner = await execa(join(repoRoot, 'scripts', 'run-steps.ts'), ['--help'], { cwd: work, env, reject: false, timeout: 30_000 });
  assert.is(runner.exitCode, 0, runner.stderr);
  assert.match(String(runner.stdout), /^usage: scripts\/run-steps\.ts 10-ca 11-server-cert … \[--force\] \[--dry-run\]\n[\s\S]*^Steps: 10-ca 11-server-cert .* 99-cleanup$/m);
  assert.not.ok(existsSync(join(work, 'certs')), '--help makes nothing');
});

test('make help lists the targets in the tutorial\'s order', async () => {
  const help = String((await execa('make', ['--no-print-directory', 'help'], { cwd: repoRoot })).stdout);
  const order = ['make certs', 'make k8s-secrets', 'make backend ', 'make scenarios', 'make vm', 'make k8s ', 'make apigee ', 'make summary', 'make test'];
  const at = order.map((target) => help.indexOf(target));
  assert.ok(at.every((i, n) => i >= 0 && (n === 0 || i > at[n - 1]!)), `${order.map((t, n) => `${t.trim()}@${at[n]}`).join(' ')}\n${help}`);
});

test.run();
