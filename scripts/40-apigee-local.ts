#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The local Apigee X stand-in (apigee-local/). Without flags it runs in the foreground like
// `npm run apigee-local`; --detach starts it in the background (pid and log in RUN_DIR) and waits
// until both ports answer; --stop ends the background one; --running exits 0 when the background
// one is running and 1 when not (so `make all` stops only what it started).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Options } from 'execa';
import { repoRoot, type Config } from '../core/config.ts';
import { StepError, lastLine } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { isAlive, runningPid } from '../core/pidfile.ts';
import { displayPath, log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { tokenLine } from './lib/apigee/target.ts';
import { serveForeground } from '../apigee-local/main.ts';

const pidFile = (config: Config) => join(config.runDir, 'apigee-local.pid');
const logFile = (config: Config) => join(config.runDir, 'apigee-local.log');

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
  log.command(tokenLine(config), a.localToken ? 'the token fixed by APIGEE_LOCAL_TOKEN (export it first)' : 'any token works unless APIGEE_LOCAL_TOKEN is set');
  log.command(`curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:${a.localApiPort}/v1/organizations/${a.org}/environments/${a.env}/keystores`);
}

async function detach(config: Config): Promise<void> {
  const existing = standInPid(config);
  if (existing !== undefined) {
    log.reused('apigee-local', `(pid ${existing}, ${displayPath(pidFile(config))})`);
    printUrls(config);
    return;
  }
  for (const port of [config.apigee.localApiPort, config.apigee.localRuntimePort]) {
    if (await portAnswers(port)) throw new StepError(`port ${port} is already in use by another program (hint: set APIGEE_LOCAL_API_PORT / APIGEE_LOCAL_RUNTIME_PORT)`);
  }
  // What the line below does: the stand-in in its own process group, detached from this one.
  log.command(`node --import tsx ${ENTRY} >> ${displayPath(logFile(config))} 2>&1 &`, 'in the background; pid in RUN_DIR/apigee-local.pid');
  if (config.dryRun) return log.dryRun();
  mkdirSync(config.runDir, { recursive: true });
  // The log file's descriptor goes to the child itself: this process can exit while it runs.
  const out = openSync(logFile(config), 'a');
  // (execa's types list only fds 3-9; at run time any descriptor is handed to the child as is)
  const options = { cwd: repoRoot, detached: true, stdin: 'ignore', stdout: out, stderr: out } as Options;
  const child = execa(process.execPath, ['--import', 'tsx', ENTRY], options);
  child.catch(() => undefined); // its exit is watched below, not awaited
  closeSync(out);
  child.unref();
  writeFileAtomic(pidFile(config), `${child.pid}\n`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || !isAlive(child.pid!)) {
      rmSync(pidFile(config), { force: true });
      throw new StepError(`apigee-local exited during start: ${lastLine(readFileSync(logFile(config), 'utf8'))}`);
    }
    const [api, runtime] = await Promise.all([portAnswers(config.apigee.localApiPort), portAnswers(config.apigee.localRuntimePort)]);
    if (api && runtime) break;
    if (Date.now() > deadline) throw new StepError(`apigee-local did not open its ports within 30 s (see ${displayPath(logFile(config))})`);
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
  if (config.apigee.target !== 'local' && (argv.includes('--running') || argv.includes('--detach'))) {
    // make all / make rotate start the stand-in; against Apigee X there is nothing to start (or stop).
    return log.info('APIGEE_TARGET=apigee-x: the steps call Apigee X, no local stand-in is needed');
  }
  if (argv.includes('--running')) return reportRunning(config);
  log.banner('Local Apigee X stand-in', 'Crear el proxy en Apigee');
  if (argv.includes('--stop')) return stop(config);
  if (argv.includes('--detach')) return detach(config);
  log.command('npm run apigee-local');
  if (config.dryRun) return log.dryRun();
  await serveForeground(config);
});
