// The commands a step printed ("   $ …" lines) as a reader copies them: lines ending in "\" and a
// heredoc's body (up to its EOF line) belong to the command above them.
export function printedCommands(out: string): string[] {
  const lines = out.split('\n');
  const found: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s+\$ (.*)$/.exec(lines[i]!);
    if (!m) continue;
    let command = m[1]!;
    while (command.endsWith('\\') && i + 1 < lines.length) command += '\n' + lines[++i];
    const heredoc = /<<'?(\w+)'?\s*$/.exec(command);
    if (heredoc) {
      while (i + 1 < lines.length && lines[i + 1] !== heredoc[1]) command += '\n' + lines[++i];
      command += `\n${lines[++i] ?? ''}`;
    }
    found.push(command);
  }
  return found;
}

/** The command on one line: continuation lines joined with a space. */
export function oneLine(command: string): string {
  return command.replace(/\s*\\\n\s*/g, ' ');
}

/**
 * The programs and flag names of a printed command (heredoc bodies and quoted text left out, a
 * `NAME="$(command)"` lookup and leading NAME=value assignments unwrapped).
 */
export function programsAndFlags(command: string): string[] {
  let text = oneLine(command).split('\n')[0]!;
  text = /^[A-Z_][A-Z0-9_]*="\$\((.*)\)"$/.exec(text)?.[1] ?? text;
  text = text.replace(/\$?'[^']*'/g, "''");
  return text.split(/\s*(?:&&|\|)\s*/).flatMap((segment) => {
    const words = segment.trim().split(/\s+/);
    while (words[0] && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) words.shift();
    const [program = '', ...args] = words;
    return [program, ...args.filter((a) => /^--?[a-z]/.test(a)).map((a) => a.replace(/=.*$/, ''))];
  });
}
