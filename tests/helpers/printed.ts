// Reading back what the steps print: the `$ ` command lines (with a here-document's body), and
// the shell words of a command, as a reader pasting them would see them.

/**
 * The commands a step printed, in order, without the `   $ ` prompt and the `   # …` note; a line
 * ending in "\\" continues on the next one (kept as printed, as bash reads it).
 */
export function printedCommands(stdout: string): string[] {
  const lines = stdout.split('\n');
  const commands: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {3}\$ (.*)$/.exec(lines[i]!);
    if (!m) continue;
    let first = m[1]!.replace(/ {3}# .*$/, '');
    while (first.endsWith('\\') && i + 1 < lines.length) first += `\n${lines[++i]!}`;
    const heredoc = /<<'?(\w+)'?$/.exec(first.trimEnd());
    if (!heredoc) {
      commands.push(first);
      continue;
    }
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== heredoc[1]) body.push(lines[i]!);
    commands.push([first.trimEnd(), ...body, heredoc[1]].join('\n'));
  }
  return commands;
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
