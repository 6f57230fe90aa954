#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The local Apigee X stand-in (apigee-local/). Without flags it runs in the foreground like
// `npm run apigee-local`; --detach starts it in the background (pid and log in RUN_DIR) and waits
// until both ports answer; --stop ends the background one; --running exits 0 when the background
// one is running and 1 when not (so `make all` stops only what it started).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { repoRoot, type Config } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { isAlive, runningPid } from '../core/pidfile.ts';
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { serveForeground } from '../apigee-local/main.ts';

const pidFile = (config: Config) => join(config.runDir, 'apigee-local.pid');
const logFile = (config: Config) => join(config.runDir, 'apigee-local.log');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ENTRY = join('apigee-local', 'main.ts');
/** The pid in the pid file when that process is still the stand-in. */
const standInPid = (config: Config) => runningPid(pidFile(config), ENTRY);

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

function printUrls(config: Config): void {
  const a = config.apigee;
  log.info(`management API: http://127.0.0.1:${a.localApiPort}/v1/organizations/${a.org}`);
  log.info(`runtime:        https://localhost:${a.localRuntimePort}`);
  log.command(`curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:${a.localApiPort}/v1/organizations/${a.org}/environments/${a.env}/keystores`,
    'any token works unless APIGEE_LOCAL_TOKEN is set');
}

async function detach(config: Config): Promise<void> {
  const existing = standInPid(config);
  if (existing !== undefined) {
    log.reused('apigee-local', `(pid ${existing}, ${relative(process.cwd(), pidFile(config))})`);
    printUrls(config);
    return;
  }
  for (const port of [config.apigee.localApiPort, config.apigee.localRuntimePort]) {
    if (await portAnswers(port)) throw new StepError(`port ${port} is already in use by another program (hint: set APIGEE_LOCAL_API_PORT / APIGEE_LOCAL_RUNTIME_PORT)`);
  }
  log.command('npm run apigee-local', `in the background, log in ${relative(process.cwd(), logFile(config))}`);
  if (config.dryRun) return log.dryRun();
  mkdirSync(config.runDir, { recursive: true });
  const out = openSync(logFile(config), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, ENTRY)], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  closeSync(out);
  child.unref();
  writeFileAtomic(pidFile(config), `${child.pid}\n`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || !isAlive(child.pid!)) {
      rmSync(pidFile(config), { force: true });
      const last = readFileSync(logFile(config), 'utf8').trim().split('\n').pop() ?? '';
      throw new StepError(`apigee-local exited during start: ${last}`);
    }
    const [api, runtime] = await Promise.all([portAnswers(config.apigee.localApiPort), portAnswers(config.apigee.localRuntimePort)]);
    if (api && runtime) break;
    if (Date.now() > deadline) throw new StepError(`apigee-local did not open its ports within 30 s (see ${logFile(config)})`);
    await sleep(100);
  }
  log.created('apigee-local', `(pid ${child.pid})`);
  printUrls(config);
}

async function stop(config: Config): Promise<void> {
  const pid = standInPid(config);
  if (pid === undefined) {
    rmSync(pidFile(config), { force: true });
    log.info('apigee-local is not running');
    return;
  }
  log.command(`kill ${pid}`, 'SIGTERM: the stand-in closes its ports and exits');
  if (config.dryRun) return log.dryRun();
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new StepError(`apigee-local (pid ${pid}) did not exit within 10 s after SIGTERM`);
    await sleep(50);
  }
  rmSync(pidFile(config), { force: true });
  log.created('apigee-local stopped');
}

function reportRunning(config: Config): void {
  const pid = standInPid(config);
  log.info(pid === undefined ? 'apigee-local is not running' : `apigee-local is already running (pid ${pid})`);
  if (pid === undefined) process.exitCode = 1;
}

await runStep(async (config) => {
  const argv = process.argv.slice(2);
  if (argv.includes('--running')) return reportRunning(config);
  log.banner('Local Apigee X stand-in', 'Crear el proxy en Apigee');
  if (argv.includes('--stop')) return stop(config);
  if (argv.includes('--detach')) return detach(config);
  log.command('npm run apigee-local');
  if (config.dryRun) return log.dryRun();
  await serveForeground(config);
});
