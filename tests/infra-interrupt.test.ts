// Ctrl-C in the middle of a cloud step: a stand-in gcloud that hangs on its first call, then
// SIGINT to the step's process group (what a terminal does). Expected: exit 130, one line naming
// the step to run again, and no local leftovers (step 34's upload folder holds the keystore).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../core/config.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { withGiven, withGivenIn } from './helpers/printed.ts';
import { tempDir } from './helpers/temp.ts';

const work = tempDir('infra-interrupt-');
const certs = join(work, 'certs');
cpSync((await pkiFixture()).pki, certs, { recursive: true });
const bin = join(work, 'bin');
mkdirSync(bin);
// Marks that it was called (with its arguments), then hangs like a create waiting on the API.
writeFileSync(join(bin, 'gcloud'), `#!/bin/sh\necho "$*" > "${join(work, 'called')}"\nexec sleep 60\n`);
chmodSync(join(bin, 'gcloud'), 0o755);

async function interrupted(step: string, whenCalled: RegExp) {
  const called = join(work, 'called');
  const run = execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', `${step}.ts`)], {
    cwd: repoRoot, reject: false, input: '', detached: true,
    env: { ...fixtureEnv(certs), PATH: `${bin}:${process.env.PATH}`, RUN_DIR: join(work, 'run'), LOCAL_ENV_FILE: join(work, 'local.env'), GCP_PROJECT: 'demo-proj' },
  });
  const deadline = Date.now() + 60_000;
  while (!(existsSync(called) && whenCalled.test(readFileSync(called, 'utf8')))) {
    if (Date.now() > deadline) throw new Error(`${step} never reached gcloud ${whenCalled}`);
    await sleep(100);
  }
  process.kill(-run.pid!, 'SIGINT');
  const result = await run;
  rmSync(called, { force: true });
  return { code: result.exitCode, errors: result.stderr.trim().split('\n').filter((line) => line.startsWith('✗')), out: `${result.stdout}\n${result.stderr}` };
}

test('Ctrl-C while gcloud creates the address: exit 130 and one line saying to run the step again', async () => {
  const r = await interrupted('31-gcp-address', /^compute addresses create/);
  assert.is(r.code, 130, r.out);
  assert.is(r.errors.length, 1, r.out);
  assert.match(r.errors[0]!, withGiven('✗ SIGINT: 31-gcp-address stopped part way; what it created so far stays (billed until make teardown): run {given}./scripts/31-gcp-address.ts again, it reuses what exists'));
  assert.match(r.errors[0]!, / RUN_DIR=\S+ .*GCP_PROJECT=demo-proj \.\/scripts\/31/, 'the line to run again carries the settings the step was given');
});

test('Ctrl-C while gcloud copies the bundle: one line, and the upload folder with the keystore is gone', async () => {
  const r = await interrupted('34-gcp-install-backend', /^compute scp/);
  assert.is(r.code, 130, r.out);
  assert.is(r.errors.length, 1, r.out);
  assert.match(r.errors[0]!, withGivenIn('run {given}./scripts/34-gcp-install-backend.ts again'));
  assert.not.ok(existsSync(join(work, 'run', 'vm-upload')), 'vm-upload (with server-keystore.p12) left behind');
});

test.run();
