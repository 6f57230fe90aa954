// Updates one NAME=value line of env/local.env (the untracked override) without touching the
// others: read, replace or append, write atomically. LOCAL_ENV_FILE points elsewhere (tests).
import { existsSync, readFileSync } from 'node:fs';
import { localEnvFile } from '../../../core/config.ts';
import { writeFileAtomic } from '../../../core/files.ts';

/** Sets NAME=value; returns false when the line already said exactly that. */
export function setLocalEnv(name: string, value: string, file = localEnvFile()): boolean {
  if (!/^[A-Z][A-Z0-9_]*$/.test(name) || /[\n\r]/.test(value)) throw new Error(`setLocalEnv: bad line ${name}=${value}`);
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const wanted = `${name}=${value}`;
  const lines = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const at = lines.findIndex((line) => new RegExp(`^\\s*(export\\s+)?${name}\\s*=`).test(line));
  if (at >= 0 && lines[at] === wanted) return false;
  if (at >= 0) lines[at] = wanted;
  else lines.push(wanted);
  // The file may hold tokens or passwords: keep it private.
  writeFileAtomic(file, lines.join('\n') + '\n', 0o600);
  return true;
}
