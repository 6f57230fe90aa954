// zx, set up once: how the numbered steps run programs. A step writes the tutorial's command with
// zx's `$` tagged template (`await $`openssl genpkey -out ${FILES.caKey}``); this module makes
// every such command teach and fail the kit's way:
// - printed before it runs, exactly as bash receives it (zx's own quoting), secrets masked, with
//   the folder it runs in when that is not the current one;
// - stdin is /dev/null (or the given input) and SHLVL is set: bash started with a socket as stdin
//   and no SHLVL reads ~/.bashrc before every command (the ssh heuristic; 0.6 s a command here);
// - DRY_RUN=1 prints the commands and starts nothing;
// - a missing program is one line naming the package to install, a failing one one line with its
//   last stderr line (commandFailure, used by runStep);
// - a value a later command needs (an IP, a temp folder) is read with outputOf; DRY_RUN prints it
//   as `NAME="$(command)"` and later commands show "$NAME", so the printed lines paste in order.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { relative } from 'node:path';
import { $, ProcessOutput, quote, within, type LogEntry, type ProcessPromise } from 'zx';
import { MissingToolError, StepError } from '../../core/errors.ts';
import { log, mask } from '../../core/log.ts';

export { $ };

const INSTALL_HINTS: Record<string, string> = {
  openssl: 'apt-get install openssl',
  keytool: 'apt-get install openjdk-17-jre-headless',
  java: 'apt-get install openjdk-17-jre-headless',
  curl: 'apt-get install curl',
  gcloud: 'see https://cloud.google.com/sdk/docs/install',
  kubectl: 'gcloud components install kubectl (or apt-get install kubectl)',
  docker: 'see https://docs.docker.com/engine/install/',
};

/** Commands still running, by zx process id, and the last one that failed (for its error line). */
const running = new Map<string, string>();
let lastFailed = '';

function printEntry(entry: LogEntry): void {
  if (entry.kind === 'cmd') {
    running.set(entry.id, entry.cmd);
    const dir = relative(process.cwd(), entry.cwd);
    log.command(entry.cmd, dir === '' ? undefined : `in ${dir.startsWith('..') ? entry.cwd : dir}/`);
  } else if (entry.kind === 'end') {
    if (entry.exitCode !== 0) lastFailed = running.get(entry.id) ?? '';
    running.delete(entry.id);
  }
}

/** Starts the real program; stdin is a pipe only when the command was given input (zx passes null when not). */
function spawnWithInput(command: string, args: readonly string[], options: SpawnOptions & { input?: unknown }): ChildProcess {
  const stdio = options.input == null ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'];
  return spawn(command, args, { ...options, stdio } as SpawnOptions);
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

/** Configures zx's `$` for this process. Called once by runStep before the step body. */
export function setupShell(options: { dryRun: boolean; env?: Record<string, string> }): void {
  $.verbose = false;
  $.quiet = true;
  $.log = printEntry as typeof $.log;
  $.env = { ...process.env, SHLVL: process.env.SHLVL ?? '1', ...options.env };
  $.quote = (arg: string) => (shellVariables.has(arg) ? `"${arg}"` : quote(arg));
  dryRun = options.dryRun;
  $.spawn = (options.dryRun ? spawnNothing : spawnWithInput) as unknown as typeof $.spawn;
}

/** One line for a command that failed or could not start, or undefined for any other error. */
export function commandFailure(error: unknown): StepError | undefined {
  if (!(error instanceof ProcessOutput)) return undefined;
  const stderr = error.stderr.trim().split('\n').filter(Boolean);
  const last = stderr.at(-1) ?? error.stdout.trim().split('\n').filter(Boolean).at(-1) ?? '';
  const missing = /^(?:.*: )?line \d+: ([^:\s]+): command not found$/.exec(last);
  if (error.exitCode === 127 && missing) {
    const tool = missing[1]!;
    return new MissingToolError(tool, INSTALL_HINTS[tool] ?? `your package manager (${tool})`);
  }
  return new StepError(`${mask(lastFailed).slice(0, 160)} failed (exit ${error.exitCode ?? error.signal}): ${mask(last)}`);
}
