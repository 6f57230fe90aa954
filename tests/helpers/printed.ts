// Reading back what the steps print: the `$ ` command lines (with a here-document's body), and
// the shell words of a command, as a reader pasting them would see them.

/** A printed command and the folder its `# in DIR/` note names (undefined: the current one). */
export interface PrintedCommand {
  command: string;
  dir?: string;
}

/**
 * The commands a step printed, in order, without the `   $ ` prompt and the `   # …` note; a line
 * ending in "\\" continues on the next one (kept as printed, as bash reads it).
 */
export function printedCommands(stdout: string): string[] {
  return printedCommandsIn(stdout).map((c) => c.command);
}

/** printedCommands with the folder each one runs in. */
export function printedCommandsIn(stdout: string): PrintedCommand[] {
  const lines = stdout.split('\n');
  const commands: PrintedCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {3}\$ (.*)$/.exec(lines[i]!);
    if (!m) continue;
    const dir = / {3}# in (.+)\/$/.exec(m[1]!)?.[1];
    let first = m[1]!.replace(/ {3}# .*$/, '');
    while (first.endsWith('\\') && i + 1 < lines.length) first += `\n${lines[++i]!}`;
    const heredoc = /<<'?(\w+)'?$/.exec(first.trimEnd());
    if (!heredoc) {
      commands.push({ command: first, dir });
      continue;
    }
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== heredoc[1]) body.push(lines[i]!);
    commands.push({ command: [first.trimEnd(), ...body, heredoc[1]].join('\n'), dir });
  }
  return commands;
}

/**
 * The printed commands as a reader pastes them into one shell: `cd` into the folder a note names
 * before its command and back after it (`cd -`), so a folder nobody made fails the paste.
 */
export function pastedScript(stdout: string): string {
  return printedCommandsIn(stdout).map(({ command, dir }) => (dir ? `cd '${dir}'\n${command}\ncd - >/dev/null` : command)).join('\n');
}

/** A command with its continuation lines ("\\" + newline) joined by one space. */
export function oneLine(command: string): string {
  return command.replace(/\s*\\\n\s*/g, ' ');
}

/** A command's shell words (quotes removed), split into pipeline / list segments. */
export function shellSegments(command: string): string[][] {
  const firstLine = oneLine(command).split('\n')[0]!;
  const segments: string[][] = [[]];
  let word: string | undefined;
  const end = () => {
    if (word !== undefined) segments.at(-1)!.push(word);
    word = undefined;
  };
  for (let i = 0; i < firstLine.length; i++) {
    const c = firstLine[i]!;
    if (c === "'") {
      const close = firstLine.indexOf("'", i + 1);
      word = (word ?? '') + firstLine.slice(i + 1, close);
      i = close;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (; firstLine[j] !== '"'; j++) text += firstLine[j] === '\\' ? firstLine[++j] : firstLine[j];
      word = (word ?? '') + text;
      i = j;
    } else if (c === '\\') {
      word = (word ?? '') + (firstLine[++i] ?? '');
    } else if (c === ' ') {
      end();
    } else if ((c === '|' || c === ';' || c === '&') && word === undefined) {
      while (firstLine[i + 1] === c) i++;
      segments.push([]);
    } else {
      word = (word ?? '') + c;
    }
  }
  end();
  return segments.filter((s) => s.length > 0);
}

/** The program of a segment (after VAR=value assignments) and its flags (up to any `=`). */
export function programAndFlags(segment: readonly string[]): { program: string; flags: string[] } {
  const words = segment.filter((w) => !/^[<>]/.test(w));
  const start = words.findIndex((w) => !/^[A-Z_][A-Z0-9_]*=/.test(w));
  const program = words[start] ?? '';
  const flags = words.slice(start + 1).filter((w) => /^-[\w-]/.test(w)).map((w) => w.split('=')[0]!);
  return { program, flags };
}

/** A management call the Apigee client printed (scripts/lib/apigee/client.ts), read back. */
export interface ManagementCall {
  method: string;
  /** The resource path below the base URL (…/v1), e.g. /organizations/o/environments/e/keystores */
  path: string;
  /** Query parameter names, e.g. ['alias', 'format'] */
  query: string[];
  /** Multipart part names (-F name=…) */
  form: string[];
  /** Every field name of the JSON body (-d), nested ones included */
  fields: string[];
  /** The lines the client printed for it: the curl, the $TOKEN line before the first one, apigeecli. */
  commands: string[];
}

function fieldNames(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [k, ...fieldNames(v)]);
}

/**
 * The management calls in a step's output: the client prints `→ METHOD URL`, the line that sets
 * $TOKEN (once), the equivalent curl, and for Apigee X the apigeecli line. The curl must be that
 * very request (same method and URL); its words and flags are the client's rendering of it.
 */
export function managementCalls(stdout: string): ManagementCall[] {
  type Reading = ManagementCall & { url: string; curl: boolean };
  const calls: Reading[] = [];
  let open: Reading | undefined;
  for (const line of stdout.split('\n')) {
    const request = /^ {3}→ (GET|POST|PUT|DELETE) (\S+)$/.exec(line);
    if (request) {
      const url = new URL(request[2]!);
      open = { method: request[1]!, url: request[2]!, path: url.pathname.replace(/^\/v1(?=\/)/, ''), query: [...url.searchParams.keys()], form: [], fields: [], commands: [], curl: false };
      calls.push(open);
      continue;
    }
    const command = /^ {3}\$ (.*)$/.exec(line)?.[1]!.replace(/ {3}# .*$/, '');
    if (!open || command === undefined) continue;
    const words = shellSegments(command)[0] ?? [];
    if (!open.curl && /^TOKEN=/.test(command)) {
      open.commands.push(command);
    } else if (!open.curl && words[0] === 'curl' && words.includes(open.url)) {
      const method = words.includes('-X') ? words[words.indexOf('-X') + 1] : 'GET';
      if (method !== open.method) throw new Error(`the curl says ${method}, the request line ${open.method}: ${command}`);
      words.forEach((w, i) => {
        if (w === '-F') open!.form.push(words[i + 1]!.split('=')[0]!);
        if (w === '-d') open!.fields.push(...fieldNames(JSON.parse(words[i + 1]!)));
      });
      open.commands.push(command);
      open.curl = true;
    } else if (open.curl && words[0] === 'apigeecli') {
      open.commands.push(command);
      open = undefined;
    } else {
      open = undefined;
    }
  }
  return calls.map(({ url: _url, curl: _curl, ...call }) => call);
}

/** One or more NAME=value (quoted as the shell needs; empty when it hides a file's value) and a space: what followUp puts before a command (a RegExp source). */
export const GIVEN = String.raw`(?:[A-Za-z_]\w*=(?:'[^']*'|"[^"]*"|\S*) )+`;
const givenPattern = (template: string) => template.split('{given}').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join(GIVEN);

/**
 * A whole printed line as a RegExp, each `{given}` in `template` standing for the settings that
 * scripts/lib/follow-up.ts puts before a command the line names (one or more NAME=value, quoted as
 * the shell needs): the tests give their settings in the environment, so every such line has some.
 */
export function withGiven(template: string): RegExp {
  return new RegExp(`^${givenPattern(template)}$`);
}

/** withGiven for a part of a line (a hint inside a longer message): the same `{given}`, not anchored. */
export function withGivenIn(template: string): RegExp {
  return new RegExp(givenPattern(template));
}
