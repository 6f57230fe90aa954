// Entry wrapper for the numbered scripts: load the config once, set up zx's `$` (shell.ts), run the
// step, and turn any error into one line on stderr with a non-zero exit code.
import { basename } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../../core/config.ts';
import { StepError } from '../../core/errors.ts';
import { addSecret, log } from '../../core/log.ts';
import { commandFailure, setupShell } from './shell.ts';

/** Options every step reads (core/config.ts). */
const COMMON_FLAGS = ['--dry-run', '--force', '--yes'];

export interface StepOptions {
  /** The step's own options (e.g. --detach); any other word starting with "-" stops the step. */
  flags?: string[];
}

/** The first argument that looks like an option and is none of `allowed` ("--output=x" counts as --output). */
export function unknownFlag(argv: readonly string[], allowed: readonly string[]): string | undefined {
  return argv.find((arg) => arg.startsWith('-') && !allowed.includes(arg.split('=')[0]!));
}

export async function runStep(step: (config: Config) => Promise<void>, options: StepOptions = {}): Promise<void> {
  // A mistyped option must not be ignored: --detatch would run the backend in the foreground.
  const allowed = [...(options.flags ?? []), ...COMMON_FLAGS];
  const unknown = unknownFlag(process.argv.slice(2), allowed);
  if (unknown !== undefined) {
    log.error(`unknown option ${unknown}; ${basename(process.argv[1] ?? 'this step')} takes ${allowed.join(', ')}`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      log.error(`invalid setting ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  // Commands get the secrets from their environment: printed as "${STORE_PASSWORD}" or
  // env:STORE_PASSWORD, never as values (core/log.ts).
  addSecret(config.pki.storePassword, 'STORE_PASSWORD');
  addSecret(config.apigee.token, 'TOKEN');
  const env: Record<string, string> = { STORE_PASSWORD: config.pki.storePassword };
  if (config.apigee.token) env.TOKEN = config.apigee.token;
  setupShell({ dryRun: config.dryRun, env });
  try {
    await step(config);
  } catch (rawError) {
    const error = (await commandFailure(rawError)) ?? rawError;
    if (error instanceof StepError || error instanceof ConfigError) {
      log.error(error.message);
      process.exit(error instanceof StepError ? error.exitCode : 2);
    }
    log.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    process.exit(1);
  }
}
