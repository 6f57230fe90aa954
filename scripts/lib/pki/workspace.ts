// The working area of one certificate step: commands run inside a staging copy of CERTS_DIR (inputs
// linked in, so the printed commands use the tutorial's plain file names) and the outputs are
// renamed into CERTS_DIR only when the whole step succeeded. Under DRY_RUN nothing is created.
import { chmodSync, existsSync, symlinkSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import type { Config } from '../../../core/config.ts';
import { StepError, MissingToolError } from '../../../core/errors.ts';
import { Staging } from '../../../core/files.ts';
import { log } from '../../../core/log.ts';
import { onPath, run, type RunResult } from '../run.ts';
import { DOWNSTREAM, modeFor } from './names.ts';
import { PASSWORD_ENV } from './openssl.ts';

/** A path as the reader should see it: relative to the current folder when inside it. */
export function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}


/** Node 20 or newer (X509Certificate.checkIP, fetch, and the test tooling need it). */
export function requireNode(major = 20): void {
  const current = Number(process.versions.node.split('.')[0]);
  if (current < major) {
    throw new StepError(`Node ${process.versions.node} is too old; install Node ${major} or newer (e.g. from https://nodejs.org or nvm install ${major})`);
  }
}

/** openssl on PATH; checked before a step starts (its version only when a command fails, see below). */
export function requireOpenssl(): void {
  if (!onPath('openssl')) throw new MissingToolError('openssl', 'apt-get install openssl');
}

/**
 * The steps need OpenSSL 3 (-copy_extensions, genpkey -quiet). Asking `openssl version` up front
 * would cost a process on every run, so the version is asked only when an openssl command failed,
 * to replace a puzzling usage error by what to install.
 */
async function explainOpensslFailure(error: unknown): Promise<never> {
  const { stdout } = await run(['openssl', 'version'], { quiet: true, allowExitCodes: [1] }).catch(() => ({ stdout: '' }));
  const major = Number(/OpenSSL (\d+)\./.exec(stdout)?.[1] ?? 3);
  if (major < 3) throw new StepError(`${stdout.trim()} is too old; OpenSSL 3.0 or newer is needed (apt-get install openssl)`);
  throw error;
}

export class CertWorkspace {
  readonly dir: string;
  private staging: Staging | undefined;

  constructor(private readonly config: Config) {
    this.dir = config.pki.certsDir;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  exists(name: string): boolean {
    return existsSync(this.path(name));
  }

  /** Opens the staging folder with links to the existing inputs the commands read. */
  begin(inputs: readonly string[] = []): void {
    log.explain(`commands run in ${display(this.dir)}${this.config.dryRun ? '' : ' (staged, moved into place at the end)'}:`);
    if (this.config.dryRun) return;
    this.staging = new Staging(this.dir);
    for (const name of inputs) {
      if (!this.exists(name)) throw new StepError(`${display(this.path(name))} is missing; run the earlier certificate steps first (make certs)`);
      symlinkSync(join('..', name), this.staging.path(name));
    }
  }

  /** Runs one command inside the staging folder; the store password travels in the environment. */
  async run(argv: readonly string[], note?: string, env: Record<string, string> = {}): Promise<RunResult> {
    return run(argv, {
      cwd: this.staging?.dir,
      dryRun: this.config.dryRun,
      env: { ...env, [PASSWORD_ENV]: this.config.pki.storePassword },
      note,
    }).catch((error: unknown) => (argv[0] === 'openssl' && error instanceof StepError ? explainOpensslFailure(error) : Promise.reject(error)));
  }

  /** Path of a file being made (inside the staging folder). */
  staged(name: string): string {
    if (!this.staging) throw new StepError(`internal: ${name} asked for outside a running step`);
    return this.staging.path(name);
  }

  /** Sets each output's mode and moves them all into CERTS_DIR. */
  commit(outputs: readonly string[]): void {
    if (!this.staging) return;
    for (const name of outputs) chmodSync(this.staging.path(name), modeFor(name));
    this.staging.commit(outputs);
    this.staging = undefined;
  }

  discard(): void {
    this.staging?.discard();
    this.staging = undefined;
  }

  /** After a forced regeneration: the existing files that depended on the replaced ones. */
  reportStale(replaced: readonly string[]): void {
    const stale = [...new Set(replaced.flatMap((name) => DOWNSTREAM[name] ?? []))].filter((name) => this.exists(name));
    if (stale.length > 0) {
      log.warn(`now stale: ${stale.join(', ')} (the next certificate steps re-issue them; or run make certs)`);
    }
  }
}
