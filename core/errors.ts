// Failures a step reports as one line. The wrapper in main.ts prints them and picks the exit code.
export class StepError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'StepError';
  }
}

/** A tool the step needs is missing: say what and how to install it. */
export class MissingToolError extends StepError {
  constructor(tool: string, install: string) {
    super(`${tool} not found on PATH; install it with: ${install}`, 127);
    this.name = 'MissingToolError';
  }
}

/** The last non-empty line of a program's output: what a failure is reported with. */
export function lastLine(text: string): string {
  return text.trim().split('\n').filter((line) => line.trim() !== '').at(-1)?.trim() ?? '';
}
