// The stand-in as a user runs it: scripts/40-apigee-local.ts --detach / --stop (pid and log in
// RUN_DIR, waits for both ports, reuses a running one) and the one-line errors for bad settings
// and ports already taken.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadConfig, repoRoot, settingNames } from '../core/config.ts';
import { settingsLines } from '../apigee-local/main.ts';
import { optionsFromConfig } from '../apigee-local/server.ts';
import { isAlive } from '../core/pidfile.ts';
import { isolated } from './helpers/isolation.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { tempDir } from './helpers/temp.ts';
import { printedCommands } from './helpers/printed.ts';

const script = join(repoRoot, 'scripts', '40-apigee-local.ts');
/** make apigee-local-stop as the step prints it: with the overrides file and RUN_DIR the environment gave (scripts/lib/follow-up.ts). */
const stopLine = (e: Record<string, string>) => `${e.LOCAL_ENV_FILE ? `LOCAL_ENV_FILE=${e.LOCAL_ENV_FILE} ` : ''}RUN_DIR=${e.RUN_DIR} make apigee-local-stop`;
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
  assert.match(line, `RUN_DIR=${env.RUN_DIR} `, 'where it publishes its settings: the checkout\'s .run/ without it');
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

test('a running stand-in started with other settings (the overrides file, which its command line does not show; ports; organization) stops --detach with one line naming them and the restart; the same settings reuse it', async () => {
  const overrides = join(tempDir('apigee-local-overrides-'), 'local.env');
  writeFileSync(overrides, '');
  const withFile = { ...env, LOCAL_ENV_FILE: overrides };
  const started = await execa(script, ['--detach'], { env: withFile, reject: false });
  assert.is(started.exitCode, 0, started.stderr);
  const pid = Number(readFileSync(join(env.RUN_DIR!, 'apigee-local.pid'), 'utf8'));
  try {
    writeFileSync(overrides, 'APIGEE_LOCAL_STRICT=1\nAPIGEE_LOCAL_PROPAGATION_MS=2000\n');
    const strict = await execa(script, ['--detach'], { env: withFile, reject: false });
    assert.is.not(strict.exitCode, 0, 'reused a stand-in running without strict mode');
    assert.is(strict.stderr.trim(), `✗ the stand-in already running (pid ${pid}) was started with other settings (APIGEE_LOCAL_PROPAGATION_MS=0 → 2000; APIGEE_LOCAL_STRICT=0 → 1): stop it first with ${stopLine(withFile)}, then run this again`);
    writeFileSync(overrides, '');
    const port = await execa(script, ['--detach'], { env: { ...withFile, APIGEE_LOCAL_RUNTIME_PORT: String(await freePort()) }, reject: false });
    assert.is.not(port.exitCode, 0);
    assert.match(port.stderr, `APIGEE_LOCAL_RUNTIME_PORT=${env.APIGEE_LOCAL_RUNTIME_PORT} → `);
    const org = await execa(script, ['--detach'], { env: { ...withFile, APIGEE_ORG: 'other-org' }, reject: false });
    assert.match(org.stderr, 'APIGEE_ORG=demo-org → other-org');
    assert.ok(isAlive(pid), 'a refused reuse leaves the running stand-in alone');
    const same = await execa(script, ['--detach'], { env: withFile, reject: false });
    assert.is(same.exitCode, 0, same.stderr);
    assert.match(same.stdout, `using existing apigee-local (pid ${pid}`);
  } finally {
    await execa(script, ['--stop'], { env, reject: false });
  }
  assert.not.ok(existsSync(join(env.RUN_DIR!, 'apigee-local.settings')), 'the stand-in removes its settings when it stops');
});

test('the published settings name every setting the stand-in reads (each APIGEE_LOCAL_* of env/defaults.env), so a new one cannot be left out of the comparison', () => {
  const config = loadConfig({ env: { ...env, APIGEE_LOCAL_TOKEN: 'tok-names-only-1234', APIGEE_LOCAL_ALLOWED_HOSTS: 'a.example' }, argv: [] });
  const names = settingsLines(optionsFromConfig(config)).split('\n').map((line) => line.slice(0, line.indexOf('=')));
  const reads = ['APIGEE_ORG', 'APIGEE_ENV', 'CERTS_DIR', ...settingNames().filter((name) => name.startsWith('APIGEE_LOCAL_'))];
  assert.equal(names.sort(), reads.sort());
});

test('a token changed to another value is found by asking the stand-in (its settings hold the variable, never the value); set → unset is named too', async () => {
  const token = 'tok-first-value-4821';
  const started = await execa(script, ['--detach'], { env: { ...env, APIGEE_LOCAL_TOKEN: token }, reject: false });
  assert.is(started.exitCode, 0, started.stderr);
  try {
    const published = readFileSync(join(env.RUN_DIR!, 'apigee-local.settings'), 'utf8');
    assert.not.match(published, token);
    assert.match(published, 'APIGEE_LOCAL_TOKEN="${APIGEE_LOCAL_TOKEN}"');
    assert.is((await execa(script, ['--detach'], { env: { ...env, APIGEE_LOCAL_TOKEN: token }, reject: false })).exitCode, 0);
    const other = await execa(script, ['--detach'], { env: { ...env, APIGEE_LOCAL_TOKEN: 'tok-second-value-7730' }, reject: false });
    assert.is.not(other.exitCode, 0);
    assert.match(other.stderr, '(APIGEE_LOCAL_TOKEN: the running stand-in refuses the one set now)');
    assert.not.match(other.stderr + other.stdout, /tok-(first|second)/);
    const unset = await execa(script, ['--detach'], { env, reject: false });
    assert.is.not(unset.exitCode, 0);
    assert.match(unset.stderr, 'APIGEE_LOCAL_TOKEN="${APIGEE_LOCAL_TOKEN}" → (unset)');
  } finally {
    await execa(script, ['--stop'], { env, reject: false });
  }
});

test('a stand-in that publishes no settings (started by an older kit) is not taken for this one: one line says so and how to restart it', async () => {
  assert.is((await execa(script, ['--detach'], { env, reject: false })).exitCode, 0);
  const pid = Number(readFileSync(join(env.RUN_DIR!, 'apigee-local.pid'), 'utf8'));
  try {
    rmSync(join(env.RUN_DIR!, 'apigee-local.settings'), { force: true });
    const r = await execa(script, ['--detach'], { env, reject: false });
    assert.is.not(r.exitCode, 0);
    assert.is(r.stderr.trim(), `✗ the stand-in already running (pid ${pid}) does not say which settings it runs with (an older version of the kit started it): stop it first with ${stopLine(env)}, then run this again`);
  } finally {
    await execa(script, ['--stop'], { env, reject: false });
  }
  assert.not.ok(isAlive(pid));
});

test.run();
