// Atomic file output: everything a step makes is built in a staging folder beside the target and
// renamed into place only when the whole step succeeded, so a failure or Ctrl-C leaves no
// half-written file behind.
import { constants } from 'node:os';
import { chmodSync, closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

const pending = new Set<string>();
function cleanupAll() {
  for (const dir of pending) rmSync(dir, { recursive: true, force: true });
  pending.clear();
}
let hooked = false;
function hookSignals() {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanupAll();
      process.exit(128 + constants.signals[signal]);
    });
  }
}

const STAGING_PREFIX = '.staging-';

/** The folder a path stands for: a staging folder's target, any other folder itself. */
export function stagedFor(dir: string): string {
  return basename(dir).startsWith(STAGING_PREFIX) ? dirname(dir) : dir;
}

/**
 * Renames files from one folder into another as one change, as far as Ctrl-C, SIGTERM and SIGHUP
 * go: the renames run in one synchronous loop while this module listens for those signals, so a
 * signal arriving meanwhile ends the process only after the last rename (with no listener it would
 * end it between two, leaving e.g. a new key beside the old certificate). Each rename is atomic on
 * one file system.
 */
export function moveFiles(fromDir: string, toDir: string, names: readonly string[]): void {
  hookSignals();
  for (const name of names) renameSync(join(fromDir, name), join(toDir, name));
}

export class Staging {
  readonly dir: string;
  constructor(readonly targetDir: string) {
    hookSignals();
    mkdirSync(targetDir, { recursive: true });
    this.dir = mkdtempSync(join(targetDir, STAGING_PREFIX));
    pending.add(this.dir);
  }
  /** Path of a file inside the staging folder. */
  path(name: string): string {
    return join(this.dir, name);
  }
  /** Moves the named files into the target folder (rename is atomic on one file system). */
  commit(names: readonly string[]): void {
    moveFiles(this.dir, this.targetDir, names);
    this.discard();
  }
  discard(): void {
    rmSync(this.dir, { recursive: true, force: true });
    pending.delete(this.dir);
  }
}

/**
 * Writes one file atomically and durably: a temp file beside it (name ending in `.tmp`), fsync,
 * rename over the target, fsync of the folder. Readers see the old file or the new one, never a
 * mix; an open descriptor on the old file keeps reading the old content; a crash leaves at most a
 * stray `.tmp` file. `mode` applies from the first byte (private keys never exist wider than 0600).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let at = 0; at < bytes.byteLength; ) at += writeSync(fd, bytes, at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode); // the umask may have narrowed the mode openSync applied
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
