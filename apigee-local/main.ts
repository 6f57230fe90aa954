// Foreground entry: `npm run apigee-local`. Serves until SIGTERM/SIGINT, then closes cleanly.
import { pathToFileURL } from 'node:url';
import { loadConfig, ConfigError, type Config } from '../core/config.ts';
import { addSecret } from '../core/log.ts';
import { optionsFromConfig, startApigeeLocal } from './server.ts';

const MAX_WAITING_OUTPUT = 64 * 1024;

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
  say(`apigee-local: ready (pid ${process.pid})`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`apigee-local: ${signal}, shutting down`);
    local.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await serveForeground(loadConfig());
  } catch (error) {
    const message = error instanceof ConfigError ? `invalid setting ${error.message}` : (error as Error).message;
    process.stderr.write(`apigee-local: ${message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
}
