// Every numbered step under DRY_RUN=1:
// - each `$ ` command it prints names a program and flags that appear in the step's own source
//   (scripts/NN-*.ts holds its tutorial commands; helpers supply values only);
// - each Apigee management call (sent with undici and printed by scripts/lib/apigee/client.ts as
//   `→ METHOD URL`, a curl and for Apigee X apigeecli, whose flags are the client's) is held by
//   the step: a call that changes something has its method, its resource path and the names of
//   its query parameters, multipart parts and JSON fields in the step's own source; a look-up
//   (GET: the idempotence checks helpers may supply) has its path in the step or in a
//   scripts/lib module the step imports;
// - nothing is written, changed or deleted: not on a fresh clone (no CERTS_DIR or RUN_DIR is
//   made), nor in a RUN_DIR a real run left (recorded scenarios, the rendered bundle and its zip);
// - no secret reaches the output (stdout and stderr), in any form: a password with ', ", $ and
//   spaces, a token, and separately 2-character ones (masking must not depend on length), each as
//   typed and as shell quoting, JSON or a URL would write it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { isolated } from './helpers/isolation.ts';
import { tempDir } from './helpers/temp.ts';
import { managementCalls, printedCommands, programAndFlags, shellSegments, type ManagementCall } from './helpers/printed.ts';
import { splitByStep, type StepOutput } from './helpers/steps-in-one-process.ts';

const DRIVER = join(repoRoot, 'tests', 'helpers', 'steps-in-one-process.ts');

const STEPS = readdirSync(join(repoRoot, 'scripts')).filter((f) => /^\d\d-.*\.ts$/.test(f)).sort();

// Steps that run no program at all (they read what other steps recorded): they must print none.
const RUNS_NO_PROGRAM = new Set(['90-summary.ts']);
// The Apigee steps again against Apigee X, where the client also prints apigeecli and the upload
// is PEM key + certificate.
const APIGEE_STEPS = STEPS.filter((s) => /^4\d-|^99-/.test(s));

function baseEnv(extra: Record<string, string>): Record<string, string> {
  const dir = tempDir('steps-dry-');
  return isolated({
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0', DRY_RUN: '1',
    CERTS_DIR: join(dir, 'certs'), RUN_DIR: join(dir, 'run'),
    BACKEND_PORT: '1', BACKEND_HEALTH_PORT: '2', APIGEE_LOCAL_API_PORT: '3', APIGEE_LOCAL_RUNTIME_PORT: '4', GCP_PROJECT: 'demo-project',
    ...extra,
  });
}

/**
 * Runs the steps in two processes side by side, each running its half one after another the way
 * scripts/run-steps.ts does (a whole Node start per step would cost most of this file's time).
 */
async function runAll(steps: readonly string[], env: Record<string, string>): Promise<StepOutput[]> {
  const halves = [steps.filter((_, i) => i % 2 === 0), steps.filter((_, i) => i % 2 === 1)].filter((h) => h.length > 0);
  const runs = await Promise.all(halves.map(async (half) => {
    const r = await execa(process.execPath, ['--import', 'tsx', DRIVER, ...half.map((s) => join('scripts', s))],
      { cwd: repoRoot, env, extendEnv: false, reject: false, timeout: 120_000 });
    assert.is(r.exitCode, 0, String(r.stderr));
    return splitByStep(String(r.stdout), String(r.stderr));
  }));
  return runs.flat().map((r) => ({ ...r, step: r.step.replace(/^scripts\//, '') })).sort((a, b) => a.step.localeCompare(b.step));
}

const HOSTILE_PASSWORD = `it's "my" $HOME pass`;
const HOSTILE_TOKEN = `ya29.'tok en"$x`;
const hostileEnv = baseEnv({ STORE_PASSWORD: HOSTILE_PASSWORD, APIGEE_TOKEN: HOSTILE_TOKEN });
const hostile = runAll(STEPS, hostileEnv);
// The certificate steps once more with the other key type, legacy stores and keytool, whose
// commands carry other flags.
const variants = runAll(STEPS.filter((s) => /^1[0-3]-/.test(s)), baseEnv({ STORE_PASSWORD: 'changeit', KEY_TYPE: 'ec', PKCS12_LEGACY: '1', TRUSTSTORE_WRITER: 'keytool' }));
const apigeeX = runAll(APIGEE_STEPS, baseEnv({ STORE_PASSWORD: 'changeit', APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'my-org', APIGEE_ENV: 'test' }));

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A file's code without its comment lines: a flag or path named in a comment does not count. */
function code(file: string): string {
  return readFileSync(file, 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*|#!)/.test(l)).join('\n');
}

/** The scripts/lib modules a file imports, directly or through each other. */
function libImports(file: string, seen = new Set<string>()): Set<string> {
  for (const m of readFileSync(file, 'utf8').matchAll(/^import [^;]*? from '(\.[^']+)';/gm)) {
    const imported = resolve(dirname(file), m[1]!);
    if (!imported.startsWith(join(repoRoot, 'scripts', 'lib')) || seen.has(imported)) continue;
    seen.add(imported);
    libImports(imported, seen);
  }
  return seen;
}

/**
 * The management paths a source writes, as patterns: `${client.envPath}/keystores/${enc(name)}`
 * matches /organizations/o/environments/e/keystores/anything (one path segment per `${…}`).
 */
function pathPatterns(source: string): RegExp[] {
  return [...source.matchAll(/`(\$\{\w+\.(?:envPath|orgPath)\}[^`]*)`/g)].map((m) => new RegExp(`^${m[1]!.split(/(\$\{[^}]*\})/).map((part, i) =>
    i % 2 === 0 ? escape(part)
      : part.endsWith('.envPath}') ? '/organizations/[^/]+/environments/[^/]+'
      : part.endsWith('.orgPath}') ? '/organizations/[^/]+'
      : '[^/]+').join('')}$`));
}

/** What a management call needs to find in the source that holds it (empty = all there). */
function missingFromSource(call: ManagementCall, source: string): string[] {
  const missing: string[] = [];
  if (!pathPatterns(source).some((p) => p.test(call.path))) missing.push(`the path ${call.path}`);
  if (call.method === 'GET' ? !/method: 'GET'|\.lookup\b/.test(source) : !source.includes(`method: '${call.method}'`)) missing.push(`the method ${call.method}`);
  // A query parameter or JSON field is a key (`alias:`) or a shorthand property (`{ name, refers }`).
  for (const key of [...call.query, ...call.fields]) {
    if (!new RegExp(`(?<![\\w.'"])${escape(key)}\\s*:|(?:^|[{,])\\s*${escape(key)}\\s*(?:[,}]|$)`, 'm').test(source)) missing.push(`the field ${key}`);
  }
  for (const part of call.form) if (!source.includes(`name: '${part}'`)) missing.push(`the multipart part ${part}`);
  return missing;
}

/** How a secret may be written down, computed here independently of core/log.ts. */
function writtenForms(secret: string): string[] {
  return [...new Set([
    secret,
    `'${secret.replace(/'/g, `'\\''`)}'`,
    secret.replace(/'/g, `'\\''`),
    `"${secret.replace(/[\\"$`]/g, '\\$&')}"`,
    secret.replace(/[\\"$`]/g, '\\$&'),
    `$'${secret.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`,
    JSON.stringify(secret),
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
  ])];
}

test('every numbered step is covered and runs under DRY_RUN', async () => {
  assert.ok(STEPS.length >= 25, STEPS.join(' '));
  assert.equal((await hostile).map((r) => r.step), STEPS);
});

test('each step prints only commands whose program and flags are in its own source', async () => {
  for (const run of [...(await hostile), ...(await variants), ...(await apigeeX)]) {
    assert.is(run.exitCode, 0, `${run.step}: ${run.stderr}`);
    const file = join(repoRoot, 'scripts', run.step);
    const source = code(file);
    const commands = printedCommands(run.stdout);
    if (RUNS_NO_PROGRAM.has(run.step)) {
      assert.equal(commands, [], `${run.step} runs no program but printed commands`);
      continue;
    }
    assert.ok(commands.length > 0, `${run.step} printed no command`);

    // Management calls: held by the step (changes) or by the step and its helpers (look-ups).
    const calls = managementCalls(run.stdout);
    const helpers = [...libImports(file)].map(code).join('\n');
    for (const call of calls) {
      assert.is(call.commands.filter((c) => c.startsWith('curl ')).length, 1, `${run.step}: ${call.method} ${call.path} was not printed as one curl`);
      const missing = missingFromSource(call, call.method === 'GET' ? `${source}\n${helpers}` : source);
      assert.equal(missing, [], `${run.step}: ${call.method} ${call.path} is printed, but ${missing.join(', ')} not in ${call.method === 'GET' ? 'the step or its helpers' : 'the step\'s source'}`);
    }
    const printedByClient = new Set(calls.flatMap((c) => c.commands));

    for (const command of commands) {
      assert.not.match(command, '****', `${run.step}: **** inside a command: ${command}`);
      if (printedByClient.has(command)) continue;
      for (const segment of shellSegments(command)) {
        const { program, flags } = programAndFlags(segment);
        for (const word of [program, ...flags]) {
          assert.ok(new RegExp(`(?<![\\w.-])${escape(word)}(?![\\w-])`).test(source), `${run.step}: "${word}" of \`${command.slice(0, 100)}\` is not in the step's source`);
        }
      }
    }
  }
});

test('the Apigee steps print their management calls (both targets), apigeecli for Apigee X', async () => {
  for (const [target, runs] of [['local', await hostile], ['apigee-x', await apigeeX]] as const) {
    const calls = runs.filter((r) => APIGEE_STEPS.includes(r.step)).flatMap((r) => managementCalls(r.stdout).map((c) => ({ ...c, step: r.step })));
    const made = new Set(calls.filter((c) => c.method !== 'GET').map((c) => `${c.step} ${c.method} ${c.path.replace(/^\/organizations\/[^/]+(\/environments\/[^/]+)?/, '')}`));
    for (const expected of ['41-proxy-bundle.ts POST /apis', '42-keystore.ts POST /keystores', '42-keystore.ts POST /keystores/ks-mtls-client/aliases',
      '43-truststore.ts POST /keystores/ts-mtls-ca/aliases', '44-references.ts POST /references', '45-target-server.ts POST /targetservers',
      '46-deploy.ts POST /apis/api-mtls-test/revisions/1/deployments', '49-rotate-certs.ts PUT /references/ks-mtls-client-ref', '99-cleanup.ts DELETE /keystores/ks-mtls-client']) {
      assert.ok(made.has(expected), `${target}: no ${expected} among ${[...made].join('; ')}`);
    }
    const withCli = calls.filter((c) => c.commands.some((l) => l.startsWith('apigeecli ')));
    if (target === 'local') assert.is(withCli.length, 0, 'apigeecli cannot reach the stand-in: shown as a comment only');
    else assert.equal(calls.filter((c) => !withCli.includes(c)).map((c) => `${c.step} ${c.method} ${c.path}`), [], 'apigee-x: calls without apigeecli');
  }
});

test('step 21 numbers its three scenarios 1-3 in a dry run too', async () => {
  const run = (await hostile).find((r) => r.step === '21-direct-scenarios.ts')!;
  assert.equal([...run.stdout.matchAll(/^ {3}(\d+)\. /gm)].map((m) => m[1]), ['1', '2', '3']);
});

test('the node truststore writer says in a comment that Node writes the file (no pseudo-command)', async () => {
  const [run] = await runAll(['13-server-stores.ts'], baseEnv({ STORE_PASSWORD: 'changeit', TRUSTSTORE_WRITER: 'node' }));
  assert.is(run!.exitCode, 0, run!.stderr);
  assert.match(run!.stdout, /^ {3}# 8\. the truststore: no keytool, so Node writes server-truststore\.p12/m);
  assert.equal(printedCommands(run!.stdout).map((c) => c.split(' ').slice(0, 3).join(' ')), ['openssl pkcs12 -export']);
});

/** Every file and folder under `dir` with its size, mtime and content: what a dry run must leave as it was. */
function snapshot(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    const stat = statSync(path);
    entries[name] = stat.isDirectory() ? `dir ${stat.mtimeMs}` : `${stat.size} ${stat.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)}`;
  }
  return entries;
}

test('DRY_RUN writes nothing on a fresh clone: no CERTS_DIR, no RUN_DIR, nothing else in their folder', async () => {
  await hostile;
  assert.equal(readdirSync(dirname(hostileEnv.CERTS_DIR!)), []);
});

test('DRY_RUN changes nothing a real run left in RUN_DIR: recorded scenarios, the rendered bundle and its zip (every step, and 90-summary --clear)', async () => {
  const env = baseEnv({ STORE_PASSWORD: 'changeit' });
  const runDir = env.RUN_DIR!;
  mkdirSync(join(runDir, 'bundle', 'apiproxy'), { recursive: true });
  writeFileSync(join(runDir, 'bundle', 'apiproxy', 'api-mtls-test.xml'), '<APIProxy name="api-mtls-test"/>\n');
  writeFileSync(join(runDir, 'api-mtls-test.zip'), 'an earlier import');
  writeFileSync(join(runDir, 'scenarios.jsonl'), `${JSON.stringify({ scenario: 'direct: earlier', expected: 'curl 0', got: 'HTTP 200', ok: true })}\n`);
  const before = snapshot(runDir);
  for (const run of await runAll(STEPS, env)) assert.is(run.exitCode, 0, `${run.step}: ${run.stderr}`);
  const clear = await execa(join(repoRoot, 'scripts', '90-summary.ts'), ['--clear'], { cwd: repoRoot, env, extendEnv: false, reject: false });
  assert.is(clear.exitCode, 0, clear.stderr);
  assert.equal(snapshot(runDir), before);
});

test('no step prints the password or the token (\', ", $, spaces), in any quoting', async () => {
  for (const run of await hostile) {
    const output = run.stdout + run.stderr;
    assert.match(output, /== /, `${run.step} printed no banner: ${run.stderr}`);
    for (const form of [...writtenForms(HOSTILE_PASSWORD), ...writtenForms(HOSTILE_TOKEN)]) {
      assert.not.ok(output.includes(form), `${run.step} printed the secret as ${form}`);
    }
  }
});

test('no step prints a 2-character password or token', async () => {
  const runs = await runAll(STEPS, baseEnv({ STORE_PASSWORD: 'zQ', APIGEE_TOKEN: 'qX' }));
  for (const run of runs) {
    const output = run.stdout + run.stderr;
    assert.match(output, /== /, `${run.step} printed no banner: ${run.stderr}`);
    assert.not.ok(output.includes('zQ'), `${run.step} printed the 2-character password`);
    assert.not.ok(output.includes('qX'), `${run.step} printed the 2-character token`);
  }
});

test.run();
