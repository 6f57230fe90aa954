// Runs numbered steps one after another inside this one process, like scripts/run-steps.ts does
// for `make certs`, but a step that exits does not end the run: process.exit becomes an exception,
// its code is recorded and the next step starts with its own argv. A marker line on stdout and
// stderr before each step (and after it, with the exit code) lets the caller split the output.
// Usage: node --import tsx tests/helpers/steps-in-one-process.ts scripts/10-ca.ts scripts/11-…
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const MARK = '@@step ';

class Exit extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const files = process.argv.slice(2);
  const realExit = process.exit.bind(process);
  process.exit = ((code?: number) => {
    throw new Exit(code ?? 0);
  }) as typeof process.exit;
  for (const file of files) {
    process.argv = [process.argv[0]!, resolve(file)];
    process.stdout.write(`${MARK}${file}\n`);
    process.stderr.write(`${MARK}${file}\n`);
    let code = 0;
    try {
      await import(pathToFileURL(resolve(file)).href);
    } catch (error) {
      code = error instanceof Exit ? error.code : 99;
      if (!(error instanceof Exit)) process.stderr.write(`crashed: ${(error as Error).stack ?? String(error)}\n`);
    }
    process.stdout.write(`${MARK}exit ${code}\n`);
  }
  realExit(0);
}

export interface StepOutput { step: string; exitCode: number; stdout: string; stderr: string }

/** Splits the driver's output into one record per step. */
export function splitByStep(stdout: string, stderr: string): StepOutput[] {
  const parts = (text: string) => {
    const map = new Map<string, string>();
    for (const chunk of text.split(MARK).slice(1)) {
      const nl = chunk.indexOf('\n');
      const head = chunk.slice(0, nl);
      if (head.startsWith('exit ')) continue;
      map.set(head, chunk.slice(nl + 1));
    }
    return map;
  };
  const out = parts(stdout);
  const err = parts(stderr);
  const codes = new Map([...stdout.matchAll(new RegExp(`${MARK}(\\S+)\\n[\\s\\S]*?${MARK}exit (\\d+)`, 'g'))].map((m) => [m[1]!, Number(m[2])]));
  return [...out.keys()].map((step) => ({ step, exitCode: codes.get(step) ?? 1, stdout: out.get(step) ?? '', stderr: err.get(step) ?? '' }));
}
