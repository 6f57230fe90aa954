// Runs an external command the teaching way: print it (secrets masked), honour DRY_RUN, and turn
// a failure into one line naming the command and its last error line.
// zx/core's $ quotes each argument for the shell; the full zx entry point is not loaded because it
// costs start-up time in every step.
import { $ } from 'zx/core';
import { log, formatCommand, mask } from './log.ts';
import { MissingToolError, StepError } from './errors.ts';

export interface RunOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** Printed after the command as "# note". */
  note?: string;
  dryRun?: boolean;
  /** Do not print the command (the caller printed a friendlier form). */
  quiet?: boolean;
  /** Allowed exit codes besides 0; the result is returned instead of thrown. */
  allowExitCodes?: number[];
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  skipped: boolean;
}

const INSTALL_HINTS: Record<string, string> = {
  openssl: 'apt-get install openssl',
  keytool: 'apt-get install openjdk-17-jre-headless',
  java: 'apt-get install openjdk-17-jre-headless',
  curl: 'apt-get install curl',
  gcloud: 'see https://cloud.google.com/sdk/docs/install',
  kubectl: 'gcloud components install kubectl (or apt-get install kubectl)',
};

export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new StepError('run: empty command');
  if (!options.quiet) log.command(argv, options.note);
  if (options.dryRun) return { exitCode: 0, stdout: '', stderr: '', skipped: true };
  const result = await $({
    cwd: options.cwd,
    input: options.input,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    nothrow: true,
    quiet: true,
  })`${[file, ...args]}`;
  // The shell answers 127 when the program does not exist.
  if (result.exitCode === 127 && /command not found|No such file/.test(result.stderr)) {
    throw new MissingToolError(file, INSTALL_HINTS[file] ?? `your package manager (${file})`);
  }
  const exitCode = result.exitCode ?? 1;
  if (exitCode !== 0 && !options.allowExitCodes?.includes(exitCode)) {
    const lastLine = String(result.stderr || result.stdout).trim().split('\n').filter(Boolean).pop() ?? '';
    throw new StepError(`${mask(formatCommand(argv)).slice(0, 160)} failed (exit ${exitCode}): ${mask(lastLine)}`);
  }
  return { exitCode, stdout: String(result.stdout), stderr: String(result.stderr), skipped: false };
}
