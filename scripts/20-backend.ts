#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Construcción del Microservicio": run the mTLS backend with the tutorial's
// application.properties, each line as the environment variable Spring Boot reads for it. As with
// Spring Boot, a variable already in the environment (PORT, SERVER_PORT, SERVER_SSL_*) wins over
// the kit's settings (env/defaults.env, env/local.env). Where the kit differs on purpose:
// `node --import tsx backend/main.ts` instead of `java -jar` (a zero-dependency node:https server,
// docs/backend.md); server.ssl.enabled needs no variable (TLS 1.2+ only); HEALTH_PORT adds probes.
//   scripts/20-backend.ts            foreground, like `java -jar` (Ctrl-C drains and stops)
//   scripts/20-backend.ts --detach   background; pid and log in RUN_DIR; waits until ready
//   scripts/20-backend.ts --stop     SIGTERM the detached backend and wait for it to exit
//   scripts/20-backend.ts --running  exit status 0 when a detached backend is running, 1 when not
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from './lib/shell.ts';
import { portFree } from './lib/tcp.ts';
import { runStep } from './lib/main.ts';
import { DetachedService } from './lib/detached.ts';
import { RUN_SETTINGS, followUp } from './lib/follow-up.ts';
import { backendOnlyProperties, changedAssignments, printProperties, serverPort, springProperty as spring, type SpringProperty } from './lib/spring.ts';
import { FILES, ALIASES } from './lib/pki/names.ts';
import { NOT_OPENING, readStore } from './lib/pki/stores.ts';
import { repoRoot, settingSource, urlHost, type Config } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { displayPath, log, shellQuote } from '../core/log.ts';

await runStep(async (config, args) => {
  const { pki, backend } = config;
  // application.properties, line by line (store paths as seen from the repository, where it runs).
  const certs = (file: string) => displayPath(join(pki.certsDir, file), repoRoot);
  const properties = [
    serverPort(backend.port),
    spring('server.ssl.client-auth', 'SERVER_SSL_CLIENTAUTH', backend.clientAuth, 'BACKEND_CLIENT_AUTH'),
    spring('server.ssl.key-store', 'SERVER_SSL_KEYSTORE', certs(FILES.serverKeystore), 'CERTS_DIR'),
    spring('server.ssl.key-store-password', 'SERVER_SSL_KEYSTOREPASSWORD', pki.storePassword, 'STORE_PASSWORD'),
    spring('server.ssl.key-store-type', 'SERVER_SSL_KEYSTORETYPE', 'PKCS12'),
    spring('server.ssl.key-alias', 'SERVER_SSL_KEYALIAS', ALIASES.server),
    spring('server.ssl.trust-store', 'SERVER_SSL_TRUSTSTORE', certs(FILES.serverTruststore), 'CERTS_DIR'),
    spring('server.ssl.trust-store-password', 'SERVER_SSL_TRUSTSTOREPASSWORD', pki.storePassword, 'STORE_PASSWORD'),
    spring('(health probes, plain HTTP)', 'HEALTH_PORT', String(backend.healthPort), 'BACKEND_HEALTH_PORT'),
    spring('(allow-list of client subjects)', 'SERVER_SSL_ALLOWEDCLIENTS', backend.allowedClients.join(','), 'BACKEND_ALLOWED_CLIENTS'),
  ].filter((p) => p.value !== '');
  // A classpath:NAME store is looked up in CERTS_DIR, which the backend reads itself.
  if (properties.some((p) => p.value.startsWith('classpath:'))) properties.push(spring('(folder of classpath: stores)', 'CERTS_DIR', certs('.'), 'CERTS_DIR'));
  // Settings of the backend's own (its address, timeouts) given in the environment: on the line as well.
  properties.push(...backendOnlyProperties());
  // The kit's `java -jar`, built here and started below; passwords print (and reach bash) as "${STORE_PASSWORD}".
  const assignments = properties.map((p) => `${p.variable}=${p.value}`);
  const server = $({ cwd: repoRoot, stdio: 'inherit', nothrow: true, halt: true })`${assignments} node --import tsx backend/main.ts`;

  const service = new DetachedService(config, 'backend', 'backend/main.ts');
  if (args.running) return service.reportRunning();
  if (args.stop) {
    log.banner('Stop the mTLS backend', '"Construcción del Microservicio"');
    return service.stop('the backend drains in-flight requests, then exits');
  }
  const setting = (variable: string) => properties.find((p) => p.variable === variable)!.value;
  const detach = args.detach;
  log.banner(`mTLS backend on port ${setting('PORT')}${detach ? ' (detached)' : ''}`, '"Construcción del Microservicio", java -jar');
  printProperties(properties);

  if (!detach) {
    if (!config.dryRun) await refuseTakenPorts(properties, service.pid());
    // Its log goes straight to this terminal. Ctrl-C reaches the backend itself (same process
    // group), which drains and exits; this step only waits for it.
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => server.stage === 'running' && void server.kill('SIGTERM'));
    const { exitCode } = await server.run();
    if (exitCode !== 0) throw new StepError(`backend exited with code ${exitCode}${kitHint(config, properties)}`, exitCode ?? 1);
    if (config.dryRun) log.dryRun();
    return;
  }

  // The same command in the background. Ready = our child logged "started" (another process may
  // hold the ports) and its health probe (it listens on every interface) answers 200 locally.
  const url = `https://${urlHost(pki.serverHost)}:${setting('PORT')}`;
  const health = `http://127.0.0.1:${setting('HEALTH_PORT')}/readyz`;
  const up = () => fetch(health, { signal: AbortSignal.timeout(1000) }).then((res) => res.status === 200, () => false);
  const running = service.pid();
  if (running !== undefined) {
    // A backend started with other settings (another BACKEND_PORT, client-auth, stores…) would be
    // taken for this one and judged by the wrong settings; restarting it is the user's call.
    const changed = changedAssignments(service.startedWith(), server.cmd, properties);
    if (changed.length > 0) throw new StepError(`the backend already running (pid ${running}) was started with other settings (${changed.join('; ')}): stop it first with ${followUp('make backend-stop', RUN_SETTINGS)}, then run this again`);
    if (await up()) return log.reused('backend', `pid ${running}, ${url}`);
  }
  if (!config.dryRun) await refuseTakenPorts(properties);
  const ready = async (output: string) => output.includes('"event":"started"') && (await up());
  // The log's redirection needs RUN_DIR, which a fresh clone does not have.
  if (!existsSync(config.runDir)) await $({ cwd: repoRoot })`mkdir -p ${displayPath(config.runDir, repoRoot)}`;
  const pid = await service.start(server.cmd, { cwd: repoRoot, env: { STORE_PASSWORD: pki.storePassword }, ready, timeoutMs: 20_000 }).catch((error: unknown) => {
    throw error instanceof StepError ? new StepError(error.message + kitHint(config, properties), error.exitCode) : error;
  });
  if (pid === undefined) return;
  log.created('backend running', `pid ${pid}, ${url} (client-auth ${setting('SERVER_SSL_CLIENTAUTH')}), health ${health}`);
  log.info(`follow its JSON log: tail -f ${shellQuote(displayPath(service.logFile))}`);
  log.info(`stop it: ${followUp('make backend-stop', RUN_SETTINGS)}`);
}, { detach: { type: 'boolean' }, stop: { type: 'boolean' }, running: { type: 'boolean' } });

/** After a failed start, what only the kit knows about its own stores: missing ones, or ones another STORE_PASSWORD made. */
function kitHint(config: Config, properties: readonly SpringProperty[]): string {
  return missingStoresHint(config, properties) || storePasswordHint(config, properties);
}

/**
 * The backend says which store is not found; which command makes it with this run's settings
 * (CERTS_DIR=/tmp/pki make certs, not the defaults' certs/) only the kit knows: "; " and the line.
 */
function missingStoresHint(config: Config, properties: readonly SpringProperty[]): string {
  const missing = [[FILES.serverKeystore, 'SERVER_SSL_KEYSTORE'], [FILES.serverTruststore, 'SERVER_SSL_TRUSTSTORE']]
    .filter(([file, store]) => properties.some((p) => p.variable === store && p.kitVariable === 'CERTS_DIR') && !existsSync(join(config.pki.certsDir, file!)));
  if (missing.length === 0) return '';
  return `; ${missing.map(([file]) => displayPath(join(config.pki.certsDir, file!))).join(', ')}: not made yet; run ${followUp('make certs')} first`;
}

/**
 * Before starting: a port another program holds stops the step with the setting that chose it
 * (BACKEND_PORT in env/local.env, say), where the backend itself could only name PORT or HEALTH_PORT.
 */
async function refuseTakenPorts(properties: readonly SpringProperty[], detached?: number): Promise<void> {
  for (const variable of ['PORT', 'HEALTH_PORT']) {
    const p = properties.find((q) => q.variable === variable);
    if (!p || (await portFree(Number(p.value)))) continue;
    const setting = p.kitVariable ?? /\((\w+)\)$/.exec(p.source)?.[1] ?? p.variable;
    const holder = detached === undefined ? 'another program: stop it' : `the detached backend (pid ${detached}): stop it with ${followUp('make backend-stop', RUN_SETTINGS)}`;
    throw new StepError(`port ${p.value} (${p.source}) is already in use by ${holder}, or set another ${setting}`);
  }
}

/**
 * After a failed start: the backend can only say "wrong password". When the kit's STORE_PASSWORD
 * does not open the kit's own stores, they were made (make certs) with another one: "; " and
 * which stores, where STORE_PASSWORD came from and the way out (make certs rebuilds stores that do
 * not open, the certificates stay). Empty otherwise, also when a store cannot be read at all.
 */
function storePasswordHint(config: Config, properties: readonly SpringProperty[]): string {
  const fromKit = (variable: string, kitVariable: string) => properties.some((p) => p.variable === variable && p.kitVariable === kitVariable);
  const stores = [
    [FILES.serverKeystore, 'SERVER_SSL_KEYSTORE', 'SERVER_SSL_KEYSTOREPASSWORD'],
    [FILES.serverTruststore, 'SERVER_SSL_TRUSTSTORE', 'SERVER_SSL_TRUSTSTOREPASSWORD'],
  ] as const;
  const stale = stores.filter(([file, store, password]) => {
    if (!fromKit(store, 'CERTS_DIR') || !fromKit(password, 'STORE_PASSWORD')) return false;
    try {
      const read = readStore(join(config.pki.certsDir, file), config.pki.storePassword);
      return 'error' in read && read.error === NOT_OPENING;
    } catch {
      return false; // unreadable (permissions…): the backend's own line says so
    }
  });
  if (stale.length === 0) return '';
  const source = settingSource('STORE_PASSWORD');
  const from = source === 'environment' ? 'from the environment' : source === 'default' ? 'its default' : `from ${source}`;
  return `; ${stale.map(([file]) => displayPath(join(config.pki.certsDir, file))).join(', ')}: ${NOT_OPENING} (${from}): `
    + `the stores were made with another STORE_PASSWORD; run ${followUp('make certs')} to rebuild them with this one, or put back the one they were made with`;
}
