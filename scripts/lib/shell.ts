// zx, set up once: how the numbered steps run programs. A step writes the tutorial's command with
// zx's `$` tagged template (`await $`openssl genpkey -out ${FILES.caKey}``); this module makes
// every such command teach and fail the kit's way:
// - printed before it runs, exactly as bash receives it: zx quotes the interpolated values with
//   core/log.ts's shellQuote, which writes a secret as "${STORE_PASSWORD}" (bash expands it from
//   the environment set here), so the printed line is the one that ran and pastes as is;
// - the first command that reads a secret from the environment is preceded by how to set it;
// - the folder it runs in is named (`# in certs/`) when it is not the current one; a step's
//   staging folder is shown as the folder it stands for (same inputs, same result);
// - stdin is /dev/null (or the given input) and SHLVL is set: bash started with a socket as stdin
//   and no SHLVL reads ~/.bashrc before every command (the ssh heuristic; 0.6 s a command here);
// - output is piped and kept for the step (zx's ProcessOutput), unless the command asks for zx's
//   `stdio` option: `$({ stdio: 'inherit' })` hands the terminal to the program (a foreground
//   server, whose log must go straight out and never be held in memory);
// - DRY_RUN=1 prints the commands and starts nothing;
// - a missing program is one line naming the package to install, a failing one one line with its
//   last stderr line (gcloud's and kubectl's several-line errors are read by cli-errors.ts), an
//   OpenSSL older than 3 is named as such (commandFailure, used by runStep);
// - a value a later command needs (an IP, a project) is read with outputOf; DRY_RUN prints it as
//   `NAME="$(command)"` and later commands show "$NAME", so the printed lines paste in order.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { $, ProcessOutput, within, type LogEntry, type ProcessPromise } from 'zx';
import { StepError, lastLine } from '../../core/errors.ts';
import { stagedFor } from '../../core/files.ts';
import { displayPath, log, mask, secretVariables, shellQuote } from '../../core/log.ts';
import { missingTool } from '../../core/tools.ts';
import { gcloudReason, kubectlReason } from './cli-errors.ts';

export { $ };
export type { ProcessPromise } from 'zx';

/** Commands still running, by zx process id, and the last one that failed (for its error line). */
const running = new Map<string, { cmd: string; cwd: string }>();
let lastFailed = { cmd: '', cwd: '' };
/** Secret variables whose "how to set it" line was printed (once per process). */
const hinted = new Set<string>();

/**
 * How to set a secret variable before pasting the commands that read it; printed once per process
 * (also before the Apigee client's curl lines that send it, scripts/lib/apigee/client.ts).
 */
export function hintSecret(variable: string): void {
  if (hinted.has(variable)) return;
  hinted.add(variable);
  log.comment(`${variable} is read from the environment. To paste these commands, first run this line alone and type the value (it is not shown):`);
  log.comment(`  read -rs ${variable} && export ${variable}`);
}

function hintSecrets(cmd: string): void {
  for (const variable of secretVariables()) if (new RegExp(`\\b${variable}\\b`).test(cmd)) hintSecret(variable);
}

/**
 * Prints a command line as the kit does for every `$` command: after how to set the secrets it
 * reads (and `what` it does, when given), with the folder it runs in. Also for a command that
 * execa starts in the background (scripts/lib/detached.ts).
 */
export function printCommand(cmd: string, cwd: string, what?: string): void {
  hintSecrets(cmd);
  if (what) log.comment(what);
  const dir = displayPath(stagedFor(cwd));
  // An empty optional part (`${legacy}` without PKCS12_LEGACY, no givenSettings) leaves a space behind.
  log.quotedCommand(cmd.trim(), dir === '.' ? undefined : `in ${dir}/`);
}

function printEntry(entry: LogEntry): void {
  if (entry.kind === 'cmd') {
    running.set(entry.id, { cmd: entry.cmd, cwd: entry.cwd });
    printCommand(entry.cmd, entry.cwd);
  } else if (entry.kind === 'end') {
    if (entry.exitCode !== 0) lastFailed = running.get(entry.id) ?? { cmd: '', cwd: '' };
    running.delete(entry.id);
  }
}

/** The kit's default for every `$` command (zx's own default pipes stdin too). */
const KIT_STDIO = ['ignore', 'pipe', 'pipe'] as const;

/**
 * Starts the real program with the command's zx `stdio` (the kit's default: stdin ignored, output
 * piped); stdin is a pipe when the command was given input (zx passes null when not).
 */
function spawnWithInput(command: string, args: readonly string[], options: SpawnOptions & { input?: unknown }): ChildProcess {
  const given = options.stdio ?? KIT_STDIO;
  const [stdin, stdout, stderr] = typeof given === 'string' ? [given, given, given] : given;
  return spawn(command, args, { ...options, stdio: [options.input == null ? stdin : 'pipe', stdout, stderr] });
}

/** DRY_RUN: a child that "exits 0" at once with no output; nothing is started. */
function spawnNothing(): ChildProcess {
  const child = new EventEmitter() as ChildProcess;
  Object.assign(child, { stdin: null, stdout: null, stderr: null, pid: undefined });
  setImmediate(() => {
    child.emit('exit', 0, null);
    child.emit('close', 0, null);
  });
  return child;
}

let dryRun = false;
/** DRY_RUN stand-ins ("$NAME") for command output only a real run knows; printed unquoted. */
const shellVariables = new Set<string>();

/**
 * The trimmed output of a command that later commands use. DRY_RUN prints the command as
 * `NAME="$(command)"` and returns "$NAME", which later `$` commands print as "$NAME" (unquoted),
 * so pasting the printed lines in one shell passes the value on as a real run does.
 */
export async function outputOf(name: string, command: () => ProcessPromise): Promise<string> {
  if (!dryRun) return (await command()).stdout.trim();
  await within(() => {
    const print = $.log;
    $.log = ((entry: LogEntry) => print(entry.kind === 'cmd' ? { ...entry, cmd: `${name}="$(${entry.cmd})"` } : entry)) as typeof $.log;
    return command();
  });
  shellVariables.add(`$${name}`);
  return `$${name}`;
}

/** shellQuote, except that the DRY_RUN stand-ins ("$NAME") in an argument stay variables: "$NAME". */
function quoteWithVariables(arg: string): string {
  if (shellVariables.size === 0) return shellQuote(arg);
  const names = [...shellVariables].map((v) => `\\${v}`).join('|');
  const parts = arg.split(new RegExp(`(${names})(?![A-Za-z0-9_])`));
  if (parts.length === 1) return shellQuote(arg);
  return parts.map((part, i) => (i % 2 === 1 ? `"${part}"` : part === '' ? '' : shellQuote(part))).join('');
}

/** Configures zx's `$` for this process. Called by runStep before each step body. */
export function setupShell(options: { dryRun: boolean; env?: Record<string, string> }): void {
  $.verbose = false;
  $.quiet = true;
  $.quote = quoteWithVariables;
  $.log = printEntry as typeof $.log;
  $.cwd = process.cwd();
  $.stdio = [...KIT_STDIO];
  $.env = { ...process.env, SHLVL: process.env.SHLVL ?? '1', ...options.env };
  dryRun = options.dryRun;
  shellVariables.clear();
  $.spawn = (options.dryRun ? spawnNothing : spawnWithInput) as unknown as typeof $.spawn;
}

/** Programs with a minimum version, asked only once a command of theirs failed (no cost otherwise). */
const MIN_MAJOR: Record<string, { major: number; pattern: RegExp; install: string }> = {
  openssl: { major: 3, pattern: /OpenSSL (\d+)\./, install: 'apt-get install openssl' },
};

async function tooOld(command: string): Promise<StepError | undefined> {
  const program = command.split(' ')[0] ?? '';
  if (!Object.hasOwn(MIN_MAJOR, program)) return undefined;
  const need = MIN_MAJOR[program]!;
  const version = await $({ log: () => undefined, nothrow: true })`${program} version`;
  const major = Number(need.pattern.exec(version.stdout)?.[1] ?? need.major);
  if (major >= need.major) return undefined;
  return new StepError(`${version.stdout.trim()} is too old; ${program === 'openssl' ? 'OpenSSL' : program} ${need.major}.0 or newer is needed (${need.install})`);
}

/** A long command line cut at a word (it was printed in full before it ran). */
function clipCommand(line: string): string {
  return line.length <= 160 ? line : `${line.slice(0, line.lastIndexOf(' ', 150))} …`;
}

/** One line for a command that failed or could not start, or undefined for any other error. */
export async function commandFailure(error: unknown): Promise<StepError | undefined> {
  if (!(error instanceof ProcessOutput)) return undefined;
  // A JVM announces JAVA_TOOL_OPTIONS on stderr; keytool writes its own error to stdout.
  const stderr = error.stderr.replace(/^Picked up (?:JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS):.*$/gm, '');
  const last = lastLine(stderr) || lastLine(error.stdout);
  const missing = /^(?:.*: )?line \d+: ([^:\s]+): command not found$/.exec(last);
  if (error.exitCode === 127 && missing) return missingTool(missing[1]!);
  const { cmd, cwd } = lastFailed;
  // A command written over several lines (` \` continuations) is named on one.
  const line = mask(cmd).replace(/\s*\\\n\s*/g, ' ');
  if (cwd && !existsSync(cwd)) return new StepError(`${displayPath(cwd)} does not exist, so \`${line.slice(0, 60)}\` cannot run there`);
  // The program, past any `NAME=value` prefixes (CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud …).
  const program = line.split(' ').find((word) => !/^[A-Za-z_]\w*=/.test(word));
  const reason = program === 'gcloud' ? gcloudReason(stderr) || last : program === 'kubectl' ? kubectlReason(stderr) || last : last;
  return (await tooOld(cmd)) ?? new StepError(`${clipCommand(line)} failed (exit ${error.exitCode ?? error.signal}): ${mask(reason)}`);
}
