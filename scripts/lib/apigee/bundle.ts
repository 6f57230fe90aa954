// The proxy bundle: apigee-bundle/apiproxy holds the tutorial's reverse proxy with the default
// names; render() copies it with the configured proxy and target-server names, stamps a content
// hash into the proxy's Description (so a rerun can tell whether the deployed revision is the same
// bundle without downloading it), and zip() packs it the way Apigee imports it.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { zipSync } from 'fflate';
import { repoRoot } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { isAlive } from '../../../core/pidfile.ts';

export const bundleSource = join(repoRoot, 'apigee-bundle', 'apiproxy');
const DEFAULT_PROXY = 'api-mtls-test';
const DEFAULT_TARGET_SERVER = 'ts-backend-mtls';
const HASH_MARK = 'bundle-sha256:';

export interface RenderedBundle {
  /** Path inside the zip (apiproxy/...) → file content. */
  files: Map<string, string>;
  /** sha256 over the rendered files before the hash was stamped in. */
  hash: string;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** Content hash of a set of files: order-independent, covers names and bytes. */
export function contentHash(files: Map<string, string>): string {
  const h = createHash('sha256');
  for (const name of [...files.keys()].sort()) h.update(`${name}\0${files.get(name)}\0`);
  return h.digest('hex');
}

export function renderBundle(proxyName: string, targetServer: string, source = bundleSource): RenderedBundle {
  const files = new Map<string, string>();
  for (const path of listFiles(source)) {
    let name = `apiproxy/${relative(source, path)}`;
    let text = readFileSync(path, 'utf8');
    if (name === `apiproxy/${DEFAULT_PROXY}.xml`) {
      name = `apiproxy/${proxyName}.xml`;
      text = text.replace(`name="${DEFAULT_PROXY}"`, `name="${proxyName}"`).replace(`<DisplayName>${DEFAULT_PROXY}<`, `<DisplayName>${proxyName}<`);
    }
    text = text.replaceAll(`<Server name="${DEFAULT_TARGET_SERVER}"/>`, `<Server name="${targetServer}"/>`);
    files.set(name, text);
  }
  const main = `apiproxy/${proxyName}.xml`;
  if (!files.has(main)) throw new StepError(`apigee-bundle/apiproxy/${DEFAULT_PROXY}.xml is missing`);
  const hash = contentHash(files);
  files.set(main, files.get(main)!.replace('</Description>', ` [${HASH_MARK}${hash.slice(0, 16)}]</Description>`));
  return { files, hash };
}

/** The hash stamped into a revision's description, if any. */
export function hashFromDescription(description: string | undefined): string | undefined {
  return description?.match(new RegExp(`${HASH_MARK}([0-9a-f]{16})`))?.[1];
}

export function writeBundle(bundle: RenderedBundle, dir: string): string {
  for (const [name, text] of bundle.files) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return join(dir, 'apiproxy');
}

/** The prefix of a copy being written: `.bundle-new-<pid>-<random>` (and `…-old` for the one moved aside). */
const NEW_COPY = '.bundle-new-';
const NEW_COPY_PID = /^\.bundle-new-(\d+)-/;

/**
 * Removes the copies of runs that ended in the middle of writing one (killed, or a Ctrl-C
 * without a handler): their pid is in the folder's name and no such process exists any more.
 */
function removeAbandonedCopies(parent: string): void {
  for (const name of readdirSync(parent)) {
    const pid = NEW_COPY_PID.exec(name)?.[1];
    if (pid && Number(pid) !== process.pid && !isAlive(Number(pid))) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/**
 * Puts the bundle's files in `dir`, replacing the copy there as a whole: they are written to a
 * folder of this run's own first, then renamed into place. Two step-41 runs at once each write
 * their own copy; neither removes files the other is still writing (removing and rewriting `dir`
 * in place failed with ENOTEMPTY then). Returns dir/apiproxy.
 */
export function replaceBundle(bundle: RenderedBundle, dir: string): string {
  mkdirSync(dirname(dir), { recursive: true });
  removeAbandonedCopies(dirname(dir));
  const fresh = mkdtempSync(join(dirname(dir), `${NEW_COPY}${process.pid}-`));
  const old = `${fresh}-old`;
  try {
    writeBundle(bundle, fresh);
    for (let attempt = 1; ; attempt++) {
      rmSync(old, { recursive: true, force: true });
      try {
        renameSync(dir, old);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      try {
        renameSync(fresh, dir);
        break;
      } catch (error) {
        // Another run put its copy in place between the two renames: move that one aside too.
        const code = (error as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt === 5) throw error;
      }
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
  return join(dir, 'apiproxy');
}

export function zipBundle(bundle: RenderedBundle): Uint8Array {
  const entries: Record<string, Uint8Array> = {};
  for (const [name, text] of bundle.files) entries[name] = new TextEncoder().encode(text);
  // A fixed timestamp keeps the zip bytes reproducible.
  return zipSync(entries, { level: 6, mtime: new Date('2024-01-01T00:00:00Z') });
}

/**
 * Stops the import unless apigeelint (Apigee X profile, table format; step 41 runs it) found zero
 * errors and zero warnings; then its table is printed.
 */
export function refuseLintFindings(result: { exitCode?: number | null; stdout: string; stderr?: string }): void {
  const counts = /(\d+) Errors[\s\S]*?(\d+) Warnings/.exec(result.stdout);
  // No table: apigeelint did not get to check the bundle (exit 127: "apigeelint: not found"), so
  // "problems (table above)" would point at nothing; say why instead.
  if (!counts) {
    const why = (result.stderr ?? '').trim().split('\n').at(-1) || 'no output';
    const hint = result.exitCode === 127 ? ' (hint: make deps installs it)' : '';
    throw new StepError(`apigeelint did not check the bundle (exit ${result.exitCode ?? 'none'}: ${why}); nothing was imported${hint}`);
  }
  if (result.exitCode !== 0 || counts[1] !== '0' || counts[2] !== '0') {
    process.stdout.write(result.stdout);
    throw new StepError(`apigeelint found problems in the bundle (table above${result.exitCode ? `, exit ${result.exitCode}` : ''}); fix them before importing`);
  }
}
