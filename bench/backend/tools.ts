// The benchmark's tools: nginx and ab come from Debian's packages when missing.
import { execa } from 'execa';
import { onPath } from '../../core/tools.ts';

export async function ensureTools(): Promise<void> {
  const packages: Record<string, string> = { nginx: 'nginx', ab: 'apache2-utils' };
  const missing: string[] = [];
  for (const [tool, pkg] of Object.entries(packages)) if (!onPath(tool)) missing.push(pkg);
  if (missing.length > 0) {
    const install = ['apt-get', 'install', '-y', '-qq', ...missing];
    if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: run sudo ${install.join(' ')}`);
    process.stdout.write(`$ apt-get update -qq && ${install.join(' ')}\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await execa('apt-get', ['update', '-qq'], { env, stdio: 'inherit' });
    await execa(install[0]!, install.slice(1), { env, stdio: 'inherit' });
  }
  for (const tool of ['openssl', 'java', 'taskset', 'curl']) {
    if (!onPath(tool)) throw new Error(`${tool} not found on PATH`);
  }
}
