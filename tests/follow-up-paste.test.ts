// The lines a step prints for the reader to type next (stop the backend, restart the stand-in,
// the stops step 99 runs, the fix an error names), pasted into a fresh shell, act on the settings
// the step ran with. Here RUN_DIR, CERTS_DIR and the ports come from the environment only (a
// folder named with a space and a ñ); the shell they are pasted into has PATH and HOME, nothing
// else (and STORE_PASSWORD where the line names it as "${STORE_PASSWORD}"). Without the settings
// on the line, `make backend-stop` would look in the checkout's .run/, say "not running" and leave
// the backend running.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { isAlive } from '../core/pidfile.ts';
import { reaches } from '../scripts/lib/tcp.ts';
import { FIXTURE_PASSWORD, fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
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
/** A reader's fresh shell in the checkout: PATH and HOME only (and a secret the line names as "${NAME}", which the reader exports). */
const paste = (line: string, secrets: Record<string, string> = {}) => execa('bash', ['-euo', 'pipefail', '-c', line], { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: work, ...secrets }, extendEnv: false, reject: false });
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

// Hints in errors: a make target, a ./scripts/ line and the gateway's (scripts/lib/apigee/gateway.ts).
test('14 on a missing CERTS_DIR: its "make certs" pasted makes the certificates in that CERTS_DIR', async () => {
  const certsDir = join(work, 'certs');
  const missing = await step('14-verify-certs', [], { CERTS_DIR: certsDir });
  assert.is(missing.code, 1, missing.out);
  const line = after(missing.out, /make the certificates first \((.+ make certs)\)/);
  assert.ok(shellSegments(line)[0]!.includes(`CERTS_DIR=${certsDir}`), line);
  const shell = await paste(line, { STORE_PASSWORD: FIXTURE_PASSWORD });
  assert.is(shell.exitCode, 0, `${shell.stdout}\n${shell.stderr}`);
  for (const made of ['ca-cert.pem', 'server-keystore.p12', 'client-apigee-keystore.p12']) assert.ok(existsSync(join(certsDir, made)), `the pasted line did not make ${made} in CERTS_DIR`);
  assert.is((await step('14-verify-certs', [], { CERTS_DIR: certsDir })).code, 0);
});

// The backend and the stand-in name a missing store or CA; the line that makes it is the kit's: step
// 20 adds it to the backend's, the stand-in's main.ts to its own (not a bare "make certs", which a
// fresh shell would run on the checkout's certs/).
for (const [name, made] of [['20-backend', 'server-keystore.p12'], ['40-apigee-local', 'ca-cert.pem']] as const) {
  test(`${name} --detach on an empty CERTS_DIR: its "make certs" pasted makes ${made} in that CERTS_DIR`, async () => {
    const certsDir = join(work, `certs-${name}`);
    mkdirSync(certsDir);
    const missing = await step(name, ['--detach'], { CERTS_DIR: certsDir });
    assert.is.not(missing.code, 0, missing.out);
    const line = after(missing.out, /(?:; run "?|first \()(.*?make certs)/);
    assert.ok(shellSegments(line)[0]!.includes(`CERTS_DIR=${certsDir}`), line);
    const shell = await paste(line, { STORE_PASSWORD: FIXTURE_PASSWORD });
    assert.is(shell.exitCode, 0, `${shell.stdout}\n${shell.stderr}`);
    assert.ok(existsSync(join(certsDir, made)), `the pasted line did not make ${made} in CERTS_DIR`);
  });
}

test('90 on a damaged scenarios file: its "./scripts/90-summary.ts --clear" pasted clears the one in RUN_DIR', async () => {
  mkdirSync(runDir, { recursive: true });
  const records = join(runDir, 'scenarios.jsonl');
  writeFileSync(records, 'not a record\n');
  const damaged = await step('90-summary', []);
  assert.is(damaged.code, 1, damaged.out);
  const line = after(damaged.out, /start again with (.+)$/m);
  namesRunDir(line);
  const shell = await paste(line);
  assert.is(shell.exitCode, 0, String(shell.stderr));
  assert.not.ok(existsSync(records) && readFileSync(records, 'utf8').includes('not a record'), 'the pasted line left the damaged file in RUN_DIR');
  const empty = await step('90-summary', []);
  assert.match(empty.out, 'no scenarios recorded yet');
});

// 47 first asks the management API whether the configured proxy is deployed, so with no stand-in
// the line it prints is the API client's, the one that starts the stand-in.
test('47 with no stand-in: the start line it prints, pasted, starts the stand-in with this RUN_DIR and these ports', async () => {
  const down = await step('47-call-gateway', []);
  assert.is(down.code, 1, down.out);
  const line = after(down.out, /start it with (.+ \.\/scripts\/40-apigee-local\.ts --detach)\)/);
  namesRunDir(line);
  const shell = await paste(line, { STORE_PASSWORD: FIXTURE_PASSWORD });
  const standIn = existsSync(join(runDir, 'apigee-local.pid')) ? pidOf('apigee-local') : 0;
  try {
    assert.is(shell.exitCode, 0, `${shell.stdout}\n${shell.stderr}`);
    assert.ok(standIn && isAlive(standIn), 'the pasted line started no stand-in with this RUN_DIR');
    assert.ok(await reaches('127.0.0.1', Number(env.APIGEE_LOCAL_RUNTIME_PORT)), 'the stand-in does not listen on APIGEE_LOCAL_RUNTIME_PORT');
  } finally {
    if (standIn && isAlive(standIn)) await step('40-apigee-local', ['--stop']);
  }
});

test.run();
