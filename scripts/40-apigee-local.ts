#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The local Apigee X stand-in (apigee-local/). Without flags it runs in the foreground like
// `npm run apigee-local`; --detach starts it in the background (pid and log in RUN_DIR) and waits
// until it reports both ports listening; --stop ends the background one; --running exits 0 when
// the background one is running and 1 when not (so `make all` stops only what it started).
import { existsSync } from 'node:fs';
import { repoRoot, settingNames, type Config } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { displayPath, log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { DetachedService } from './lib/detached.ts';
import { RUN_SETTINGS, followUp } from './lib/follow-up.ts';
import { $ } from './lib/shell.ts';
import { portFree } from './lib/tcp.ts';
import { tokenLine } from './lib/apigee/target.ts';
import { changedAssignments } from './lib/spring.ts';
import { publishedSettings, serveForeground, settingsLines } from '../apigee-local/main.ts';
import { optionsFromConfig } from '../apigee-local/server.ts';

function printUrls(config: Config): void {
  const a = config.apigee;
  log.info(`management API: http://127.0.0.1:${a.localApiPort}/v1/organizations/${a.org}`);
  log.info(`runtime:        https://localhost:${a.localRuntimePort}`);
  log.command(tokenLine(config), a.localToken ? 'the token fixed by APIGEE_LOCAL_TOKEN (export it first)' : 'any token works unless APIGEE_LOCAL_TOKEN is set');
  log.command(`curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:${a.localApiPort}/v1/organizations/${a.org}/environments/${a.env}/keystores`);
}

/**
 * What the stand-in reads from the configuration (apigee-local/server.ts, optionsFromConfig): the
 * shared settings below and every APIGEE_LOCAL_* setting env/defaults.env declares, so a new one
 * cannot be forgotten here (a hand-kept list missed APIGEE_LOCAL_PAYLOAD_LIMIT); RUN_DIR, where it
 * publishes them (and under which its state lives by default); LOCAL_ENV_FILE, which names the file
 * it reads the rest from.
 */
const STAND_IN_SETTINGS = [...RUN_SETTINGS, 'APIGEE_ORG', 'APIGEE_ENV', 'CERTS_DIR',
  ...settingNames().filter((name) => name.startsWith('APIGEE_LOCAL_'))];

/**
 * The stand-in's command line. It reads the settings files itself; those given only in this
 * process's environment (APIGEE_LOCAL_API_PORT=31080 make all) go on the line (follow-up.ts), or
 * the pasted command would start a stand-in on other ports; the token as its variable.
 */
function standInCommand(): string {
  return followUp('node --import tsx apigee-local/main.ts', STAND_IN_SETTINGS);
}

/**
 * How the running stand-in's settings differ from the configuration's, as `NAME=was → now`. A
 * token changed from one value to another shows in no file (none holds its value): the stand-in
 * is asked whether it accepts the one set now.
 */
async function changedSettings(config: Config, published: string): Promise<string[]> {
  const options = optionsFromConfig(config);
  const changed = changedAssignments(published, settingsLines(options), []);
  if (changed.length > 0 || !options.token) return changed;
  const res = await fetch(`http://127.0.0.1:${options.apiPort}/v1/organizations/${options.org}`,
    { headers: { authorization: `Bearer ${options.token}` }, signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  return res?.status === 401 ? ['APIGEE_LOCAL_TOKEN: the running stand-in refuses the one set now'] : [];
}

async function detach(config: Config, service: DetachedService): Promise<void> {
  const existing = service.pid();
  if (existing !== undefined) {
    // The steps would call a stand-in on other ports, another organization, without strict mode…
    // and blame what they find on themselves; restarting it is the user's call (as in step 20).
    const restart = `stop it first with ${followUp('make apigee-local-stop', RUN_SETTINGS)}, then run this again`;
    const published = publishedSettings(config.runDir, existing);
    if (published === undefined) throw new StepError(`the stand-in already running (pid ${existing}) does not say which settings it runs with (an older version of the kit started it): ${restart}`);
    const changed = await changedSettings(config, published);
    if (changed.length > 0) throw new StepError(`the stand-in already running (pid ${existing}) was started with other settings (${changed.join('; ')}): ${restart}`);
    log.reused('apigee-local', `(pid ${existing}, ${displayPath(service.pidFile)})`);
    printUrls(config);
    return;
  }
  const ports = [config.apigee.localApiPort, config.apigee.localRuntimePort];
  for (const port of ports) {
    if (!(await portFree(port))) throw new StepError(`port ${port} is already in use by another program (hint: set APIGEE_LOCAL_API_PORT / APIGEE_LOCAL_RUNTIME_PORT)`);
  }
  // The stand-in writes this line once both ports listen (apigee-local/main.ts).
  const ready = async (output: string) => output.includes('apigee-local: ready (pid ');
  // The log's redirection needs RUN_DIR, which a fresh clone does not have.
  if (!existsSync(config.runDir)) await $({ cwd: repoRoot })`mkdir -p ${displayPath(config.runDir, repoRoot)}`;
  const pid = await service.start(standInCommand(), { cwd: repoRoot, ready, timeoutMs: 30_000 });
  if (pid === undefined) return;
  log.created('apigee-local', `(pid ${pid})`);
  printUrls(config);
}

await runStep(async (config, args) => {
  if (config.apigee.target !== 'local' && (args.running || args.detach)) {
    // make all / make rotate start the stand-in; against Apigee X there is nothing to start (or stop).
    return log.info('APIGEE_TARGET=apigee-x: the steps call Apigee X, no local stand-in is needed');
  }
  const service = new DetachedService(config, 'apigee-local', 'apigee-local/main.ts');
  if (args.running) return service.reportRunning();
  log.banner('Local Apigee X stand-in', 'Premisas, "un Apigee de evaluación"; here a local stand-in');
  if (args.stop) return service.stop('SIGTERM: the stand-in closes its ports and exits');
  if (args.detach) return detach(config, service);
  log.command('npm run apigee-local');
  if (config.dryRun) return log.dryRun();
  await serveForeground(config);
}, { detach: { type: 'boolean' }, stop: { type: 'boolean' }, running: { type: 'boolean' } });
