// The lines a step prints for the reader to type next (stop the backend, restart the stand-in,
// the stops step 99 runs), pasted into a fresh shell, act on the settings the step ran with. Here
// RUN_DIR, CERTS_DIR and the ports come from the environment only (a folder named with a space
// and a ñ); the shell they are pasted into has PATH and HOME, nothing else. Without the settings
// on the line, `make backend-stop` would look in the checkout's .run/, say "not running" and leave
// the backend running.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { isAlive } from '../core/pidfile.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { printedCommands, shellSegments } from './helpers/printed.ts';
import { tempDir } from './helpers/temp.ts';

const { pki } = await pkiFixture();
const work = join(tempDir('follow-up-'), 'dir con ñ');
mkdirSync(work);
const runDir = join(work, 'run');
const env = {
  ...process.env, ...fixtureEnv(pki), RUN_DIR: runDir, LOCAL_ENV_FILE: join(work, 'local.env'),
  BACKEND_PORT: String(await freePort()), BACKEND_HEALTH_PORT: String(await freePort()),
  APIGEE_LOCAL_API_PORT: String(await freePort()), APIGEE_LOCAL_RUNTIME_PORT: String(await freePort()),
};
const step = async (name: string, args: string[], extra: Record<string, string> = {}) => {
  const run = await execa(join(repoRoot, 'scripts', `${name}.ts`), args, { cwd: repoRoot, env: { ...env, ...extra }, stdin: 'ignore', reject: false });
  return { code: run.exitCode, out: `${run.stdout}\n${run.stderr}` };
};
/** A reader's fresh shell in the checkout: PATH and HOME only. */
const paste = (line: string) => execa('bash', ['-euo', 'pipefail', '-c', line], { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: work }, extendEnv: false, reject: false });
const pidOf = (name: string) => Number(readFileSync(join(runDir, `${name}.pid`), 'utf8'));
const after = (out: string, label: RegExp) => {
  const m = label.exec(out);
  assert.ok(m, `${label} not printed:\n${out}`);
  return m![1]!;
};
/** The line names this run's RUN_DIR (checked before it is pasted: without it, it would act on the checkout's .run/). */
const namesRunDir = (line: string) => assert.ok(shellSegments(line)[0]!.includes(`RUN_DIR=${runDir}`), line);

test('20 --detach: "stop it: …" pasted into a fresh shell stops this backend', async () => {
  const started = await step('20-backend', ['--detach']);
  assert.is(started.code, 0, started.out);
  const pid = pidOf('backend');
  try {
    const line = after(started.out, /stop it: (.+)$/m);
    namesRunDir(line);
    const shell = await paste(line);
    assert.is(shell.exitCode, 0, String(shell.stderr));
    assert.match(String(shell.stdout), `backend stopped (pid ${pid})`);
    assert.not.ok(isAlive(pid), 'the pasted line left the backend running');
  } finally {
    if (isAlive(pid)) await step('20-backend', ['--stop']);
  }
});

test('40: "stop it first with …" pasted stops this stand-in, whose state is under RUN_DIR; 99\'s printed --stop lines stop both services', async () => {
  const started = await step('40-apigee-local', ['--detach']);
  assert.is(started.code, 0, started.out);
  const standIn = pidOf('apigee-local');
  try {
    assert.ok(existsSync(join(runDir, 'apigee-local', 'runtime-cert.pem')), 'APIGEE_LOCAL_DIR does not follow RUN_DIR');
    const other = await step('40-apigee-local', ['--detach'], { APIGEE_ORG: 'other-org' });
    assert.is.not(other.code, 0, other.out);
    const line = after(other.out, /stop it first with (.+), then run this again$/m);
    namesRunDir(line);
    const shell = await paste(line);
    assert.is(shell.exitCode, 0, String(shell.stderr));
    assert.not.ok(isAlive(standIn), 'the pasted line left the stand-in running');
  } finally {
    if (isAlive(standIn)) await step('40-apigee-local', ['--stop']);
  }

  // Step 99 runs steps 40 and 20 with --stop; a dry run prints those lines, a reader pastes them.
  assert.is((await step('20-backend', ['--detach'])).code, 0);
  assert.is((await step('40-apigee-local', ['--detach'])).code, 0);
  const pids = [pidOf('backend'), pidOf('apigee-local')];
  try {
    const dry = await step('99-cleanup', [], { DRY_RUN: '1' });
    assert.is(dry.code, 0, dry.out);
    const stops = printedCommands(dry.out).filter((c) => c.endsWith(' --stop'));
    assert.is(stops.length, 2, dry.out);
    stops.forEach(namesRunDir);
    const shell = await paste(stops.join('\n'));
    assert.is(shell.exitCode, 0, String(shell.stderr));
    assert.equal(pids.map(isAlive), [false, false], `the pasted lines left a service running:\n${stops.join('\n')}`);
  } finally {
    if (isAlive(pids[1]!)) await step('40-apigee-local', ['--stop']);
    if (isAlive(pids[0]!)) await step('20-backend', ['--stop']);
  }
});

test.run();
