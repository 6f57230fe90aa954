#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Construcción del Microservicio": run the mTLS backend with the settings of the
// tutorial's application.properties, passed as environment variables in Spring's relaxed form.
//   scripts/20-backend.ts            foreground, like `java -jar` (Ctrl-C drains and stops)
//   scripts/20-backend.ts --detach   background; pid and log files in RUN_DIR; waits until ready
//   scripts/20-backend.ts --stop     SIGTERM the detached backend and wait for it to exit
//   scripts/20-backend.ts --running  exit status 0 when a detached backend is running, 1 when not
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { formatCommand, log, shellQuote } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { isAlive, runningPid } from '../core/pidfile.ts';
import { repoRoot, type Config } from '../core/config.ts';
import { FILES, ALIASES } from './lib/pki/names.ts';
import { displayPath as display } from '../core/log.ts';

const ENTRY = 'backend/main.ts';
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;

/** The tutorial's application.properties, line by line, as the environment the backend reads. */
function backendEnv(config: Config): Array<[property: string, variable: string, value: string]> {
  const { pki, backend } = config;
  const rows: Array<[string, string, string]> = [
    ['server.port', 'PORT', String(backend.port)],
    ['server.ssl.client-auth', 'SERVER_SSL_CLIENTAUTH', backend.clientAuth],
    ['server.ssl.key-store', 'SERVER_SSL_KEYSTORE', display(join(pki.certsDir, FILES.serverKeystore))],
    ['server.ssl.key-store-password', 'SERVER_SSL_KEYSTOREPASSWORD', pki.storePassword],
    ['server.ssl.key-store-type', 'SERVER_SSL_KEYSTORETYPE', 'PKCS12'],
    ['server.ssl.key-alias', 'SERVER_SSL_KEYALIAS', ALIASES.server],
    ['server.ssl.trust-store', 'SERVER_SSL_TRUSTSTORE', display(join(pki.certsDir, FILES.serverTruststore))],
    ['server.ssl.trust-store-password', 'SERVER_SSL_TRUSTSTOREPASSWORD', pki.storePassword],
    ['(health probes, plain HTTP)', 'HEALTH_PORT', String(backend.healthPort)],
  ];
  if (backend.allowedClients.length > 0) rows.push(['(allow-list of client subjects)', 'SERVER_SSL_ALLOWEDCLIENTS', backend.allowedClients.join(',')]);
  return rows;
}

const paths = (config: Config) => ({ pid: join(config.runDir, 'backend.pid'), log: join(config.runDir, 'backend.log') });

/** The pid in the pid file when that process is still our backend. */
const backendPid = (pidFile: string) => runningPid(pidFile, ENTRY);

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

async function start(config: Config, detach: boolean): Promise<void> {
  const rows = backendEnv(config);
  log.explain('application.properties → environment variables (Spring relaxed binding):');
  for (const [property, variable, value] of rows) {
    log.explain(`  ${property.padEnd(34)} ${variable}=${/PASSWORD/.test(variable) ? '****' : value}`);
  }
  const env = Object.fromEntries(rows.map(([, variable, value]) => [variable, value]));
  const command = [...rows.map(([, v, value]) => `${v}=${value}`), 'node', '--import', 'tsx', ENTRY];
  const { pid: pidFile, log: logFile } = paths(config);
  // The backend listens on every interface, as Spring Boot does; probe it locally.
  const healthHost = '127.0.0.1';

  if (detach) {
    const pid = backendPid(pidFile);
    if (pid !== undefined && (await ready(config.backend.healthPort, healthHost))) {
      log.reused('backend', `pid ${pid}, https://${config.pki.serverHost}:${config.backend.port}`);
      return;
    }
  }
  for (const store of [FILES.serverKeystore, FILES.serverTruststore]) {
    if (!config.dryRun && !existsSync(join(config.pki.certsDir, store))) {
      throw new StepError(`${display(join(config.pki.certsDir, store))} is missing; create the certificates first (make certs)`);
    }
  }
  log.command(detach ? `${formatCommand(command)} >> ${shellQuote(display(logFile))} 2>&1 &` : command);
  if (config.dryRun) return log.dryRun();

  const childEnv = { ...process.env, ...env };
  if (!detach) {
    // Foreground: the backend owns the terminal. Ctrl-C reaches it directly (same process group),
    // so SIGINT is only swallowed here; a SIGTERM sent to this script is passed on.
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], { cwd: repoRoot, env: childEnv, stdio: 'inherit' });
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => child.kill('SIGTERM'));
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
    if (code !== 0) throw new StepError(`backend exited with code ${code}`, code);
    return;
  }

  mkdirSync(config.runDir, { recursive: true });
  const out = openSync(logFile, 'a', 0o600);
  const logStart = fstatSync(out).size;
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], { cwd: repoRoot, env: childEnv, stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));
  child.unref();
  writeFileAtomic(pidFile, `${child.pid}\n`);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  // Ready = our child logged "started" (another process may hold the ports) and its probe says UP.
  while (!(startedSince(logFile, logStart) && (await ready(config.backend.healthPort, healthHost)))) {
    if (exited !== undefined) {
      rmSync(pidFile, { force: true });
      throw new StepError(`backend failed to start (${exited}): ${lastLine(logFile).replace(/^backend: /, '')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      rmSync(pidFile, { force: true });
      throw new StepError(`backend did not become ready within ${READY_TIMEOUT_MS / 1000}s; see ${display(logFile)}`);
    }
    await delay(100);
  }
  log.created('backend running', `pid ${child.pid}, https://${config.pki.serverHost}:${config.backend.port} (client-auth ${config.backend.clientAuth}), health http://${healthHost}:${config.backend.healthPort}/readyz`);
  log.info(`follow its JSON log: tail -f ${display(logFile)}`);
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
  log.banner(`mTLS backend on port ${config.backend.port}${detach ? ' (detached)' : ''}`, '"Construcción del Microservicio", java -jar');
  await start(config, detach);
});
