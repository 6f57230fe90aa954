// Keeps the developer's own settings (env/local.env, exported variables) out of every test.
// tests/run.ts starts each file isolated by this module; a file run alone (node --import tsx
// tests/x.test.ts) is isolated the same way when this module loads (temp.ts and fixtures.ts
// import it). A child given an environment of its own (execa's extendEnv: false, spawn's env) or a
// loadConfig({ env }) does not see process.env's LOCAL_ENV_FILE and reads the checkout's
// env/local.env: build those environments with isolated(). Both ways in are refused here, so a
// test that forgets fails whatever env/local.env holds.
import childProcess from 'node:child_process';
import fs, { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { isBackendVariable, repoRoot, settingNames } from '../../core/config.ts';

/**
 * Drops the kit's settings and the backend's variables (BACKEND_PORT=9443 make test) from this
 * process's environment and points LOCAL_ENV_FILE at a file that does not exist. Children inherit it.
 */
function isolateProcess(): void {
  const settings = new Set(settingNames());
  for (const name of Object.keys(process.env)) {
    if (settings.has(name) || isBackendVariable(name)) delete process.env[name];
  }
  const dir = mkdtempSync(join(tmpdir(), 'tests-env-'));
  process.env.LOCAL_ENV_FILE = join(dir, 'local.env');
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

// Under tests/run.ts LOCAL_ENV_FILE already names a missing file; else (run alone, or a real file
// given) this process is isolated here.
const given = process.env.LOCAL_ENV_FILE?.trim();
if (!given || existsSync(given)) isolateProcess();

/** `env` for a child or loadConfig({ env }): with this process's LOCAL_ENV_FILE unless `env` names its own. */
export function isolated<T extends Record<string, string | undefined>>(env: T): T & { LOCAL_ENV_FILE: string } {
  return { LOCAL_ENV_FILE: process.env.LOCAL_ENV_FILE!, ...env };
}

const checkoutLocalEnv = resolve(repoRoot, 'env', 'local.env');
const refusal = (what: string) =>
  new Error(`${what} would read this checkout's env/local.env: give it isolated(env) from tests/helpers/isolation.ts`);

// A child that reads the kit's settings (a step, the stand-in's or Postman's entry point, inline code
// calling loadConfig, or make/npm/npx that run them) is refused before it starts when its
// environment lacks LOCAL_ENV_FILE. Others (openssl, curl, the bare backend) read no settings and
// keep the environment they were given. Every async spawn (spawn, execFile, exec, fork, execa, zx)
// passes through ChildProcess#spawn (internal, so not in @types/node); the sync ones are checked at
// their exports.
const readsSettings = (argv: string[]) =>
  /^(make|npm|npx)$/.test(basename(argv[0] ?? '')) || /scripts\/|apigee-local\/main|postman\/run|loadConfig|runStep/.test(argv.join(' '));
const hasLocalEnvFile = (env: Record<string, string | undefined>) => Boolean(env.LOCAL_ENV_FILE?.trim());
function check(argv: string[], env: Record<string, string | undefined>): void {
  // A shell line may set it itself (a printed line pasted into a bare shell: LOCAL_ENV_FILE=… ./scripts/…).
  if (readsSettings(argv) && !hasLocalEnvFile(env) && !/\bLOCAL_ENV_FILE=\S/.test(argv.join(' '))) throw refusal(`a child (${argv.join(' ').slice(0, 120)}) started without LOCAL_ENV_FILE`);
}
const proto = childProcess.ChildProcess.prototype as unknown as { spawn(this: unknown, options: { args: string[]; envPairs: string[] }): unknown };
const spawnAsync = proto.spawn;
proto.spawn = function (options) {
  // Node's internal shape (args, envPairs): should a later Node change it, the guard steps aside
  // rather than stop every test (the isolation above still holds for children that inherit it).
  if (Array.isArray(options?.args) && Array.isArray(options.envPairs)) {
    check(options.args, Object.fromEntries(options.envPairs.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])));
  }
  return spawnAsync.call(this, options);
};
for (const name of ['spawnSync', 'execFileSync', 'execSync'] as const) {
  const original = childProcess[name] as (...args: unknown[]) => unknown;
  (childProcess as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    const options = args.find((a): a is { env?: NodeJS.ProcessEnv } => typeof a === 'object' && a !== null && !Array.isArray(a));
    if (options?.env) check([String(args[0]), ...(Array.isArray(args[1]) ? args[1].map(String) : [])], options.env);
    return original(...args);
  };
}
// In this process: core/config.ts looks for the overrides file with existsSync before reading it.
const exists = fs.existsSync;
fs.existsSync = (path) => {
  if (typeof path === 'string' && resolve(path) === checkoutLocalEnv) throw refusal('loadConfig or readEnv without LOCAL_ENV_FILE in its env');
  return exists(path);
};
syncBuiltinESMExports();
