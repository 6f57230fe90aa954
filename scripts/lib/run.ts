// The old way steps ran programs, kept only until the GCP and Apigee steps use zx's `$` (shell.ts)
// like the others; then this file goes. Prints the command (secrets masked), honours DRY_RUN, and
// turns a failure into one line naming the command and its last error line.
// Programs are started directly, without a shell: the arguments reach them exactly as printed, a
// missing program is told apart from a failing one (ENOENT), and no shell start-up file runs.
import { spawn } from 'node:child_process';
import { log, formatCommand, mask } from '../../core/log.ts';
import { StepError, lastLine } from '../../core/errors.ts';
import { missingTool } from '../../core/tools.ts';

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

// onPath moved to core/tools.ts; re-exported until the GCP steps import it from there.
export { onPath } from '../../core/tools.ts';

export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new StepError('run: empty command');
  if (!options.quiet) log.command(argv, options.note);
  if (options.dryRun) return { exitCode: 0, stdout: '', stderr: '', skipped: true };
  const result = await spawnCollect(file, args, options);
  if (result.notFound) throw missingTool(file);
  const { exitCode } = result;
  if (exitCode !== 0 && !options.allowExitCodes?.includes(exitCode)) {
    throw new StepError(`${mask(formatCommand(argv)).slice(0, 160)} failed (exit ${exitCode}): ${mask(lastLine(result.stderr || result.stdout))}`);
  }
  return { exitCode, stdout: result.stdout, stderr: result.stderr, skipped: false };
}

interface Collected { exitCode: number; stdout: string; stderr: string; notFound: boolean }

function spawnCollect(file: string, args: string[], options: RunOptions): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolve({ exitCode: 127, stdout: '', stderr: '', notFound: true });
      else reject(error);
    });
    child.on('close', (code, signal) => {
      resolve({
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        notFound: false,
      });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
