// The working area of one certificate step: its commands run inside a staging copy of CERTS_DIR
// (inputs linked in, so the commands use the tutorial's plain file names) and the outputs are
// renamed into CERTS_DIR only when the whole step succeeded. Under DRY_RUN nothing is created.
import { chmodSync, existsSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { Staging } from '../../../core/files.ts';
import { displayPath, log } from '../../../core/log.ts';
import { requireTool } from '../../../core/tools.ts';
import { ALL_FILES, DOWNSTREAM, FILES, PRIVATE_MODE, modeFor } from './names.ts';
import { expiry, readCert } from './inspect.ts';
import { followUp } from '../follow-up.ts';

/** Node 20 or newer (X509Certificate.checkIP, fetch, and the test tooling need it). */
function requireNode(major = 20): void {
  const current = Number(process.versions.node.split('.')[0]);
  if (current < major) {
    throw new StepError(`Node ${process.versions.node} is too old; install Node ${major} or newer (e.g. from https://nodejs.org or nvm install ${major})`);
  }
}

/** Node and openssl, checked before a step writes anything (OpenSSL's version only if a command fails: shell.ts). */
export function requireTools(): void {
  requireNode();
  requireTool('openssl');
}

/**
 * Each tutorial file already in CERTS_DIR is a regular file, and a private one is private: checked
 * before a step reads or writes anything. A directory in a file's place would otherwise fail the
 * last rename after the earlier outputs had moved in (a new key beside the old certificate); a
 * key readable by others would be reused as it is.
 */
function checkExistingFiles(dir: string): void {
  for (const name of ALL_FILES) {
    const path = join(dir, name);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue; // missing (or a dangling link): the steps make it
    }
    if (!stat.isFile()) {
      throw new StepError(`${displayPath(path)} is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}, where the certificate steps keep a file; move it away and re-run`);
    }
    const mode = stat.mode & 0o777;
    if (modeFor(name) === PRIVATE_MODE && (mode & 0o077) !== 0) {
      const caHint = name === FILES.caKey ? ` (if someone may have copied it, make a new CA instead: ${followUp('NEW_CA=1 make certs')})` : '';
      throw new StepError(`${displayPath(path)} holds a private key and is readable by others (mode ${mode.toString(8).padStart(4, '0')}); run chmod 600 ${displayPath(path)} and re-run${caHint}`);
    }
  }
}

export class CertWorkspace {
  readonly dir: string;
  private staging: Staging | undefined;

  constructor(private readonly config: Config) {
    this.dir = config.pki.certsDir;
    checkExistingFiles(this.dir);
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  exists(name: string): boolean {
    return existsSync(this.path(name));
  }

  /** A file of CERTS_DIR as the reader should see it. */
  shown(name: string): string {
    return displayPath(this.path(name));
  }

  /**
   * Opens the staging folder with links to the existing inputs the commands read, and returns the
   * folder the commands run in (CERTS_DIR itself under DRY_RUN, where nothing runs).
   */
  begin(inputs: readonly string[] = []): string {
    if (this.config.dryRun) return this.dir;
    this.staging = new Staging(this.dir);
    for (const name of inputs) {
      if (!this.exists(name)) throw new StepError(`${this.shown(name)} is missing; run the earlier certificate steps first (${followUp('make certs')})`);
      symlinkSync(join('..', name), this.staging.path(name));
    }
    return this.staging.dir;
  }

  /** Path of a file being made (inside the staging folder). */
  staged(name: string): string {
    if (!this.staging) throw new StepError(`internal: ${name} asked for outside a running step`);
    return this.staging.path(name);
  }

  /**
   * Ends the step: under DRY_RUN says nothing was run; otherwise sets each output's mode, moves
   * them all into CERTS_DIR and lists them (certificates with their expiry, private files with
   * their mode, plus the given details). After a forced re-issue, names the files now stale.
   */
  finish(outputs: readonly string[], details: Record<string, string> = {}, replaced: readonly string[] = []): void {
    if (this.config.dryRun || !this.staging) {
      log.dryRun();
      return;
    }
    for (const name of outputs) chmodSync(this.staging.path(name), modeFor(name));
    this.staging.commit(outputs);
    this.staging = undefined;
    for (const name of outputs) {
      const cert = name.endsWith('-cert.pem') ? readCert(this.path(name)) : undefined;
      const facts = [cert && expiry(cert), Object.hasOwn(details, name) ? details[name] : undefined, modeFor(name) === PRIVATE_MODE ? 'private, mode 0600' : undefined];
      log.created(this.shown(name), facts.filter(Boolean).join(', '));
    }
    const stale = [...new Set(replaced.flatMap((name) => DOWNSTREAM[name] ?? []))].filter((name) => this.exists(name));
    if (stale.length > 0) log.warn(`now stale: ${stale.join(', ')} (the next certificate steps re-issue them; or run ${followUp('make certs')})`);
  }
}
