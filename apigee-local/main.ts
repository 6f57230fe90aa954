// Foreground entry: `npm run apigee-local`. Serves until SIGTERM/SIGINT, then closes cleanly.
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig, ConfigError, repoRoot, type Config } from '../core/config.ts';
import { writeFileAtomic } from '../core/files.ts';
import { addSecret, displayPath, shellQuote } from '../core/log.ts';
import { DEFAULT_PAYLOAD_LIMIT } from './runtime.ts';
import { optionsFromConfig, startApigeeLocal, type ApigeeLocalOptions } from './server.ts';
import { NoProjectCaError } from './runtime-cert.ts';
import { followUp, useConfig } from '../scripts/lib/follow-up.ts';

const MAX_WAITING_OUTPUT = 64 * 1024;

/** Where a running stand-in publishes its settings: RUN_DIR, next to step 40's pid file. */
export const settingsFile = (runDir: string) => join(runDir, 'apigee-local.settings');

/**
 * The settings a stand-in with these options runs with, one `NAME=value` line each as
 * env/local.env sets them (paths as seen from the repository, empty ones left out). It reads
 * env/local.env itself, so its command line does not show them; step 40 compares these lines. The
 * token is written as its variable, never its value.
 */
export function settingsLines(options: ApigeeLocalOptions): string {
  const settings: Record<string, string | undefined> = {
    APIGEE_ORG: options.org,
    APIGEE_ENV: options.env,
    CERTS_DIR: displayPath(dirname(options.caCertFile), repoRoot),
    APIGEE_LOCAL_API_PORT: String(options.apiPort),
    APIGEE_LOCAL_RUNTIME_PORT: String(options.runtimePort),
    APIGEE_LOCAL_DIR: displayPath(options.dir, repoRoot),
    APIGEE_LOCAL_PROPAGATION_MS: String(options.propagationMs ?? 0),
    APIGEE_LOCAL_ALLOWED_HOSTS: options.allowedHosts?.join(','),
    APIGEE_LOCAL_STRICT: options.strict ? '1' : '0',
    APIGEE_LOCAL_PAYLOAD_LIMIT: String(options.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT),
  };
  const lines = Object.entries(settings).filter(([, value]) => value).map(([name, value]) => shellQuote(`${name}=${value}`));
  if (options.token) lines.push('APIGEE_LOCAL_TOKEN="${APIGEE_LOCAL_TOKEN}"');
  return lines.join('\n');
}

const publishedBy = (pid: number) => `# apigee-local (pid ${pid}): the settings it runs with; removed when it stops`;

/** The settings the stand-in running as `pid` published; undefined when it published none (one started by an older kit). */
export function publishedSettings(runDir: string, pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(settingsFile(runDir), 'utf8');
  } catch {
    return undefined;
  }
  const [first, ...lines] = text.trimEnd().split('\n');
  return first === publishedBy(pid) ? lines.join('\n') : undefined;
}

/** Starts the stand-in from the project configuration and keeps it running until a signal. */
export async function serveForeground(config: Config): Promise<void> {
  addSecret(config.apigee.localToken);
  const say = (line: string) => process.stdout.write(line + '\n');
  // A reader of stdout that stops reading (a stuck pipe) must not grow memory: past 64 KiB waiting,
  // fault lines are dropped (a file or terminal is written at once and never waits).
  const faultLog = (line: string) => {
    if (process.stdout.writableLength < MAX_WAITING_OUTPUT) say(line);
  };
  const options = { ...optionsFromConfig(config), faultLog };
  const local = await startApigeeLocal(options);
  say(`apigee-local: organization ${options.org}, environment ${options.env}, state in ${options.dir}`);
  if (local.issuedCert) say('apigee-local: issued a new runtime certificate from the project CA (127.0.0.1, localhost)');
  if (options.propagationMs) say(`apigee-local: configuration changes reach the runtime after ${options.propagationMs} ms (APIGEE_LOCAL_PROPAGATION_MS)`);
  if (options.strict) say('apigee-local: strict mode: refusing what Apigee X is not known to accept (APIGEE_LOCAL_STRICT=1)');
  say(`apigee-local: management API  ${local.apiUrl}`);
  say(`apigee-local: runtime         ${local.runtimeUrl}  (curl --cacert ${options.caCertFile} ${local.runtimeUrl}/<basepath>)`);
  // Written before "ready", which step 40 waits for; with the ports actually bound.
  const published = settingsFile(config.runDir);
  writeFileAtomic(published, `${publishedBy(process.pid)}\n${settingsLines({ ...options, apiPort: local.apiPort, runtimePort: local.runtimePort })}\n`);
  say(`apigee-local: ready (pid ${process.pid})`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`apigee-local: ${signal}, shutting down`);
    // Only our own: another stand-in (another terminal, same RUN_DIR) may have written it since.
    if (publishedSettings(config.runDir, process.pid) !== undefined) rmSync(published, { force: true });
    local.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const config = loadConfig();
    useConfig(config);
    await serveForeground(config);
  } catch (error) {
    // The fix for a missing CA carries the settings this stand-in was given (CERTS_DIR=… make certs).
    const message = error instanceof ConfigError ? `invalid setting ${error.message}`
      : error instanceof NoProjectCaError ? `${error.message} (${followUp('make certs')})` : (error as Error).message;
    process.stderr.write(`apigee-local: ${message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
}
