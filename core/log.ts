// Teaching output: every step says what it mirrors, the command a reader would type, and one
// outcome line per result (mkcert style).
//
// Secrets (passwords, tokens) never reach the output. Two mechanisms, because a command must stay
// pasteable while a sentence only has to stay readable:
// - In commands, masking is part of quoting. shellQuote() splits each argument around the secrets
//   it holds and writes them as "${VAR}", the environment variable the secret was registered with
//   (addSecret(value, 'STORE_PASSWORD')); zx's `$` quotes with the same function, so bash gets that
//   very text and expands the variable from the environment the kit gives it. The printed command
//   is what ran and pastes as is once the variable is exported. Nothing is quoted after masking
//   or masked after quoting, so quote characters inside a secret cannot hide it.
// - In every other line (explanations, notes, errors, commands other modules assembled as text),
//   mask() replaces the secret with ****, in each form it can take once written down: as is,
//   inside '…', "…" and $'…' shell quoting, inside a JSON string and URL-encoded.
// Short secrets: a 2-character password also occurs inside ordinary words ("ab" in "table").
// Masking it there would hide nothing (that text does not depend on the password) and would make
// the output unreadable. So a secret shorter than LONG_SECRET characters counts only where it is
// not glued to a letter or digit on either side — a whole word, a value after = or :, a quoted
// string — which is how a value lands in a command or message. Longer secrets count anywhere.
import { relative, isAbsolute } from 'node:path';
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];
// Colours only on a terminal (or with FORCE_COLOR), never with NO_COLOR or FORCE_COLOR=0.
const colorEnabled =
  process.env.FORCE_COLOR !== undefined ? process.env.FORCE_COLOR !== '0' : !process.env.NO_COLOR && Boolean(process.stdout.isTTY);

/** Applies terminal styles (outermost first) when colours are enabled. */
export function paint(text: string, ...styles: Style[]): string {
  return colorEnabled ? styles.reduceRight((t, style) => styleText(style, t), text) : text;
}

/** Secret value → the environment variable that carries it to commands ('' when none does). */
const secrets = new Map<string, string>();
const LONG_SECRET = 8;

/** Registers a value (password, token) that must never be printed, and the variable that holds it. */
export function addSecret(value: string | undefined, variable?: string): void {
  if (value) secrets.set(value, variable ?? secrets.get(value) ?? '');
}

/** The variable a command names a secret value by (what shellQuote writes), if it is one. */
export function secretVariable(value: string): string | undefined {
  return secrets.get(value) || undefined;
}

/** The variables of the registered secrets, e.g. ['STORE_PASSWORD']. */
export function secretVariables(): string[] {
  return [...new Set(secrets.values())].filter(Boolean);
}

const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);

/** Replaces each occurrence of `form` that counts as the secret (see the header) by what `by` returns. */
function replaceSecret(text: string, form: string, by: () => string): string {
  if (!text.includes(form)) return text;
  let out = '';
  let from = 0;
  for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
    if (at < from) continue;
    const end = at + form.length;
    const counts = form.length >= LONG_SECRET
      || ((!isWordChar(text[at - 1]) || !isWordChar(form[0])) && (!isWordChar(text[end]) || !isWordChar(form.at(-1))));
    if (!counts) continue;
    out += text.slice(from, at) + by();
    from = end;
  }
  return out + text.slice(from);
}

/** How a secret can appear once written down: as is, shell-quoted three ways, in JSON, in a URL. */
function writtenForms(secret: string): string[] {
  const ansiC = secret.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r');
  const forms = [
    secret,
    secret.replace(/'/g, `'\\''`),
    secret.replace(/[\\"$`]/g, '\\$&'),
    ansiC,
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
  ];
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

/** Masks every registered secret in free text (any of its written forms) as ****. */
export function mask(text: string): string {
  let out = text;
  for (const secret of [...secrets.keys()].sort((a, b) => b.length - a.length)) {
    for (const form of writtenForms(secret)) out = replaceSecret(out, form, () => '****');
  }
  return out;
}

/**
 * Quotes one plain argument the way a POSIX shell reader would type it. A leading NAME= stays
 * outside the quotes: the same word to bash, and still an assignment when it precedes a command
 * (`SERVER_SSL_KEYSTORE='/my certs/ks.p12' node …`).
 */
function plainQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  const name = /^[A-Za-z_]\w*=/.exec(arg)?.[0] ?? '';
  return `${name}'${arg.slice(name.length).replace(/'/g, `'\\''`)}'`;
}

/**
 * Quotes one argument for bash; secrets inside it become "${VAR}" (see the header), e.g.
 * SERVER_SSL_KEYSTOREPASSWORD="${STORE_PASSWORD}". Also zx's quote function (scripts/lib/shell.ts).
 */
export function shellQuote(arg: string): string {
  // Each secret found becomes a marker \0<n>\1 (NUL never occurs in an argument), then the text
  // between markers is quoted as usual and each marker replaced by its variable.
  const entries = [...secrets].sort(([a], [b]) => b.length - a.length);
  let marked = arg;
  entries.forEach(([secret], n) => (marked = replaceSecret(marked, secret, () => `\u0000${n}\u0001`)));
  if (marked === arg) return plainQuote(arg);
  return marked.split(/\u0000(\d+)\u0001/).map((part, i) => {
    if (i % 2 === 0) return part ? plainQuote(part) : '';
    const variable = entries[Number(part)]![1];
    return variable ? `"\${${variable}}"` : '****';
  }).join('');
}

export function formatCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * A path as a reader types it: relative to the folder they stand in (`from`, the current folder
 * unless a command runs elsewhere) when inside it, absolute otherwise.
 */
export function displayPath(path: string, from = process.cwd()): string {
  const rel = relative(from, path);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** True while a progress line (log.progress) waits for its end on stdout. */
let lineOpen = false;
/** Ends an open progress line, so the next line (on stdout or stderr) starts on a line of its own. */
function closeLine(): void {
  if (lineOpen) process.stdout.write('\n');
  lineOpen = false;
}
const out = (line: string) => {
  closeLine();
  process.stdout.write(line + '\n');
};
const note = (text?: string) => (text ? paint(`   # ${mask(text)}`, 'dim') : '');

export const log = {
  banner(title: string, mirrors?: string): void {
    out('');
    out(paint(`== ${mask(title)}`, 'bold', 'cyan') + (mirrors ? paint(`  (tutorial: ${mask(mirrors)})`, 'dim') : ''));
  },
  explain(text: string): void {
    out(paint(`   ${mask(text)}`, 'dim'));
  },
  /** A comment in the command listing: what the next command does, or what Node does instead. */
  comment(text: string): void {
    out(paint(`   # ${mask(text)}`, 'dim'));
  },
  /**
   * A command a reader can paste. An argv array is quoted here (secrets as "${VAR}"); a string is a
   * command line other code assembled and is masked as free text.
   */
  command(argv: readonly string[] | string, comment?: string): void {
    const text = typeof argv === 'string' ? mask(argv) : formatCommand(argv);
    out(paint(`   $ ${text}`, 'yellow') + note(comment));
  },
  /** A command line zx built with shellQuote (secrets already "${VAR}"): printed exactly as bash gets it. */
  quotedCommand(line: string, comment?: string): void {
    const [first = '', ...rest] = line.split('\n');
    out(paint(`   $ ${first}`, 'yellow') + note(comment));
    // A here-document's body and end marker must start at the beginning of the line to paste.
    for (const text of rest) out(paint(text, 'yellow'));
  },
  created(what: string, detail?: string): void {
    out(paint(`   ✓ ${mask(what)}`, 'green') + (detail ? paint(` ${mask(detail)}`, 'dim') : ''));
  },
  reused(what: string, detail?: string): void {
    out(paint(`   = using existing ${mask(what)}`, 'blue') + (detail ? paint(` ${mask(detail)}`, 'dim') : ''));
  },
  info(text: string): void {
    out(`   ${mask(text)}`);
  },
  warn(text: string): void {
    out(paint(`   ! ${mask(text)}`, 'yellow'));
  },
  dryRun(text = 'DRY_RUN: printed only, nothing was run'): void {
    out(paint(`   ~ ${mask(text)}`, 'magenta'));
  },
  /**
   * Text added to the current line, e.g. a dot per poll; `end` finishes the line. Any other line
   * printed meanwhile (an error, a Ctrl-C) starts on a line of its own.
   */
  progress(text: string, end = false): void {
    process.stdout.write(mask(text) + (end ? '\n' : ''));
    lineOpen = !end;
  },
  error(text: string): void {
    closeLine();
    process.stderr.write(paint(`✗ ${mask(text)}`, 'red') + '\n');
  },
};
