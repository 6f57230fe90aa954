#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Construcción del Microservicio": run the mTLS backend with the settings of the
// tutorial's application.properties, passed as environment variables in Spring's relaxed form.
// As with Spring Boot, a variable already in the environment (PORT, SERVER_PORT, SERVER_SSL_*)
// wins over the kit's settings (env/defaults.env, env/local.env).
//   scripts/20-backend.ts            foreground, like `java -jar` (Ctrl-C drains and stops)
//   scripts/20-backend.ts --detach   background; pid and log files in RUN_DIR; waits until ready
//   scripts/20-backend.ts --stop     SIGTERM the detached backend and wait for it to exit
//   scripts/20-backend.ts --running  exit status 0 when a detached backend is running, 1 when not
import { spawn, type SpawnOptions } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { isAbsolute, join, relative } from 'node:path';
import { execa } from 'execa';
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { log, shellQuote } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { isAlive, runningPid } from '../core/pidfile.ts';
import { repoRoot, settingSource, type Config } from '../core/config.ts';
import { ignoredSpringVariables } from '../backend/settings.ts';
import { FILES, ALIASES } from './lib/pki/names.ts';

const ENTRY = 'backend/main.ts';
/** A value the kit does not make configurable (the tutorial's own). */
const BUILT_IN = '';
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;

/** One line of application.properties as the backend's environment variable, with where its value came from. */
interface Setting {
  property: string;
  variable: string;
  /** What the command passes: the value, or for a password the shell variable holding it (never the password). */
  value: string;
  secret?: true;
  source: string;
}

/** A path as the command passes it: relative to the repository, where the backend runs. */
const fromRepo = (path: string) => (relative(repoRoot, path).startsWith('..') || isAbsolute(relative(repoRoot, path)) ? path : relative(repoRoot, path));

/**
 * The tutorial's application.properties, line by line. Each value comes from the environment when
 * the Spring variable is set there, else from the kit's setting that feeds it.
 */
function springSettings(config: Config, env = process.env): Setting[] {
  const given = (variable: string) => (env[variable]?.trim() ? env[variable]!.trim() : undefined);
  // Where the kit's value came from: "default (BACKEND_PORT)", "env/local.env (CERTS_DIR)", …
  const kit = (kitVariable: string) => (kitVariable === BUILT_IN ? 'default' : `${settingSource(kitVariable, env)} (${kitVariable})`);
  const setting = (property: string, variable: string, kitVariable: string, kitValue: string, secret = false): Setting => {
    const fromEnv = given(variable);
    if (secret) return { property, variable, value: `"$${fromEnv !== undefined ? variable : kitVariable}"`, secret: true, source: fromEnv !== undefined ? 'environment' : kit(kitVariable) };
    return fromEnv !== undefined ? { property, variable, value: fromEnv, source: 'environment' } : { property, variable, value: kitValue, source: kit(kitVariable) };
  };
  const { pki, backend } = config;
  // server.port=${PORT:8443}: Spring's own SERVER_PORT wins over PORT.
  const port = given('SERVER_PORT') !== undefined
    ? { property: 'server.port', variable: 'PORT', value: given('SERVER_PORT')!, source: 'environment (SERVER_PORT)' }
    : setting('server.port', 'PORT', 'BACKEND_PORT', String(backend.port));
  const rows: Setting[] = [
    port,
    setting('server.ssl.client-auth', 'SERVER_SSL_CLIENTAUTH', 'BACKEND_CLIENT_AUTH', backend.clientAuth),
    setting('server.ssl.key-store', 'SERVER_SSL_KEYSTORE', 'CERTS_DIR', fromRepo(join(pki.certsDir, FILES.serverKeystore))),
    setting('server.ssl.key-store-password', 'SERVER_SSL_KEYSTOREPASSWORD', 'STORE_PASSWORD', '', true),
    setting('server.ssl.key-store-type', 'SERVER_SSL_KEYSTORETYPE', BUILT_IN, 'PKCS12'),
    setting('server.ssl.key-alias', 'SERVER_SSL_KEYALIAS', BUILT_IN, ALIASES.server),
    setting('server.ssl.trust-store', 'SERVER_SSL_TRUSTSTORE', 'CERTS_DIR', fromRepo(join(pki.certsDir, FILES.serverTruststore))),
    setting('server.ssl.trust-store-password', 'SERVER_SSL_TRUSTSTOREPASSWORD', 'STORE_PASSWORD', '', true),
    setting('(health probes, plain HTTP)', 'HEALTH_PORT', 'BACKEND_HEALTH_PORT', String(backend.healthPort)),
  ];
  const allowList = setting('(allow-list of client subjects)', 'SERVER_SSL_ALLOWEDCLIENTS', 'BACKEND_ALLOWED_CLIENTS', backend.allowedClients.join(','));
  if (allowList.value !== '') rows.push(allowList);
  return rows;
}

/** The backend's other settings that are set in the environment: the backend reads them from there too. */
const BACKEND_ONLY = ['SERVER_ADDRESS', 'SERVER_SSL_TRUSTSTORETYPE', 'HANDSHAKE_TIMEOUT_MS', 'HEADERS_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS', 'IDLE_TIMEOUT_MS', 'SHUTDOWN_TIMEOUT_MS', 'RELOAD_STORES', 'RELOAD_DEBOUNCE_MS'];

function printSettings(rows: Setting[], env = process.env): void {
  log.explain('application.properties → environment variables (Spring relaxed binding); the environment wins over the kit:');
  log.explain(`  ${'server.ssl.enabled'.padEnd(34)} (always: the backend only serves TLS 1.2 or later)`);
  const width = Math.max(...rows.map((r) => r.variable.length + 1 + r.value.length));
  for (const r of rows) log.explain(`  ${r.property.padEnd(34)} ${`${r.variable}=${r.value}`.padEnd(width)}  ${r.source}`);
  const inherited = BACKEND_ONLY.filter((name) => env[name]?.trim());
  if (inherited.length > 0) log.explain(`  also read by the backend from the environment: ${inherited.map((name) => `${name}=${env[name]!.trim()}`).join(' ')}`);
  const ignored = ignoredSpringVariables(env);
  if (ignored.length > 0) log.warn(`not implemented by this backend, ignored: ${ignored.join(', ')} (it always serves TLS 1.2+ with its own protocol and cipher defaults)`);
}

/** `PORT=8443 … SERVER_SSL_KEYSTOREPASSWORD="$STORE_PASSWORD" … node --import tsx backend/main.ts`: what runs, as a reader would type it. */
function backendCommand(rows: Setting[]): string {
  return [...rows.map((r) => `${r.variable}=${r.secret ? r.value : shellQuote(r.value)}`), 'node', '--import', 'tsx', ENTRY].join(' ');
}

/** How a reader who pastes the command gets the kit's password into $STORE_PASSWORD. */
function passwordHint(rows: Setting[]): string | undefined {
  if (!rows.some((r) => r.secret && r.value === '"$STORE_PASSWORD"')) return undefined;
  const source = settingSource('STORE_PASSWORD');
  if (source === 'environment') return 'the passwords come from $STORE_PASSWORD, already in your environment';
  const file = source === 'default' ? 'env/defaults.env' : 'env/local.env';
  return `the passwords come from STORE_PASSWORD in ${file}; to paste the command, first: export "$(grep '^STORE_PASSWORD=' ${file})"`;
}

const paths = (config: Config) => ({ pid: join(config.runDir, 'backend.pid'), log: join(config.runDir, 'backend.log') });

/** The pid in the pid file when that process is still our backend. */
const backendPid = (pidFile: string) => runningPid(pidFile, ENTRY);

const valueOf = (rows: Setting[], variable: string) => rows.find((r) => r.variable === variable)!.value;

function ready(healthPort: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port: healthPort, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lastLine(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').pop() ?? '';
  } catch {
    return '';
  }
}

function startedSince(file: string, offset: number): boolean {
  try {
    return readFileSync(file).subarray(offset).includes('"event":"started"');
  } catch {
    return false;
  }
}

async function stop(config: Config): Promise<void> {
  const { pid: pidFile } = paths(config);
  const pid = backendPid(pidFile);
  if (pid === undefined) {
    rmSync(pidFile, { force: true });
    log.info('backend is not running (nothing to stop)');
    return;
  }
  log.command(['kill', '-TERM', String(pid)], 'the backend drains in-flight requests, then exits');
  if (config.dryRun) return log.dryRun();
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await delay(100);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    log.warn(`backend (pid ${pid}) did not exit within ${STOP_TIMEOUT_MS / 1000}s; killed`);
  } else {
    log.created('backend stopped', `(pid ${pid})`);
  }
  rmSync(pidFile, { force: true });
}

/** Foreground, like `java -jar`: the backend owns the terminal until Ctrl-C (which it drains on). */
async function runForeground(config: Config, command: string): Promise<void> {
  // Ctrl-C reaches the backend directly (same process group): this script only waits for it.
  process.on('SIGINT', () => undefined);
  // The backend writes its log straight to this terminal (the kit's zx setup pipes and keeps a
  // command's output, which a server would grow without end); with DRY_RUN nothing starts.
  const toTerminal = (file: string, args: readonly string[], options: SpawnOptions) => spawn(file, args, { ...options, stdio: 'inherit' });
  // zx prints the command as given: it is already quoted for the shell, password variables included.
  const asWritten = (command: string) => command;
  const backend = $({ cwd: repoRoot, nothrow: true, quote: asWritten, ...(config.dryRun ? {} : { spawn: toTerminal as unknown as typeof $.spawn }) })`${command}`;
  process.on('SIGTERM', () => void backend.kill('SIGTERM'));
  const { exitCode } = await backend;
  if (config.dryRun) return log.dryRun();
  if (exitCode !== 0) throw new StepError(`backend exited with code ${exitCode}`, exitCode ?? 1);
}

/** Background: the same command through execa, its output appended to RUN_DIR/backend.log; waits until ready. */
async function startDetached(config: Config, rows: Setting[], command: string): Promise<void> {
  const { pid: pidFile, log: logFile } = paths(config);
  // The backend listens on every interface, as Spring Boot does; probe it locally.
  const healthHost = '127.0.0.1';
  const healthPort = Number(valueOf(rows, 'HEALTH_PORT'));
  const url = `https://${config.pki.serverHost}:${valueOf(rows, 'PORT')}`;
  const running = backendPid(pidFile);
  if (running !== undefined && (await ready(healthPort, healthHost))) {
    log.reused('backend', `pid ${running}, ${url}`);
    return;
  }
  log.command(`${command} >> ${shellQuote(fromRepo(logFile))} 2>&1 &`, process.cwd() === repoRoot ? undefined : `in ${repoRoot}/`);
  if (config.dryRun) return log.dryRun();

  mkdirSync(config.runDir, { recursive: true });
  const out = openSync(logFile, 'a', 0o600);
  const logStart = fstatSync(out).size;
  // The log file's descriptor itself becomes the backend's stdout and stderr (execa's types name
  // descriptors 3-9; it hands any open one to spawn as is), so nothing here sits in between.
  const toLog = out as 3;
  // bash runs the printed command (it expands "$STORE_PASSWORD") and execs node: the pid is the backend's.
  const child = execa(command, {
    shell: 'bash', cwd: repoRoot, env: { STORE_PASSWORD: config.pki.storePassword },
    stdin: 'ignore', stdout: toLog, stderr: toLog, detached: true, cleanup: false, reject: false,
  });
  closeSync(out);
  let exited: string | undefined;
  void child.then((result) => (exited = result.signal ?? `exit code ${result.exitCode}`));
  child.unref();
  writeFileAtomic(pidFile, `${child.pid}\n`);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  // Ready = our child logged "started" (another process may hold the ports) and its probe says UP.
  while (!(startedSince(logFile, logStart) && (await ready(healthPort, healthHost)))) {
    if (exited !== undefined) {
      rmSync(pidFile, { force: true });
      throw new StepError(`backend failed to start (${exited}): ${lastLine(logFile).replace(/^backend: /, '')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      rmSync(pidFile, { force: true });
      throw new StepError(`backend did not become ready within ${READY_TIMEOUT_MS / 1000}s; see ${fromRepo(logFile)}`);
    }
    await delay(100);
  }
  log.created('backend running', `pid ${child.pid}, ${url} (client-auth ${valueOf(rows, 'SERVER_SSL_CLIENTAUTH')}), health http://${healthHost}:${healthPort}/readyz`);
  log.info(`follow its JSON log: tail -f ${fromRepo(logFile)}`);
  log.info('stop it: make backend-stop');
}

/** Lets `make all` leave alone a backend it did not start. */
function reportRunning(config: Config): void {
  const pid = backendPid(paths(config).pid);
  log.info(pid === undefined ? 'backend is not running' : `backend is already running (pid ${pid})`);
  if (pid === undefined) process.exitCode = 1;
}

await runStep(async (config) => {
  const argv = process.argv.slice(2);
  if (argv.includes('--running')) return reportRunning(config);
  if (argv.includes('--stop')) {
    log.banner('Stop the mTLS backend', '"Construcción del Microservicio"');
    return stop(config);
  }
  const detach = argv.includes('--detach');
  const settings = springSettings(config);
  log.banner(`mTLS backend on port ${valueOf(settings, 'PORT')}${detach ? ' (detached)' : ''}`, '"Construcción del Microservicio", java -jar');
  printSettings(settings);
  const command = backendCommand(settings);
  const hint = passwordHint(settings);
  if (hint) log.explain(hint);
  if (detach) await startDetached(config, settings, command);
  else await runForeground(config, command);
});
