// Entry wrapper for the numbered scripts: load the config once, set up zx's `$` (shell.ts), run the
// step, and turn any error into one line on stderr with a non-zero exit code.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, localEnvName, type Config } from '../../core/config.ts';
import { useConfig } from './follow-up.ts';
import { StepError } from '../../core/errors.ts';
import { addSecret, log } from '../../core/log.ts';
import { commandFailure, setupShell } from './shell.ts';

/** Options every step takes (read by core/config.ts). */
const COMMON_OPTIONS: StepOptions = { 'dry-run': { type: 'boolean' }, force: { type: 'boolean' }, yes: { type: 'boolean' } };

/** A step's own options, in node:util parseArgs' form, e.g. { detach: { type: 'boolean' } }. */
export type StepOptions = NonNullable<ParseArgsConfig['options']>;
/** The values of those options as given on the command line. */
export type StepArgs = Record<string, string | boolean | undefined>;

/** What the common options do, for --help (a step's own options are described in its header). */
const COMMON_HELP = [
  '--dry-run  print the commands and HTTP requests without running or sending anything (also DRY_RUN=1)',
  '--force    remake what a re-run would reuse, except the CA (also FORCE=1; NEW_CA=1 replaces the CA)',
  '--yes      answer yes to confirmation questions (also YES=1)',
];

/**
 * --help or -h: the step's header comment (what it does, the tutorial section it mirrors, how it
 * differs), its options and where its settings come from; exit 0 before the settings are read.
 */
function printHelp(options: StepOptions): never {
  const file = process.argv[1] ?? '';
  const header: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  const usage = Object.entries(options).map(([name, o]) => `[--${name}${o.type === 'string' ? ' VALUE' : ''}]`).join(' ');
  process.stdout.write([
    `usage: ./scripts/${basename(file)} ${usage}`,
    '',
    ...header,
    '',
    ...COMMON_HELP,
    `Settings: the environment, then ${localEnvName()}, then env/defaults.env (e.g. CERTS_DIR=/tmp/pki ./scripts/10-ca.ts).`,
    '`make help` lists the steps in the tutorial\'s order.',
    '',
  ].join('\n'));
  process.exit(0);
}

/** Parses the command line; a mistyped option is one line naming the options the step takes, exit 2. */
function stepArgs(own: StepOptions): StepArgs {
  const options = { ...own, ...COMMON_OPTIONS };
  // Not strict: an unknown option gets this line instead of node's two-sentence error. Positionals
  // are allowed because `make certs` runs several steps in one process with their names as arguments.
  const { values, tokens } = parseArgs({ args: process.argv.slice(2), options, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && (t.name === 'help' || t.name === 'h'))) printHelp(options);
  const script = basename(process.argv[1] ?? 'this step');
  const takes = Object.entries(options).map(([name, o]) => `--${name}${o.type === 'string' ? ' VALUE' : ''}`).join(', ');
  // --detatch must not be ignored: it would run the backend in the foreground.
  const unknown = tokens.find((t) => t.kind === 'option' && !Object.hasOwn(options, t.name));
  if (unknown?.kind === 'option') {
    log.error(`unknown option ${unknown.rawName}; ${script} takes ${takes}`);
    process.exit(2);
  }
  // Nor `20-backend.ts stop` (no dashes): it would start the backend. Only run-steps.ts takes step names.
  const positional = tokens.find((t) => t.kind === 'positional');
  if (positional?.kind === 'positional' && script !== 'run-steps.ts') {
    log.error(`unexpected argument "${positional.value}"; ${script} takes ${takes}`);
    process.exit(2);
  }
  // --dry-run=1 would otherwise be read as "not a dry run" (core/config.ts looks for the bare flag).
  const valued = tokens.find((t) => t.kind === 'option' && options[t.name]?.type === 'boolean' && t.value !== undefined);
  if (valued?.kind === 'option') {
    log.error(`${valued.rawName} takes no value (given "${valued.value}"); write ${valued.rawName} alone`);
    process.exit(2);
  }
  return values;
}

export async function runStep(step: (config: Config, args: StepArgs) => Promise<void>, own: StepOptions = {}): Promise<void> {
  const args = stepArgs(own);
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
  useConfig(config);
  const env: Record<string, string> = { STORE_PASSWORD: config.pki.storePassword };
  if (config.apigee.token) env.TOKEN = config.apigee.token;
  setupShell({ dryRun: config.dryRun, env });
  try {
    await step(config, args);
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
