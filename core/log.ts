// Teaching output: every step says what it mirrors, the command a reader would type, and one
// outcome line per result (mkcert style). Secrets are masked before anything is printed.
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];
// Colours only on a terminal (or with FORCE_COLOR), never with NO_COLOR or FORCE_COLOR=0.
const colorEnabled =
  process.env.FORCE_COLOR !== undefined ? process.env.FORCE_COLOR !== '0' : !process.env.NO_COLOR && Boolean(process.stdout.isTTY);

/** Applies terminal styles (outermost first) when colours are enabled. */
export function paint(text: string, ...styles: Style[]): string {
  return colorEnabled ? styles.reduceRight((t, style) => styleText(style, t), text) : text;
}

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
    out(paint(`== ${title}`, 'bold', 'cyan') + (mirrors ? paint(`  (tutorial: ${mirrors})`, 'dim') : ''));
  },
  explain(text: string): void {
    out(paint(`   ${text}`, 'dim'));
  },
  command(argv: readonly string[] | string, note?: string): void {
    const text = typeof argv === 'string' ? argv : formatCommand(argv);
    out(paint(`   $ ${text}`, 'yellow') + (note ? paint(`   # ${note}`, 'dim') : ''));
  },
  created(what: string, detail?: string): void {
    out(paint(`   ✓ ${what}`, 'green') + (detail ? paint(` ${detail}`, 'dim') : ''));
  },
  reused(what: string, detail?: string): void {
    out(paint(`   = using existing ${what}`, 'blue') + (detail ? paint(` ${detail}`, 'dim') : ''));
  },
  info(text: string): void {
    out(`   ${text}`);
  },
  warn(text: string): void {
    out(paint(`   ! ${text}`, 'yellow'));
  },
  dryRun(text = 'DRY_RUN: printed only, nothing was run'): void {
    out(paint(`   ~ ${text}`, 'magenta'));
  },
  error(text: string): void {
    process.stderr.write(paint(`✗ ${mask(text)}`, 'red') + '\n');
  },
};
