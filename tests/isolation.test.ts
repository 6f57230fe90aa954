// The developer's own settings reach no test (tests/helpers/isolation.ts): a step or loadConfig
// given an environment without LOCAL_ENV_FILE is refused, whatever the checkout's env/local.env
// holds, and a file run alone drops exported settings and a real LOCAL_ENV_FILE as run.ts does.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, repoRoot } from '../core/config.ts';
import { isolated } from './helpers/isolation.ts';
import { tempDir } from './helpers/temp.ts';

const bare = { PATH: process.env.PATH ?? '', DRY_RUN: '1' };
const refused = /would read this checkout's env\/local\.env: give it isolated\(env\)/;

test('a step started with an environment of its own and no LOCAL_ENV_FILE is refused before it starts', async () => {
  const step = join(repoRoot, 'scripts', '10-ca.ts');
  const run = await execa(process.execPath, ['--import', 'tsx', step], { cwd: repoRoot, env: bare, extendEnv: false, reject: false });
  assert.match(String(run.message), refused);
  assert.throws(() => spawnSync(step, [], { cwd: repoRoot, env: { ...bare, LOCAL_ENV_FILE: ' ' } }), refused);
  // Programs that read no settings keep the environment they were given.
  assert.is((await execa('openssl', ['version'], { env: bare, extendEnv: false })).exitCode, 0);
});

test('loadConfig given an environment without LOCAL_ENV_FILE is refused; isolated() gives it this process\'s', () => {
  assert.throws(() => loadConfig({ env: { STORE_PASSWORD: 'x' }, argv: [] }), refused);
  assert.is(loadConfig({ env: isolated({ STORE_PASSWORD: 'x' }), argv: [] }).pki.keyType, 'rsa');
});

test('a file run alone: exported settings and a LOCAL_ENV_FILE that exists are dropped, as under tests/run.ts', async () => {
  const mine = join(tempDir('isolation-'), 'local.env');
  writeFileSync(mine, 'CERT_DAYS=7\nBACKEND_CLIENT_AUTH=want\n');
  const script = `import './tests/helpers/temp.ts';
import { loadConfig } from './core/config.ts';
const c = loadConfig({ argv: [] });
console.log(JSON.stringify([c.pki.keyType, c.pki.certDays, c.backend.clientAuth, process.env.LOCAL_ENV_FILE === ${JSON.stringify(mine)},
  process.env.GCP_PROJECT ?? null, process.env.APIGEE_TOKEN ?? null]));`;
  // GCP_PROJECT and APIGEE_TOKEN appear only commented out in env/gcp.example.env.
  const run = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repoRoot, env: { ...bare, KEY_TYPE: 'ec', LOCAL_ENV_FILE: mine, GCP_PROJECT: 'my-real-project', APIGEE_TOKEN: 'ya29.real-token' }, extendEnv: false, reject: false });
  assert.is(run.exitCode, 0, String(run.stderr));
  assert.equal(JSON.parse(String(run.stdout)), ['rsa', 365, 'need', false, null, null]);
});

test.run();
