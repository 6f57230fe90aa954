// Teaching output: every step says what it mirrors, the command a reader would type, and one
// outcome line per result (mkcert style). Secrets are masked before anything is printed.
import { chalk } from 'zx';

const secrets = new Set<string>();

/** Registers a value (password, token) that must never be printed. */
export function addSecret(value: string | undefined): void {
  if (value && value.length >= 3) secrets.add(value);
}

export function mask(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('****');
  return out;
}

const out = (line: string) => process.stdout.write(mask(line) + '\n');

/** Quotes one argument the way a POSIX shell reader would type it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

export const log = {
  banner(title: string, mirrors?: string): void {
    out('');
    out(chalk.bold.cyan(`== ${title}`) + (mirrors ? chalk.dim(`  (tutorial: ${mirrors})`) : ''));
  },
  explain(text: string): void {
    out(chalk.dim(`   ${text}`));
  },
  command(argv: readonly string[] | string, note?: string): void {
    const text = typeof argv === 'string' ? argv : formatCommand(argv);
    out(chalk.yellow(`   $ ${text}`) + (note ? chalk.dim(`   # ${note}`) : ''));
  },
  created(what: string, detail?: string): void {
    out(chalk.green(`   ✓ ${what}`) + (detail ? chalk.dim(` ${detail}`) : ''));
  },
  reused(what: string, detail?: string): void {
    out(chalk.blue(`   = using existing ${what}`) + (detail ? chalk.dim(` ${detail}`) : ''));
  },
  info(text: string): void {
    out(`   ${text}`);
  },
  warn(text: string): void {
    out(chalk.yellow(`   ! ${text}`));
  },
  dryRun(text = 'DRY_RUN: printed only, nothing was run'): void {
    out(chalk.magenta(`   ~ ${text}`));
  },
  error(text: string): void {
    process.stderr.write(chalk.red(`✗ ${mask(text)}`) + '\n');
  },
};
