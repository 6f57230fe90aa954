// scripts/20-backend.ts as a Spring Boot user runs it: PORT / SERVER_PORT and SERVER_SSL_* from the
// environment win over the kit's settings (npm run backend, --detach), the banner prints each
// value and where it came from, Spring settings the backend lacks get one warning line, no
// password is ever printed, and the printed command is what runs (it pastes into bash).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { isolated } from './helpers/isolation.ts';
import { pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { tempDir } from './helpers/temp.ts';
import { GIVEN, pastedScript, printedCommands } from './helpers/printed.ts';
import { repoRoot } from '../core/config.ts';

let fx: PkiFixture;
const work = tempDir('backend-step-');
/** The stores copied "elsewhere": the kit's CERTS_DIR (an empty folder) does not hold them. */
const elsewhere = join(work, 'elsewhere');
const emptyCerts = join(work, 'empty-certs');

test.before(async () => {
  fx = await pkiFixture();
  mkdirSync(elsewhere);
  mkdirSync(emptyCerts);
  copyFileSync(join(fx.pki, 'server-keystore.p12'), join(elsewhere, 'ks.p12'));
  copyFileSync(join(fx.pki, 'server-truststore.p12'), join(elsewhere, 'ts.p12'));
});

/** The kit's own settings point somewhere else entirely, so only the Spring variables can make it work. */
async function kitEnv(): Promise<Record<string, string>> {
  return isolated({
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0', DRY_RUN: '0',
    CERTS_DIR: emptyCerts, RUN_DIR: join(work, 'run'), STORE_PASSWORD: fx.password, SERVER_HOST: '127.0.0.1',
    BACKEND_PORT: String(await freePort()), BACKEND_HEALTH_PORT: String(await freePort()), BACKEND_CLIENT_AUTH: 'need', BACKEND_ALLOWED_CLIENTS: '',
  });
}

const curl = (port: number) => execa('curl', ['-sS', '--max-time', '10', '--cert', join(fx.pki, 'apigee-client-cert.pem'), '--key', join(fx.pki, 'apigee-client-key.pem'),
  '--cacert', join(fx.pki, 'ca-cert.pem'), `https://127.0.0.1:${port}/`], { reject: false });

/** Collects a process's output and resolves when a line matching `pattern` has appeared. */
function watch(child: ChildProcess): { text: () => string; until: (pattern: RegExp, ms?: number) => Promise<void> } {
  let text = '';
  let wake = () => {};
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (d) => ((text += d), wake()));
  const until = async (pattern: RegExp, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!pattern.test(text)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in the output:\n${text}`);
      await new Promise<void>((r) => ((wake = r), setTimeout(r, 200)));
    }
  };
  return { text: () => text, until };
}

test('PORT=… SERVER_SSL_KEYSTORE=… SERVER_SSL_TRUSTSTORE=… npm run backend: those values are printed with their source and used; Spring-only settings get one warning; Ctrl-C drains', async () => {
  const port = await freePort();
  const healthPort = await freePort();
  const env = {
    ...(await kitEnv()), PORT: String(port), HEALTH_PORT: String(healthPort),
    SERVER_SSL_KEYSTORE: join(elsewhere, 'ks.p12'), SERVER_SSL_TRUSTSTORE: join(elsewhere, 'ts.p12'),
    SERVER_SSL_ENABLED: 'true', SERVER_SSL_PROTOCOL: 'TLS',
  };
  // Its own process group, so the test can press "Ctrl-C" (SIGINT to the whole group) like a terminal.
  const child = spawn('npm', ['run', 'backend'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const out = watch(child);
  try {
    await out.until(/"event":"started"/);
    const text = out.text();
    assert.match(text, new RegExp(`== mTLS backend on port ${port}`));
    assert.match(text, new RegExp(`server\\.port +PORT=${port} +environment\\n`));
    assert.match(text, new RegExp(`server\\.ssl\\.key-store +SERVER_SSL_KEYSTORE=${join(elsewhere, 'ks.p12')} +environment\\n`));
    assert.match(text, new RegExp(`server\\.ssl\\.trust-store +SERVER_SSL_TRUSTSTORE=${join(elsewhere, 'ts.p12')} +environment\\n`));
    assert.match(text, /server\.ssl\.client-auth +SERVER_SSL_CLIENTAUTH=need +environment \(BACKEND_CLIENT_AUTH\)\n/);
    assert.match(text, /server\.ssl\.key-store-type +SERVER_SSL_KEYSTORETYPE=PKCS12 +default\n/);
    assert.match(text, /server\.ssl\.key-store-password +SERVER_SSL_KEYSTOREPASSWORD="\$\{STORE_PASSWORD\}" +environment \(STORE_PASSWORD\)\n/);
    assert.match(text, new RegExp(`HEALTH_PORT=${healthPort} +environment\\n`));
    const warnings = text.split('\n').filter((l) => l.includes('SERVER_SSL_ENABLED') || l.includes('SERVER_SSL_PROTOCOL'));
    assert.equal(warnings.length, 2, 'one warning line on the terminal (and one field in the backend\'s started line)');
    assert.match(warnings[0]!, /! not implemented by this backend, ignored: SERVER_SSL_ENABLED, SERVER_SSL_PROTOCOL/);
    assert.match(warnings[1]!, /"event":"started".*"ignoredSettings":"SERVER_SSL_ENABLED,SERVER_SSL_PROTOCOL"/);
    const started = JSON.parse(text.split('\n').find((l) => l.includes('"event":"started"'))!);
    assert.equal([started.port, started.healthPort], [port, healthPort], 'the backend listens where the environment said');

    const reply = await curl(port);
    assert.is(reply.exitCode, 0, reply.stderr);
    assert.match(reply.stdout, 'Hello, secure world with mTLS!');

    process.kill(-child.pid!, 'SIGINT');
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    // npm passes Ctrl-C on and then ends itself with it; the step and the backend exit 0.
    assert.ok(code === 0 || signal === 'SIGINT', `npm ended with ${code ?? signal}`);
    assert.match(out.text(), /"event":"stopped","how":"drained"/);
    assert.not.match(out.text(), /backend exited with code/);
    assert.not.ok(out.text().includes(fx.password), 'no password in the output');
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
});

/** The child of `pid` whose command line runs the backend (bash execs it). */
function backendChild(pid: number): number | undefined {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number));
  return children.find((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('backend/main.ts');
    } catch {
      return false;
    }
  });
}

test('foreground through zx: the backend writes to the step\'s own stdout (nothing in between), live; SIGTERM to the step drains it and both exit 0', async () => {
  const env: Record<string, string> = { ...(await kitEnv()), CERTS_DIR: fx.pki };
  const step = spawn('./scripts/20-backend.ts', [], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = watch(step);
  try {
    await out.until(/"event":"started"/);
    const backend = backendChild(step.pid!);
    assert.ok(backend, 'the backend runs as a child of the step');
    assert.is(readlinkSync(`/proc/${backend}/fd/1`), readlinkSync(`/proc/${step.pid}/fd/1`), 'the backend holds the step\'s stdout itself');
    assert.is((await curl(Number(env.BACKEND_PORT))).exitCode, 0);
    await out.until(/"event":"request","method":"GET","path":"\/","status":200/, 10_000);

    step.kill('SIGTERM');
    const [code] = (await once(step, 'exit')) as [number | null];
    assert.is(code, 0, out.text());
    assert.match(out.text(), /"event":"stopped","how":"drained"/);
    assert.throws(() => process.kill(backend!, 0), 'the backend has exited too');
  } finally {
    if (step.exitCode === null && step.signalCode === null) step.kill('SIGKILL');
  }
});

test('--detach takes SERVER_PORT over PORT and the kit; --running and --stop find that backend', async () => {
  const port = await freePort();
  const healthPort = await freePort();
  const env = {
    ...(await kitEnv()), SERVER_PORT: String(port), PORT: String(await freePort()), HEALTH_PORT: String(healthPort),
    SERVER_SSL_KEYSTORE: join(elsewhere, 'ks.p12'), SERVER_SSL_TRUSTSTORE: join(elsewhere, 'ts.p12'),
  };
  const step = (...args: string[]) => execa('./scripts/20-backend.ts', args, { cwd: repoRoot, env, extendEnv: false, reject: false });
  const start = await step('--detach');
  try {
    assert.is(start.exitCode, 0, start.stdout + start.stderr);
    assert.match(start.stdout, new RegExp(`server\\.port +PORT=${port} +environment \\(SERVER_PORT\\)\\n`));
    assert.match(start.stdout, new RegExp(`\\$ PORT=${port} .*node --import tsx backend/main\\.ts >> .*backend\\.log 2>&1 &`));
    assert.match(start.stdout, new RegExp(`backend running pid \\d+, https://127\\.0\\.0\\.1:${port} .*health http://127\\.0\\.0\\.1:${healthPort}/readyz`));
    assert.is((await curl(port)).exitCode, 0);
    assert.is((await step('--running')).exitCode, 0);
  } finally {
    const stop = await step('--stop');
    assert.is(stop.exitCode, 0, stop.stdout + stop.stderr);
    assert.match(stop.stdout, /backend stopped/);
  }
});

test('--detach while a backend started with other settings runs: one line naming what changed and make backend-stop, exit 1, the running one untouched; the same settings reuse it', async () => {
  const env: Record<string, string> = { ...(await kitEnv()), CERTS_DIR: fx.pki, RUN_DIR: join(work, 'run-changed') };
  const step = (extra: Record<string, string>, ...args: string[]) => execa('./scripts/20-backend.ts', args, { cwd: repoRoot, env: { ...env, ...extra }, extendEnv: false, reject: false });
  const start = await step({}, '--detach');
  try {
    assert.is(start.exitCode, 0, start.stdout + start.stderr);
    const recorded = readFileSync(join(env.RUN_DIR!, 'backend.cmd'), 'utf8');
    assert.not.ok(recorded.includes(fx.password), 'the recorded command line holds no password');
    const otherPort = String(await freePort());
    const changed = await step({ BACKEND_PORT: otherPort, BACKEND_CLIENT_AUTH: 'want' }, '--detach');
    assert.is(changed.exitCode, 1, changed.stdout + changed.stderr);
    const errors = (changed.stdout + '\n' + changed.stderr).split('\n').filter((l) => l.includes('✗'));
    assert.equal(errors, [`✗ the backend already running (pid ${readFileSync(join(env.RUN_DIR!, 'backend.pid'), 'utf8').trim()}) was started with other settings (PORT=${env.BACKEND_PORT} → ${otherPort} (BACKEND_PORT); SERVER_SSL_CLIENTAUTH=need → want (BACKEND_CLIENT_AUTH)): stop it first with LOCAL_ENV_FILE=${env.LOCAL_ENV_FILE} RUN_DIR=${env.RUN_DIR} make backend-stop, then run this again`]);
    assert.is((await curl(Number(env.BACKEND_PORT))).exitCode, 0, 'the running backend still serves on its port');
    const again = await step({}, '--detach');
    assert.is(again.exitCode, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /= using existing backend pid \d+/);
  } finally {
    const stop = await step({}, '--stop');
    assert.is(stop.exitCode, 0, stop.stdout + stop.stderr);
  }
  assert.not.ok(existsSync(join(env.RUN_DIR!, 'backend.cmd')), 'stopping drops the recorded command line');
});

test('a port another program holds (foreground and --detach): one line naming the port, the kit setting that chose it and what to do, exit 1, nothing started', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const taken = (holder.address() as AddressInfo).port;
  const env = { ...(await kitEnv()), CERTS_DIR: fx.pki, RUN_DIR: join(work, 'run-taken'), BACKEND_PORT: String(taken) };
  try {
    for (const args of [[], ['--detach']]) {
      const r = await execa('./scripts/20-backend.ts', args, { cwd: repoRoot, env, extendEnv: false, reject: false });
      assert.is(r.exitCode, 1, r.stdout + r.stderr);
      // The backend alone could only say "TLS port (SERVER_PORT or PORT)", a name env/local.env refuses.
      assert.equal(r.stderr.split('\n').filter((l) => l.includes('✗')), [`✗ port ${taken} (environment (BACKEND_PORT)) is already in use by another program: stop it, or set another BACKEND_PORT`]);
      assert.not.match(r.stdout, /backend running/);
      assert.not.ok(existsSync(join(env.RUN_DIR, 'backend.pid')), 'no pid file');
    }
  } finally {
    holder.close();
  }
});

test('Ctrl-C while --detach waits for the backend: it is stopped, no pid file is left, exit 130, and a re-run starts it', async () => {
  const env = { ...(await kitEnv()), CERTS_DIR: fx.pki, RUN_DIR: join(work, 'run-interrupted') };
  const pidFile = join(env.RUN_DIR, 'backend.pid');
  const step = execa('./scripts/20-backend.ts', ['--detach'], { cwd: repoRoot, env, extendEnv: false, reject: false });
  // The pid file is written right after the start; the backend needs far longer to load and listen.
  while (!existsSync(pidFile) && step.exitCode === null) await new Promise((r) => setTimeout(r, 5));
  const pid = Number(readFileSync(pidFile, 'utf8'));
  step.kill('SIGINT');
  const run = await step;
  assert.is(run.exitCode, 130, run.stdout + run.stderr);
  assert.match(run.stdout, new RegExp(`SIGINT: stopping backend \\(pid ${pid}\\), which was still starting`));
  assert.not.ok(existsSync(pidFile), 'no pid file left behind');
  assert.equal(readdirSync(env.RUN_DIR), ['backend.log'], 'nor a half-written one');
  assert.throws(() => process.kill(pid, 0), 'the half-started backend is gone (it would hold the port unseen)');
  const again = await execa('./scripts/20-backend.ts', ['--detach'], { cwd: repoRoot, env, extendEnv: false, reject: false });
  const stop = await execa('./scripts/20-backend.ts', ['--stop'], { cwd: repoRoot, env, extendEnv: false, reject: false });
  assert.is(again.exitCode, 0, again.stdout + again.stderr);
  assert.match(stop.stdout, /backend stopped/);
});

test('Ctrl-C during the last readiness check of --detach: the service is stopped, no pid file, exit 130 (not 0 with the service left running)', async () => {
  const runDir = join(work, 'run-last-check');
  // The readiness check itself presses Ctrl-C, then reports ready: the signal lands at the last moment.
  const script = `
    import { loadConfig } from './core/config.ts';
    import { DetachedService } from './scripts/lib/detached.ts';
    const service = new DetachedService(loadConfig({ env: { ...process.env, RUN_DIR: ${JSON.stringify(runDir)} }, argv: [] }), 'sleeper', 'sleep');
    const ready = async () => {
      const alive = setInterval(() => undefined, 1000); // signal listeners alone keep no event loop alive
      const seen = new Promise((r) => process.once('SIGINT', r));
      process.kill(process.pid, 'SIGINT');
      await seen;
      clearInterval(alive);
      return true;
    };
    const pid = await service.start('exec sleep 30', { cwd: process.cwd(), ready, timeoutMs: 5000 });
    console.log('started ' + pid);`;
  const run = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, env: await kitEnv(), extendEnv: false, reject: false });
  assert.is(run.exitCode, 130, run.stdout + run.stderr);
  const pid = Number(/SIGINT: stopping sleeper \(pid (\d+)\), which was still starting/.exec(run.stdout)?.[1]);
  assert.ok(pid > 0, run.stdout);
  assert.not.match(run.stdout, /started/);
  assert.not.ok(existsSync(join(runDir, 'sleeper.pid')), 'no pid file left behind');
  assert.throws(() => process.kill(pid, 0), 'the service is gone');
});

test('STORE_PASSWORD changed after make certs: foreground and --detach end with one line naming the stores, where STORE_PASSWORD came from and make certs; no password printed', async () => {
  const changed = 'changed-Pass-9';
  const hint = (from: string) => new RegExp(`; \\S*server-keystore\\.p12, \\S*server-truststore\\.p12: it does not open with STORE_PASSWORD \\(${from}\\): `
    + `the stores were made with another STORE_PASSWORD; run ${GIVEN}make certs to rebuild them with this one, or put back the one they were made with$`);
  const localEnv = join(work, 'changed-password.env');
  writeFileSync(localEnv, `STORE_PASSWORD=${changed}\n`);
  const { STORE_PASSWORD: _, ...withoutPassword } = await kitEnv();
  const runs: Array<[args: string[], env: Record<string, string>, line: RegExp]> = [
    [[], { ...(await kitEnv()), CERTS_DIR: fx.pki, STORE_PASSWORD: changed }, /^✗ backend exited with code 1; /m],
    [['--detach'], { ...withoutPassword, CERTS_DIR: fx.pki, LOCAL_ENV_FILE: localEnv }, /^✗ backend failed to start \(exit code 1\): server keystore .*: wrong password \(SERVER_SSL_KEYSTOREPASSWORD\); /m],
  ];
  for (const [args, env, line] of runs) {
    const r = await execa('./scripts/20-backend.ts', args, { cwd: repoRoot, env, extendEnv: false, reject: false });
    assert.is(r.exitCode, 1, r.stdout + r.stderr);
    assert.match(r.stderr, line);
    assert.match(r.stderr, hint(env.STORE_PASSWORD ? 'from the environment' : `from ${localEnv}`));
    // make certs rebuilds them with this STORE_PASSWORD: the one from the environment as its variable, or the file it is in.
    assert.match(r.stderr, new RegExp(`run (?:\\S+ )*${env.STORE_PASSWORD ? 'STORE_PASSWORD="\\$\\{STORE_PASSWORD\\}"' : `LOCAL_ENV_FILE=${localEnv}`} (?:\\S+ )*make certs `));
    for (const password of [changed, fx.password]) assert.not.ok((r.stdout + r.stderr).includes(password), 'a password printed');
  }
  // A wrong Spring password is the user's own: the kit's stores and STORE_PASSWORD are not to blame.
  const own = await execa('./scripts/20-backend.ts', [], { cwd: repoRoot, env: { ...(await kitEnv()), CERTS_DIR: fx.pki, SERVER_SSL_KEYSTOREPASSWORD: changed }, extendEnv: false, reject: false });
  assert.is(own.exitCode, 1, own.stdout + own.stderr);
  assert.match(own.stderr, /wrong password \(SERVER_SSL_KEYSTOREPASSWORD\)\n✗ backend exited with code 1$/);
});

test('DRY_RUN: passwords with quotes, $, spaces or 2 characters never appear; the command names $STORE_PASSWORD', async () => {
  // The 2-character one is made of characters no path or pid in the output can hold: 'x7' can
  // turn up inside the fixtures' random folder name, which the printed command shows.
  for (const password of [`it's-secret-1`, `pa"ss $HOME word`, '^~']) {
    for (const mode of [[], ['--detach']]) {
      const r = await execa('./scripts/20-backend.ts', mode, { cwd: repoRoot, env: { ...(await kitEnv()), STORE_PASSWORD: password, DRY_RUN: '1' }, extendEnv: false, reject: false });
      assert.is(r.exitCode, 0, r.stderr);
      assert.not.ok((r.stdout + r.stderr).includes(password), `${JSON.stringify(password)} printed`);
      assert.match(r.stdout, /\$ PORT=\d+ .*SERVER_SSL_KEYSTOREPASSWORD="\$\{STORE_PASSWORD\}" .*SERVER_SSL_TRUSTSTOREPASSWORD="\$\{STORE_PASSWORD\}" .*node --import tsx backend\/main\.ts/);
      assert.not.match(r.stdout, /\*\*\*\*/, 'no masked value inside the command');
    }
  }
});

test('a store password the environment gives with STORE_PASSWORD\'s value: the other store\'s row names the variable the command reads it from, as its source too', async () => {
  for (const [given, other] of [['SERVER_SSL_KEYSTOREPASSWORD', 'SERVER_SSL_TRUSTSTOREPASSWORD'], ['SERVER_SSL_TRUSTSTOREPASSWORD', 'SERVER_SSL_KEYSTOREPASSWORD']] as const) {
    const r = await execa('./scripts/20-backend.ts', [], { cwd: repoRoot, env: { ...(await kitEnv()), DRY_RUN: '1', [given]: fx.password }, extendEnv: false, reject: false });
    assert.is(r.exitCode, 0, r.stderr);
    const row = (variable: string) => r.stdout.split('\n').find((l) => l.includes(` ${variable}=`))!.trim().split(/ {2,}/);
    assert.equal(row(given).slice(1), [`${given}="\${${given}}"`, 'environment'], r.stdout);
    assert.equal(row(other).slice(1), [`${other}="\${${given}}"`, `environment (${given}, the same value as STORE_PASSWORD)`], r.stdout);
    assert.match(r.stdout, new RegExp(`\\$ .*${other}="\\$\\{${given}\\}" .*node --import tsx backend/main\\.ts`));
  }
});

test('the printed command is what runs: pasted into bash after the printed line that sets the password, it serves the tutorial client', async () => {
  // STORE_PASSWORD as the kit's default (env/defaults.env says changeit, the fixtures' password).
  const { STORE_PASSWORD: _, ...env }: Record<string, string> = { ...(await kitEnv()), CERTS_DIR: fx.pki, DRY_RUN: '1' };
  const r = await execa('./scripts/20-backend.ts', [], { cwd: repoRoot, env, extendEnv: false, reject: false });
  const command = /^ +\$ (PORT=.*)$/m.exec(r.stdout)?.[1];
  const setPassword = /^ +# +(read -rs STORE_PASSWORD && export STORE_PASSWORD)$/m.exec(r.stdout)?.[1];
  assert.ok(command && setPassword, r.stdout);
  assert.ok(r.stdout.indexOf(setPassword) < r.stdout.indexOf(command), 'how to set the password comes before the command');
  // A shell that knows nothing of the kit's password until the reader types it for the printed `read`.
  const child = spawn('bash', ['-c', `${setPassword} && ${command}`], { cwd: repoRoot, env: { ...env, DRY_RUN: '0' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin!.end(`${fx.password}\n`);
  const out = watch(child);
  try {
    await out.until(/"event":"started"/);
    const reply = await curl(Number(env.BACKEND_PORT));
    assert.is(reply.exitCode, 0, reply.stderr);
    assert.match(reply.stdout, 'Hello, secure world with mTLS!');
  } finally {
    if (child.exitCode === null) {
      process.kill(-child.pid!, 'SIGTERM'); // bash and the backend it started
      await once(child, 'exit');
    }
  }
});

test('settings given only in the environment are on the printed line (foreground and --detach): pasted into a bare bash with only the variables it says to export, it starts the same backend', async () => {
  const password = fx.password;
  for (const mode of [[], ['--detach']]) {
    const port = await freePort();
    const healthPort = await freePort();
    const runDir = join(work, `run-bare-${mode.length}`);
    mkdirSync(runDir, { recursive: true });
    // Each of these reaches the step's own run only through its environment; the kit's CERTS_DIR
    // (elsewhere) is where classpath: looks, the backend's own timeouts and address are not kit settings.
    const env = {
      ...(await kitEnv()), RUN_DIR: runDir, DRY_RUN: '1', PORT: String(port), HEALTH_PORT: String(healthPort), CERTS_DIR: elsewhere,
      SERVER_ADDRESS: '127.0.0.1', SHUTDOWN_TIMEOUT_MS: '4321', SERVER_SSL_KEYSTORE: 'classpath:ks.p12',
      SERVER_SSL_TRUSTSTORE: join(elsewhere, 'ts.p12'), SERVER_SSL_KEYSTOREPASSWORD: password,
    };
    const r = await execa('./scripts/20-backend.ts', mode, { cwd: repoRoot, env, extendEnv: false, reject: false });
    assert.is(r.exitCode, 0, r.stdout + r.stderr);
    assert.not.ok(r.stdout.includes(password), 'no password in the output');
    const line = printedCommands(r.stdout).find((c) => c.includes('backend/main.ts'))!;
    for (const setting of [`PORT=${port}`, `HEALTH_PORT=${healthPort}`, 'SERVER_ADDRESS=127.0.0.1', 'SHUTDOWN_TIMEOUT_MS=4321', `CERTS_DIR=${elsewhere}`, 'SERVER_SSL_KEYSTORE=classpath:ks.p12']) {
      assert.ok(line.includes(` ${setting} `) || line.startsWith(`${setting} `), `${mode.join('') || 'foreground'}: no ${setting} in ${line}`);
    }
    // A reader's shell: PATH, HOME and what the output says to export, typed for each `read -rs`.
    const exported = [...r.stdout.matchAll(/read -rs (\w+) && export \1/g)].map((m) => m[1]!);
    assert.equal(exported, ['SERVER_SSL_KEYSTOREPASSWORD']);
    const bare = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...Object.fromEntries(exported.map((name) => [name, password])) };
    const bash = spawn('bash', ['-c', `${line}\nwait`], { cwd: repoRoot, env: bare, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out = watch(bash);
    const output = () => out.text() + (existsSync(join(runDir, 'backend.log')) ? readFileSync(join(runDir, 'backend.log'), 'utf8') : '');
    try {
      const deadline = Date.now() + 60_000;
      while (!/"event":"started"/.test(output())) {
        assert.ok(Date.now() < deadline && bash.exitCode === null, `the pasted backend did not start:\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const started = JSON.parse(output().split('\n').find((l) => l.includes('"event":"started"'))!);
      assert.equal([started.port, started.healthPort], [port, healthPort]);
      const reply = await curl(port);
      assert.is(reply.exitCode, 0, reply.stderr);
      assert.match(reply.stdout, 'Hello, secure world with mTLS!');
    } finally {
      process.kill(-bash.pid!, 'SIGTERM');
      await once(bash, 'exit');
    }
    const deadline = Date.now() + 20_000;
    while (!/"event":"draining"/.test(output()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(output(), /"event":"draining".*"timeoutMs":4321/, 'SHUTDOWN_TIMEOUT_MS reached the pasted backend');
  }
});

test('--detach before RUN_DIR exists (a fresh clone): the printed mkdir and background line, pasted into bash, start the backend', async () => {
  const runDir = join(tempDir('backend-fresh-'), 'run');
  const { STORE_PASSWORD: _, ...env }: Record<string, string> = { ...(await kitEnv()), CERTS_DIR: fx.pki, RUN_DIR: runDir, DRY_RUN: '1' };
  const r = await execa('./scripts/20-backend.ts', ['--detach'], { cwd: repoRoot, env, extendEnv: false, reject: false });
  assert.is(r.exitCode, 0, r.stderr);
  assert.not.ok(existsSync(runDir), 'DRY_RUN makes nothing');
  const setPassword = /^ +# +(read -rs STORE_PASSWORD && export STORE_PASSWORD)$/m.exec(r.stdout)?.[1];
  const script = pastedScript(r.stdout);
  assert.match(script, new RegExp(`^mkdir -p ${runDir}\\n`), script);
  // The printed hint says how to keep the pid: echo $! > …/backend.pid
  const child = spawn('bash', ['-e', '-c', `${setPassword}\n${script}\necho $! > ${join(runDir, 'backend.pid')}`], { cwd: repoRoot, env: { ...env, DRY_RUN: '0' }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end(`${fx.password}\n`);
  const [code] = await once(child, 'exit');
  assert.is(code, 0);
  const pid = Number(readFileSync(join(runDir, 'backend.pid'), 'utf8'));
  try {
    const deadline = Date.now() + 60_000;
    while (!/"event":"started"/.test(existsSync(join(runDir, 'backend.log')) ? readFileSync(join(runDir, 'backend.log'), 'utf8') : '')) {
      assert.ok(Date.now() < deadline, 'the pasted backend did not log "started"');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const reply = await curl(Number(env.BACKEND_PORT));
    assert.is(reply.exitCode, 0, reply.stderr);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
});

test.run();
