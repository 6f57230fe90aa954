// Commands the suite needs on every machine of this project (.ci/packages lists them with their
// Debian packages; .ci/system-deps, run by `make test`, installs them). A missing one fails the
// test that needs it with a one-line reason: a test must never pass without checking.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../core/config.ts';
import { onPath } from '../../core/tools.ts';

/** command → Debian package, from .ci/packages. */
function packages(): Map<string, string> {
  const lines = readFileSync(join(repoRoot, '.ci', 'packages'), 'utf8').split('\n');
  return new Map(lines.filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.trim().split(/\s+/) as [string, string]));
}

/** Throws when `command` is not on PATH, naming the Debian package that provides it. */
export function requireCommand(command: string): void {
  if (onPath(command)) return;
  const pkg = packages().get(command);
  throw new Error(`${command} not found on PATH${pkg ? `: install the Debian package ${pkg} (make test does when it runs as root)` : ''}`);
}
