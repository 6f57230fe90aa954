// The folder scripts/34 uploads to the VM: the backend compiled to plain JavaScript (app/), the
// server keystore and truststore, their passwords as a systemd EnvironmentFile, and the installer.
// Layout and modes are what infra/vm/install-bundle.sh expects.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, type Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { run } from '../run.ts';
import { INSTALL_SCRIPT } from './commands.ts';

export const BUILD_CONFIG = 'backend/tsconfig.build.json';
/** The backend's entry module inside app/ (see backend/tsconfig.build.json). */
export const BACKEND_ENTRY = './backend/main.js';
export const STORES = ['server-keystore.p12', 'server-truststore.p12'] as const;

/** A value for a systemd EnvironmentFile: double-quoted, backslash and quote escaped. */
export function environmentValue(value: string): string {
  if (/[\n\r]/.test(value)) throw new StepError('STORE_PASSWORD must not contain line breaks');
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function secretsEnv(password: string): string {
  const value = environmentValue(password);
  return `SERVER_SSL_KEYSTOREPASSWORD=${value}\nSERVER_SSL_TRUSTSTOREPASSWORD=${value}\n`;
}

/** Fills `dir` (created 0700); the compile is the only command, printed by the caller. */
export async function buildBundle(config: Config, dir: string): Promise<void> {
  mkdirSync(join(dir, 'app'), { recursive: true, mode: 0o700 });
  await run(['npx', 'tsc', '-p', BUILD_CONFIG, '--outDir', join(dir, 'app')], { cwd: repoRoot, quiet: true });
  // Node needs to be told the compiled files are ES modules; main.js is the unit's fixed entry.
  writeFileSync(join(dir, 'app', 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n');
  writeFileSync(join(dir, 'app', 'main.js'), `// Entry point of the systemd unit (infra/vm/startup.sh).\nimport '${BACKEND_ENTRY}';\n`);
  for (const store of STORES) copyFileSync(join(config.pki.certsDir, store), join(dir, store));
  writeFileSync(join(dir, 'secrets.env'), secretsEnv(config.pki.storePassword), { mode: 0o600 });
  copyFileSync(join(repoRoot, INSTALL_SCRIPT), join(dir, 'install-bundle.sh'));
}
