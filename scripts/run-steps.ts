#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Runs several numbered steps, in the order given, inside ONE Node process, e.g.
//   ./scripts/run-steps.ts 10-ca 11-server-cert 12-client-cert 13-server-stores 14-verify-certs --force
// Each step is the same file that runs alone; importing it runs it (steps call `await runStep(...)`
// at top level). Starting Node with tsx costs ~0.4 s, so one process instead of five is what makes
// `make certs` fast. The first failing step ends the process with its own exit code (runStep exits),
// so later steps never run. Flags (--force, --dry-run) reach every step through process.argv.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { log } from '../core/log.ts';

const here = dirname(fileURLToPath(import.meta.url));
const names = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const files = names.map((name) => join(here, `${name.replace(/\.ts$/, '')}.ts`));
const unknown = names.filter((name, i) => !/^\d{2}-[a-z0-9-]+(\.ts)?$/.test(name) || !existsSync(files[i]!));
const usage = 'usage: scripts/run-steps.ts 10-ca 11-server-cert … [--force] [--dry-run]';
if (names.length === 0 && process.argv.some((arg) => arg === '--help' || arg === '-h')) {
  // Alone, --help describes this runner; with steps, each step prints its own help.
  const steps = readdirSync(here).filter((f) => /^\d{2}-.*\.ts$/.test(f)).map((f) => f.slice(0, -3));
  console.log(`${usage}\nRuns the given steps in order in one process; the first that fails stops the rest.\nSteps: ${steps.join(' ')}`);
  process.exit(0);
}
if (names.length === 0 || unknown.length > 0) {
  log.error(`${names.length === 0 ? 'no step given' : `no such step: ${unknown.join(', ')}`}; ${usage}`);
  process.exit(2);
}
for (const file of files) await import(pathToFileURL(file).href);
