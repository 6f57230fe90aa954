// The stand-in as a user runs it: scripts/40-apigee-local.ts --detach / --stop (pid and log in
// RUN_DIR, waits for both ports, reuses a running one) and the one-line errors for bad settings
// and ports already taken.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { isAlive } from '../core/pidfile.ts';
import { isolated } from './helpers/isolation.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { tempDir } from './helpers/temp.ts';
import { printedCommands } from './helpers/printed.ts';

const script = join(repoRoot, 'scripts', '40-apigee-local.ts');
let env: Record<string, string>;

test.before(async () => {
  const fx = await pkiFixture();
  const work = tempDir('apigee-local-cli-');
  env = {
    ...(process.env as Record<string, string>),
    CERTS_DIR: fx.pki, RUN_DIR: join(work, 'run'), APIGEE_LOCAL_DIR: join(work, 'state'),
    APIGEE_LOCAL_API_PORT: String(await freePort()), APIGEE_LOCAL_RUNTIME_PORT: String(await freePort()),
    APIGEE_LOCAL_TOKEN: '', FORCE_COLOR: '0',
  };
});

test('--detach starts it in the background, --detach again reuses it, --running tells, --stop ends it', async () => {
  const before = await execa(script, ['--running'], { env, reject: false });
  assert.is(before.exitCode, 1, 'make all relies on --running failing when nothing runs');
  assert.match(before.stdout, /apigee-local is not running/);
  const started = await execa(script, ['--detach'], { env, reject: false });
  assert.is(started.exitCode, 0, started.stderr);
  assert.match(started.stdout, new RegExp(`http://127\\.0\\.0\\.1:${env.APIGEE_LOCAL_API_PORT}/v1/organizations/demo-org`));
  assert.match(started.stdout, new RegExp(`https://localhost:${env.APIGEE_LOCAL_RUNTIME_PORT}`));
  const pid = Number(readFileSync(join(env.RUN_DIR!, 'apigee-local.pid'), 'utf8'));
  assert.ok(isAlive(pid));
  const res = await fetch(`http://127.0.0.1:${env.APIGEE_LOCAL_API_PORT}/v1/organizations/demo-org/environments/eval/keystores`, { headers: { authorization: 'Bearer t' } });
  assert.equal(await res.json(), []);

  const again = await execa(script, ['--detach'], { env, reject: false });
  assert.is(again.exitCode, 0);
  assert.match(again.stdout, /using existing apigee-local/);
  const running = await execa(script, ['--running'], { env, reject: false });
  assert.is(running.exitCode, 0, running.stderr);
  assert.match(running.stdout, `apigee-local is already running (pid ${pid})`);

  const stopped = await execa(script, ['--stop'], { env, reject: false });
  assert.is(stopped.exitCode, 0, stopped.stderr);
  assert.not.ok(isAlive(pid));
  assert.not.ok(existsSync(join(env.RUN_DIR!, 'apigee-local.pid')));
  assert.match(readFileSync(join(env.RUN_DIR!, 'apigee-local.log'), 'utf8'), /SIGTERM, shutting down/);
});

test('99-cleanup with the stand-in stopped removes what it saved, so nothing comes back on the next start', async () => {
  const keystores = `http://127.0.0.1:${env.APIGEE_LOCAL_API_PORT}/v1/organizations/demo-org/environments/eval/keystores`;
  const list = async () => (await fetch(keystores, { headers: { authorization: 'Bearer t' } })).json();
  assert.is((await execa(script, ['--detach'], { env, reject: false })).exitCode, 0);
  try {
    const created = await fetch(keystores, { method: 'POST', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"name":"ks-left"}' });
    assert.is(created.status, 200);
    assert.equal(await list(), ['ks-left']);
  } finally {
    await execa(script, ['--stop'], { env, reject: false });
  }

  const clean = await execa(join(repoRoot, 'scripts', '99-cleanup.ts'), [], { env, reject: false });
  assert.is(clean.exitCode, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /\$ rm -rf state\.json keys bundles {3}# in \S+\/state\//);
  assert.not.ok(existsSync(join(env.APIGEE_LOCAL_DIR!, 'state.json')));

  assert.is((await execa(script, ['--detach'], { env, reject: false })).exitCode, 0);
  try {
    assert.equal(await list(), []);
  } finally {
    await execa(script, ['--stop'], { env, reject: false });
  }
});

test('a port held by another program\'s connection (not a listener) is refused up front with the hint, nothing started', async () => {
  // curl --local-port holds the port the way an outgoing connection given that ephemeral port does
  // (no SO_REUSEADDR): the stand-in could not listen on it. Probing by connecting found it free.
  const held: Socket[] = [];
  const sink = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const port = String(await freePort()); // never used by a server here, so no TIME_WAIT on it
  const curl = execa('curl', ['-s', '--local-port', port, '--max-time', '30', `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`], { reject: false });
  let curlExited = false;
  void curl.then(() => (curlExited = true));
  try {
    while (held.length === 0 && !curlExited) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.is(held.length, 1, 'curl holds the port');
    const r = await execa(script, ['--detach'], { env: { ...env, APIGEE_LOCAL_API_PORT: port }, reject: false });
    assert.is.not(r.exitCode, 0);
    assert.match(r.stderr, new RegExp(`port ${port} is already in use by another program \\(hint: set APIGEE_LOCAL_API_PORT`));
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.not.ok(existsSync(join(env.RUN_DIR!, 'apigee-local.pid')));
  } finally {
    curl.kill();
    await curl;
    for (const socket of held) socket.destroy();
    sink.close();
  }
});

test('a bad setting is one line and exit code 2', async () => {
  const r = await execa(script, ['--detach'], { env: { ...env, APIGEE_LOCAL_API_PORT: 'ninety' }, reject: false });
  assert.is(r.exitCode, 2);
  assert.match(r.stderr, /APIGEE_LOCAL_API_PORT/);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

test('without the project CA the start fails with one line naming what to do', async () => {
  const r = await execa(script, ['--detach'], { env: { ...env, CERTS_DIR: tempDir('no-ca-') }, reject: false });
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /ca-cert\.pem not found.*make certs/);
  assert.not.ok(existsSync(join(env.RUN_DIR!, 'apigee-local.pid')));
});

test('the printed start line carries the settings given in the environment: pasted into a bare bash it serves on those ports; the token as its variable', async () => {
  const token = 'tok-from-env-123';
  const dry = await execa(script, ['--detach'], { env: { ...env, DRY_RUN: '1', APIGEE_LOCAL_TOKEN: token, APIGEE_LOCAL_PAYLOAD_LIMIT: '2048' }, reject: false });
  assert.is(dry.exitCode, 0, dry.stderr);
  assert.not.match(dry.stdout, token);
  const line = printedCommands(dry.stdout).find((c) => c.includes('apigee-local/main.ts'))!;
  assert.match(line, `APIGEE_LOCAL_API_PORT=${env.APIGEE_LOCAL_API_PORT} APIGEE_LOCAL_RUNTIME_PORT=${env.APIGEE_LOCAL_RUNTIME_PORT} `);
  assert.match(line, 'APIGEE_LOCAL_TOKEN="${APIGEE_LOCAL_TOKEN}"');
  assert.match(line, ' APIGEE_LOCAL_PAYLOAD_LIMIT=2048 ', 'every APIGEE_LOCAL_* setting of env/defaults.env, not a hand-kept list');
  assert.match(dry.stdout, 'read -rs APIGEE_LOCAL_TOKEN && export APIGEE_LOCAL_TOKEN');
  // A reader's shell: only PATH, HOME and the token they exported; ports, folders and state come from the line.
  const bash = spawn('bash', ['-c', `${line}\necho $!`], { cwd: repoRoot, env: isolated({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', APIGEE_LOCAL_TOKEN: token }), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  bash.stdout!.on('data', (d) => (out += d));
  await once(bash, 'exit');
  const pid = Number(out.trim());
  try {
    const url = `http://127.0.0.1:${env.APIGEE_LOCAL_API_PORT}/v1/organizations/demo-org/environments/eval/keystores`;
    const deadline = Date.now() + 30_000;
    let res: Response | undefined;
    while (!res) {
      res = await fetch(url, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      if (!res) {
        assert.ok(Date.now() < deadline, 'the pasted stand-in does not answer on the port the step printed');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.is(res.status, 200);
    assert.is((await fetch(url, { headers: { authorization: 'Bearer other' } })).status, 401);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
});

test.run();
