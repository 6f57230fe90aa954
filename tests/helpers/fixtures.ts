// Fixtures made once per test run and shared by every test file through the environment.
// tests/run.ts calls prepareFixtures() before starting the files; a file run alone
// (node --import tsx tests/x.test.ts) makes its own on first use.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Environment variables that point the test files at the shared fixtures. */
export async function prepareFixtures(): Promise<Record<string, string>> {
  const root = process.env.MTLS_FIXTURES ?? mkdtempSync(join(tmpdir(), 'mtls-fixtures-'));
  return { MTLS_FIXTURES: root };
}
