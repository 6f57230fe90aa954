// followUp carries the settings of the Config the step runs with, not whatever the process
// environment holds: an empty CERTS_DIR in the environment hides env/local.env's (the run takes
// the default certs/), where a line carrying nothing would, pasted into a fresh shell, read
// env/local.env's folder and act on another one. The check: a step (runStep) prints a line that
// prints the CERTS_DIR a run of it reads; pasted into a bash with PATH and HOME only, it reads the
// step's own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { FIXTURE_PASSWORD } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';

const PROBE = `node --import tsx --input-type=module -e "const { loadConfig } = await import('./core/config.ts'); console.log(loadConfig().pki.certsDir)"`;
const STEP = `import { runStep } from './scripts/lib/main.ts';
import { followUp } from './scripts/lib/follow-up.ts';
await runStep(async (config) => console.log(JSON.stringify({ certsDir: config.pki.certsDir, line: followUp(${JSON.stringify(PROBE)}) })));`;

test('an empty CERTS_DIR in the environment, another in LOCAL_ENV_FILE: the printed line, pasted, reads the CERTS_DIR the step ran with', async () => {
  const work = tempDir('follow-up-config-');
  const localEnv = join(work, 'local.env');
  writeFileSync(localEnv, `CERTS_DIR=${join(work, 'elsewhere')}\n`);
  const env = { PATH: process.env.PATH ?? '', HOME: work, STORE_PASSWORD: FIXTURE_PASSWORD, LOCAL_ENV_FILE: localEnv, CERTS_DIR: '' };
  const run = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', STEP], { cwd: repoRoot, env, extendEnv: false, reject: false });
  assert.is(run.exitCode, 0, run.stdout + run.stderr);
  const { certsDir, line } = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { certsDir: string; line: string };
  assert.is(certsDir, join(repoRoot, 'certs'), 'the step itself took the default');
  const pasted = await execa('bash', ['--norc', '-c', line], { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: work, STORE_PASSWORD: FIXTURE_PASSWORD }, extendEnv: false, reject: false });
  assert.is(pasted.exitCode, 0, `${line}\n${pasted.stderr}`);
  assert.is(pasted.stdout.trim(), certsDir, `pasted, ${line} read another CERTS_DIR`);
});

test.run();
