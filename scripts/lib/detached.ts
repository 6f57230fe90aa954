// A service a step runs in the background (the mTLS backend, the Apigee stand-in) as a reader
// would with `command >> RUN_DIR/<name>.log 2>&1 &`: its pid in RUN_DIR/<name>.pid, its output
// appended to RUN_DIR/<name>.log. execa starts it (the kit's way to run background processes),
// and the log file's descriptor is handed to the child itself: this process can exit while it
// runs, and nothing in between holds its output. A pid file can outlive its process, so a pid
// only counts while that process still runs the service's entry file (core/pidfile.ts).
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { Config } from '../../core/config.ts';
import { StepError, lastLine } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { displayPath, log, shellQuote } from '../../core/log.ts';
import { isAlive, runningPid } from '../../core/pidfile.ts';
import { printCommand } from './shell.ts';

const STOP_TIMEOUT_MS = 20_000;
const ABORT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface StartOptions {
  /** The folder the command runs in. */
  cwd: string;
  /** Variables the command reads besides this process's environment (e.g. STORE_PASSWORD). */
  env?: Record<string, string>;
  /** True once the service is ready; `output` is what it wrote to its log since this start. */
  ready: (output: string) => Promise<boolean>;
  timeoutMs: number;
}

export class DetachedService {
  readonly pidFile: string;
  readonly logFile: string;
  /** The command line it was started with (secrets as their variables), to tell another setup from this one. */
  private readonly commandFile: string;
  private readonly dryRun: boolean;

  /** `name` names the files and the messages; `entry` is the file its command line runs. */
  constructor(config: Config, readonly name: string, private readonly entry: string) {
    this.pidFile = join(config.runDir, `${name}.pid`);
    this.logFile = join(config.runDir, `${name}.log`);
    this.commandFile = join(config.runDir, `${name}.cmd`);
    this.dryRun = config.dryRun;
  }

  /** The pid in the pid file while that process still runs the service. */
  pid(): number | undefined {
    return runningPid(this.pidFile, this.entry);
  }

  /** The command line the running service was started with; undefined when unknown (none recorded). */
  startedWith(): string | undefined {
    try {
      return readFileSync(this.commandFile, 'utf8').trimEnd();
    } catch {
      return undefined;
    }
  }

  /** Drops the pid file and the recorded command line: the service no longer runs. */
  private forget(): void {
    rmSync(this.pidFile, { force: true });
    rmSync(this.commandFile, { force: true });
  }

  /** For `--running`: exit status 0 when it runs, 1 when not (so `make all` stops only what it started). */
  reportRunning(): void {
    const pid = this.pid();
    log.info(pid === undefined ? `${this.name} is not running` : `${this.name} is already running (pid ${pid})`);
    if (pid === undefined) process.exitCode = 1;
  }

  /**
   * Prints `command >> log 2>&1 &`, runs that command with bash (which execs the program, so the
   * pid is the service's) and waits until `ready` says so. Returns the pid (undefined with DRY_RUN).
   */
  async start(command: string, { cwd, env, ready, timeoutMs }: StartOptions): Promise<number | undefined> {
    // The by-hand line runs where the command does (cwd), quoted like it: RUN_DIR may hold a space.
    printCommand(`${command} >> ${shellQuote(displayPath(this.logFile, cwd))} 2>&1 &`, cwd, `in the background; the step writes its pid to ${displayPath(this.pidFile)} (by hand: echo $! > ${shellQuote(displayPath(this.pidFile, cwd))})`);
    if (this.dryRun) {
      log.dryRun();
      return undefined;
    }

    mkdirSync(dirname(this.logFile), { recursive: true });
    const out = openSync(this.logFile, 'a', 0o600);
    const logStart = fstatSync(out).size;
    // Ctrl-C (or SIGTERM, SIGHUP) before the service is ready stops it and drops its pid file: a
    // service left running without one is missed by --running, --stop and make all, and holds the
    // ports the re-run needs. Listening before the start: without a listener the signal would end
    // this process at once, between starting the service and writing its pid.
    let aborted: (typeof ABORT_SIGNALS)[number] | undefined;
    const abort = (signal: (typeof ABORT_SIGNALS)[number]) => (aborted = signal);
    for (const signal of ABORT_SIGNALS) process.once(signal, abort);
    // (execa's types name descriptors 3-9; it hands any open one to spawn as is)
    const toLog = out as 3;
    const child = execa(command, { shell: 'bash', cwd, env, stdin: 'ignore', stdout: toLog, stderr: toLog, detached: true, cleanup: false, reject: false });
    closeSync(out);
    let exited: string | undefined;
    void child.then((result) => (exited = result.signal ?? `exit code ${result.exitCode}`));
    child.unref();
    writeFileAtomic(this.pidFile, `${child.pid}\n`);
    writeFileAtomic(this.commandFile, `${command}\n`);

    const output = () => readFileSync(this.logFile).subarray(logStart).toString('utf8');
    const deadline = Date.now() + timeoutMs;
    const stopAborted = async (signal: (typeof ABORT_SIGNALS)[number]) => {
      log.warn(`${signal}: stopping ${this.name} (pid ${child.pid}), which was still starting`);
      child.kill('SIGTERM');
      await child;
      this.forget();
      process.exit(128 + constants.signals[signal]);
    };
    while (!(await ready(output()))) {
      if (aborted !== undefined) await stopAborted(aborted);
      if (exited !== undefined) {
        this.forget();
        const why = lastLine(output());
        throw new StepError(`${this.name} failed to start (${exited}): ${why.startsWith(`${this.name}: `) ? why.slice(this.name.length + 2) : why}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGTERM');
        this.forget();
        throw new StepError(`${this.name} did not become ready within ${timeoutMs / 1000} s; see ${displayPath(this.logFile)}`);
      }
      await sleep(100);
    }
    // A signal that came while the last readiness check ran still cancels the start: exit 0 would
    // tell the reader (or make) that the Ctrl-C did nothing.
    if (aborted !== undefined) await stopAborted(aborted);
    for (const signal of ABORT_SIGNALS) process.off(signal, abort);
    return child.pid;
  }

  /** SIGTERM (the service finishes what is in flight), then waits for it to exit; SIGKILL after 20 s. */
  async stop(why: string): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) {
      this.forget();
      return log.info(`${this.name} is not running (nothing to stop)`);
    }
    log.command(['kill', '-TERM', String(pid)], why);
    if (this.dryRun) return log.dryRun();
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) {
      process.kill(pid, 'SIGKILL');
      log.warn(`${this.name} (pid ${pid}) did not exit within ${STOP_TIMEOUT_MS / 1000} s; killed`);
    } else {
      log.created(`${this.name} stopped`, `(pid ${pid})`);
    }
    this.forget();
  }
}
