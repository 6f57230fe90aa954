// Entry wrapper for the numbered scripts: load the config once, set up zx's `$` (shell.ts), run the
// step, and turn any error into one line on stderr with a non-zero exit code.
import { ConfigError, loadConfig, type Config } from '../../core/config.ts';
import { StepError } from '../../core/errors.ts';
import { addSecret, log } from '../../core/log.ts';
import { commandFailure, setupShell } from './shell.ts';

export async function runStep(step: (config: Config) => Promise<void>): Promise<void> {
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
