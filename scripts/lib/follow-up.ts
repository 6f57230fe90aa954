// Lines a step prints for the reader to type in another shell, later: the next step or the fix in
// a hint (`make backend-stop`, `FORCE=1 ./scripts/11-server-cert.ts`), and the commands of other
// steps a step runs and prints. A setting the run's Config got from its environment
// (RUN_DIR=/tmp/r make backend-start) is not in that shell: it goes on the line as NAME=value, or
// the line would act on env/local.env's and the defaults (another RUN_DIR: "backend is not
// running", and the backend goes on running). Settings from the files need nothing: the line reads
// them again. Secrets go on as their variable ("${STORE_PASSWORD}"), never their value.
import { loadConfig, settingNames, type Config } from '../../core/config.ts';
import { addSecret, secretVariable, shellQuote } from '../../core/log.ts';

/** Settings for one run only: carried on, DRY_RUN would make the line do nothing, NEW_CA replace the CA, YES skip a question. */
const ONE_RUN = new Set(['DRY_RUN', 'FORCE', 'NEW_CA', 'YES']);
/** Settings whose value is a secret (core/config.ts reads them with secret / secretOrNone). */
const SECRETS = new Set(['STORE_PASSWORD', 'APIGEE_TOKEN', 'APIGEE_LOCAL_TOKEN']);

/**
 * Every setting of the kit: LOCAL_ENV_FILE (it names the file the others come from), then those
 * env/defaults.env and env/gcp.example.env declare (tests/config.test.ts: each is read).
 */
export const KIT_SETTINGS: readonly string[] = ['LOCAL_ENV_FILE', ...settingNames()].filter((name) => !ONE_RUN.has(name));

/** What finds a background service (its pid file in RUN_DIR): enough for --stop and --running. */
export const RUN_SETTINGS: readonly string[] = ['LOCAL_ENV_FILE', 'RUN_DIR'];

let current: Config | undefined;
/** The Config the lines are for: the one runStep (or the stand-in's main.ts) loaded and runs with. */
export function useConfig(config: Config): void {
  current = config;
}

/**
 * `NAME=value` for each of `names` the run's Config got from its environment, except those in
 * `except` (the line sets them itself). Unquoted, for zx's `$` (which quotes each with shellQuote);
 * a secret's value is registered with its variable, so it prints as "${NAME}".
 */
export function givenSettings(names: readonly string[] = KIT_SETTINGS, except: readonly string[] = []): string[] {
  const config = current ?? loadConfig();
  return names.filter((name) => !except.includes(name) && Object.hasOwn(config.given, name)).map((name) => {
    const value = config.given[name]!.trim();
    if (SECRETS.has(name) && value !== '' && !secretVariable(value)) addSecret(value, name);
    return `${name}=${value}`;
  });
}

/** A command line to print for the reader: `command` after givenSettings, quoted (the names `command` assigns itself are left to it). */
export function followUp(command: string, names: readonly string[] = KIT_SETTINGS): string {
  const own = (/^(?:[A-Za-z_]\w*=\S*\s+)*/.exec(command)?.[0] ?? '').split(/\s+/).map((word) => word.split('=')[0]!);
  return [...givenSettings(names, own).map(shellQuote), command].join(' ');
}
