// Temp folders for one test file: made under the OS temp dir, removed when the test process exits
// (each test file runs in its own process), also after a failed assertion.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Every test file makes temp folders, so this is where a file run alone gets isolated too.
import './isolation.ts';

const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder whose name starts with `prefix`, removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
