// The certificate scripts refusing bad input and missing tools: one clear line, exit != 0, and
// nothing written. Also DRY_RUN, an interrupted step, a failing command, the CA that is never
// replaced without FORCE, and the one-process runner behind `make certs`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { isolated } from './helpers/isolation.ts';
import { pkiFixture, runCertSteps } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';
import { repoRoot } from '../core/config.ts';
import { GIVEN } from './helpers/printed.ts';

const { pki } = await pkiFixture();
const ALL = ['10-ca', '11-server-cert', '12-client-cert', '13-server-stores', '14-verify-certs'];
const env = (dir: string, extra: Record<string, string> = {}) => isolated({
  PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0',
  CERTS_DIR: dir, SERVER_HOST: '127.0.0.1', EXTRA_SANS: 'localhost', STORE_PASSWORD: 'changeit', KEY_TYPE: 'ec',
  CERT_DAYS: '30', PKCS12_LEGACY: '0', TRUSTSTORE_WRITER: 'auto', FORCE: '0', DRY_RUN: '0', ...extra,
});
const opensslPath = (await execa('sh', ['-c', 'command -v openssl'])).stdout.trim();

/** A PATH folder with openssl only (no keytool), or a fake openssl given as a shell script body. */
function binDir(fakeOpenssl?: string): string {
  const bin = tempDir('pki-bin-');
  if (fakeOpenssl) writeFileSync(join(bin, 'openssl'), `#!/bin/sh\n${fakeOpenssl}\nexec ${opensslPath} "$@"\n`, { mode: 0o755 });
  else symlinkSync(opensslPath, join(bin, 'openssl'));
  return bin;
}

// Every invalid value's message is covered in config.test.ts; here two of them show that a step
// stops on them before writing anything (the same runStep path serves every variable).
const badSettings: Array<[string, string, RegExp]> = [
  ['SERVER_HOST', 'not a host!', /invalid setting SERVER_HOST: must be an IP address or a DNS name/],
  ['STORE_PASSWORD', '', /invalid setting STORE_PASSWORD: must not be empty/],
];
// Started together up front: each is a whole Node start-up that fails fast.
const badRuns = badSettings.map(([name, value]) => {
  const dir = join(tempDir('pki-bad-'), 'certs');
  return { dir, run: runCertSteps(['10-ca'], env(dir, { [name]: value })) };
});
badSettings.forEach(([name, value, message], i) => {
  test(`ConfigError: ${name}=${JSON.stringify(value)} → one line, exit 2, nothing written`, async () => {
    const { dir, run } = badRuns[i]!;
    const result = await run;
    assert.is(result.exitCode, 2);
    assert.match(result.stderr, message);
    assert.is(result.stderr.trim().split('\n').length, 1);
    assert.not.ok(existsSync(dir), 'CERTS_DIR must not be created');
  });
});

test('MissingToolError: no openssl on PATH → exit 127 with the install command, nothing written', async () => {
  const dir = join(tempDir('pki-noossl-'), 'certs');
  const run = await runCertSteps(['10-ca'], env(dir, { PATH: tempDir('pki-empty-bin-') }));
  assert.is(run.exitCode, 127);
  assert.match(run.stderr, /openssl not found on PATH; install it with: apt-get install openssl/);
  assert.not.ok(existsSync(dir));
});

function copyPkiWithoutStores(): string {
  const dir = tempDir('pki-copy-');
  for (const name of readdirSync(pki)) if (!name.endsWith('.p12')) copyFileSync(join(pki, name), join(dir, name));
  return dir;
}

test('MissingToolError: TRUSTSTORE_WRITER=keytool without keytool → exit 127, no store written', async () => {
  const dir = copyPkiWithoutStores();
  const run = await runCertSteps(['13-server-stores'], env(dir, { PATH: binDir(), TRUSTSTORE_WRITER: 'keytool' }));
  assert.is(run.exitCode, 127);
  assert.match(run.stderr, /keytool not found on PATH; install it with: apt-get install openjdk/);
  assert.not.ok(existsSync(join(dir, 'server-truststore.p12')));
  assert.not.ok(existsSync(join(dir, 'server-keystore.p12')));
});

test('StepError: keytool refusing a 5-character STORE_PASSWORD is named by keytool\'s own line (not the JVM\'s "Picked up" notice), no store written', async () => {
  const dir = copyPkiWithoutStores();
  const run = await runCertSteps(['13-server-stores'], env(dir, { TRUSTSTORE_WRITER: 'keytool', STORE_PASSWORD: 'abcde' }));
  assert.is(run.exitCode, 1, run.stdout);
  assert.match(run.stderr, /^✗ keytool -importcert .* failed \(exit 1\): keytool error: java\.lang\.Exception: Keystore password must be at least 6 characters$/);
  assert.not.ok(existsSync(join(dir, 'server-truststore.p12')));
  assert.not.ok(existsSync(join(dir, 'server-keystore.p12')));
});

test('TRUSTSTORE_WRITER=auto without keytool falls back to node:crypto', async () => {
  const dir = copyPkiWithoutStores();
  const run = await runCertSteps(['13-server-stores'], env(dir, { PATH: binDir() }));
  assert.is(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /written by node/);
  assert.ok(existsSync(join(dir, 'server-truststore.p12')));
});

test('StepError: the server step without a CA says to run step 10 first and writes nothing', async () => {
  const dir = tempDir('pki-noca-');
  const run = await runCertSteps(['11-server-cert'], env(dir));
  assert.is(run.exitCode, 1);
  assert.match(run.stderr, /ca-cert\.pem is missing or unreadable; run scripts\/10-ca\.ts first/);
  assert.equal(readdirSync(dir), []);
});

test('StepError: 14-verify-certs on a missing folder says the folder is missing', async () => {
  const dir = join(tempDir('pki-gone-'), 'certs');
  const run = await runCertSteps(['14-verify-certs'], env(dir));
  assert.is(run.exitCode, 1);
  assert.is(run.stderr.trim().split('\n').length, 1);
  assert.match(run.stderr, new RegExp(String.raw`pki-gone-\w+/certs does not exist: make the certificates first \(${GIVEN}make certs\)`));
});

test('StepError: the CA is never replaced when its key is missing (without NEW_CA)', async () => {
  const dir = tempDir('pki-nokey-');
  copyFileSync(join(pki, 'ca-cert.pem'), join(dir, 'ca-cert.pem'));
  const run = await runCertSteps(['10-ca'], env(dir));
  assert.is(run.exitCode, 1);
  assert.match(run.stderr, /ca-cert\.pem exists but ca-key\.pem is missing; restore it, or run with NEW_CA=1 to make a new CA/);
  assert.equal(readFileSync(join(dir, 'ca-cert.pem')), readFileSync(join(pki, 'ca-cert.pem')));
  assert.equal(readdirSync(dir), ['ca-cert.pem']);
});

test('DRY_RUN=1 prints every command (password masked) and writes nothing', async () => {
  const dir = join(tempDir('pki-dry-'), 'certs');
  const run = await runCertSteps(ALL, env(dir, { DRY_RUN: '1', STORE_PASSWORD: 'Very-secret-77' }));
  assert.is(run.exitCode, 0, run.stderr);
  for (const command of ['openssl genpkey', 'openssl req -x509', 'openssl x509 -req', 'openssl pkcs12 -export', 'openssl verify']) {
    assert.ok(run.stdout.includes(`$ ${command}`), command);
  }
  assert.match(run.stdout, /DRY_RUN: printed only/);
  assert.not.match(run.stdout, /Very-secret-77/);
  assert.not.ok(existsSync(dir));
});

test('StepError: a failing openssl command leaves no half-made files and no staging folder', async () => {
  const dir = tempDir('pki-fail-');
  for (const name of ['ca-cert.pem', 'ca-key.pem']) copyFileSync(join(pki, name), join(dir, name));
  const bin = binDir('if [ "$1" = x509 ]; then echo "simulated signing failure" >&2; exit 1; fi');
  const run = await runCertSteps(['11-server-cert'], env(dir, { PATH: `${bin}:${process.env.PATH}` }));
  assert.is(run.exitCode, 1);
  assert.match(run.stderr, /openssl x509 -req .* failed \(exit 1\): simulated signing failure/);
  assert.equal(readdirSync(dir).sort(), ['ca-cert.pem', 'ca-key.pem']);
});

function copyPki(): string {
  const dir = tempDir('pki-whole-');
  for (const name of readdirSync(pki)) copyFileSync(join(pki, name), join(dir, name));
  return dir;
}
const bytesOf = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((n) => [n, statSync(join(dir, n)).isFile() ? readFileSync(join(dir, n)).toString('base64') : 'dir']));

test('StepError: a directory where a certificate step keeps a file → one line, exit 1, no file replaced (not a new key beside the old certificate)', async () => {
  const dir = copyPki();
  rmSync(join(dir, 'apigee-client-cert.pem'));
  mkdirSync(join(dir, 'apigee-client-cert.pem'));
  const before = bytesOf(dir);
  const run = await runCertSteps(['12-client-cert'], env(dir));
  assert.is(run.exitCode, 1, run.stdout);
  assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /pki-whole-\w+\/apigee-client-cert\.pem is a directory, where the certificate steps keep a file; move it away and re-run/);
  assert.equal(bytesOf(dir), before);
  // The verify step names it too, instead of failing on the read of a directory.
  rmSync(join(dir, 'apigee-client-cert.pem'), { recursive: true });
  copyFileSync(join(pki, 'apigee-client-cert.pem'), join(dir, 'apigee-client-cert.pem'));
  rmSync(join(dir, 'server-keystore.p12'));
  mkdirSync(join(dir, 'server-keystore.p12'));
  const verify = await runCertSteps(['14-verify-certs'], env(dir, { KEY_TYPE: 'rsa' }));
  assert.is(verify.exitCode, 1);
  assert.match(verify.stderr, /server-keystore\.p12: it is not a file \(a directory\?\)/);
});

test('StepError: a CA key readable by others is not reused: the chmod to run, exit 1, nothing written', async () => {
  const dir = tempDir('pki-mode-');
  for (const name of ['ca-cert.pem', 'ca-key.pem']) copyFileSync(join(pki, name), join(dir, name));
  chmodSync(join(dir, 'ca-key.pem'), 0o644);
  for (const step of ['10-ca', '11-server-cert']) {
    const run = await runCertSteps([step], env(dir));
    assert.is(run.exitCode, 1, step);
    assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, new RegExp(String.raw`ca-key\.pem holds a private key and is readable by others \(mode 0644\); run chmod 600 \S+/ca-key\.pem and re-run \(if someone may have copied it, make a new CA instead: ${GIVEN}NEW_CA=1 make certs\)`));
    assert.equal(readdirSync(dir).sort(), ['ca-cert.pem', 'ca-key.pem'], step);
  }
});

/** The fixture CA's key and subject with validity dates chosen by `openssl ca -selfsign` (the only CLI way in OpenSSL 3.0). */
async function reDatedCa(dir: string, start: string, end: string): Promise<void> {
  const work = tempDir('pki-ca-dates-');
  writeFileSync(join(work, 'index.txt'), '');
  writeFileSync(join(work, 'ca.cnf'), ['[ ca ]', 'default_ca = c', '[ c ]', `database = ${join(work, 'index.txt')}`, `new_certs_dir = ${work}`,
    'rand_serial = yes', 'default_md = sha256', 'policy = any', 'unique_subject = no', '[ any ]', 'commonName = supplied',
    '[ ca_ext ]', 'basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign', ''].join('\n'));
  await execa('openssl', ['req', '-new', '-key', join(dir, 'ca-key.pem'), '-subj', '/CN=Demo mTLS CA', '-out', join(work, 'ca.csr')]);
  await execa('openssl', ['ca', '-batch', '-notext', '-selfsign', '-config', join(work, 'ca.cnf'), '-keyfile', join(dir, 'ca-key.pem'),
    '-extensions', 'ca_ext', '-startdate', start, '-enddate', end, '-in', join(work, 'ca.csr'), '-out', join(dir, 'ca-cert.pem')]);
}

test('StepError: an expired CA signs nothing: steps 10, 11 and 12 stop with what to do (FORCE=1 too), nothing issued from it', async () => {
  const dir = copyPki();
  await reDatedCa(dir, '20240101000000Z', '20250101000000Z');
  const before = bytesOf(dir);
  for (const [step, force] of [['10-ca', '0'], ['10-ca', '1'], ['11-server-cert', '0'], ['12-client-cert', '1']] as const) {
    const run = await runCertSteps([step], env(dir, { FORCE: force }));
    assert.is(run.exitCode, 1, step);
    assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, new RegExp(String.raw`ca-cert\.pem expired on 2025-01-01: nothing it signs would be trusted; make a new CA with ${GIVEN}NEW_CA=1 make certs `), step);
    assert.equal(bytesOf(dir), before, step);
  }
});

test('StepError: OpenSSL older than 3 is named (asked only after a command failed), nothing written', async () => {
  const dir = join(tempDir('pki-old-'), 'certs');
  const bin = binDir('if [ "$1" = version ]; then echo "OpenSSL 1.1.1w  11 Sep 2023"; exit 0; fi\necho "genpkey: Unknown option: -quiet" >&2; exit 1');
  const run = await runCertSteps(['10-ca'], env(dir, { PATH: `${bin}:${process.env.PATH}` }));
  assert.is(run.exitCode, 1);
  assert.match(run.stderr, /OpenSSL 1\.1\.1w .*is too old; OpenSSL 3\.0 or newer is needed \(apt-get install openssl\)/);
  assert.not.ok(existsSync(join(dir, 'ca-key.pem')));
});

/** scripts/run-steps.ts, the one-process runner, started as `make certs` starts it: through its shebang. */
const runSteps = (args: string[], stepEnv: Record<string, string>) =>
  execa(join(repoRoot, 'scripts', 'run-steps.ts'), args, { cwd: repoRoot, env: isolated(stepEnv), extendEnv: false, reject: false });

test('run-steps: --dry-run reaches every step, in the order given; nothing written', async () => {
  const dir = join(tempDir('pki-runner-dry-'), 'certs');
  const run = await runSteps([...ALL, '--dry-run'], env(dir));
  assert.is(run.exitCode, 0, String(run.stderr));
  const banners = ['Certificate authority', 'Server certificate', 'Apigee client certificate', 'Server keystore and truststore', 'Verify the certificates'];
  const at = banners.map((b) => String(run.stdout).indexOf(b));
  assert.ok(at.every((i, n) => i >= 0 && (n === 0 || i > at[n - 1]!)), `banners in order: ${at.join(', ')}`);
  assert.is(String(run.stdout).match(/DRY_RUN: printed only/g)?.length, 5);
  assert.not.ok(existsSync(dir));
});

test('run-steps: StepError in the first step stops the rest (exit 1, later banners absent)', async () => {
  const dir = tempDir('pki-runner-fail-');
  const run = await runSteps(['11-server-cert', '12-client-cert'], env(dir));
  assert.is(run.exitCode, 1);
  assert.match(String(run.stderr), /ca-cert\.pem is missing or unreadable; run scripts\/10-ca\.ts first/);
  assert.not.match(String(run.stdout), /Apigee client certificate/);
  assert.equal(readdirSync(dir), []);
});

test('run-steps: an unknown step name → one line, exit 2, no step runs', async () => {
  const dir = tempDir('pki-runner-bad-');
  const run = await runSteps(['10-ca', '15-nope'], env(dir));
  assert.is(run.exitCode, 2);
  assert.is(String(run.stderr).trim(), '✗ no such step: 15-nope; usage: scripts/run-steps.ts 10-ca 11-server-cert … [--force] [--dry-run]');
  assert.is(String(run.stdout), '');
  assert.equal(readdirSync(dir), []);
});

test('Ctrl-C in the middle of a step leaves nothing behind', async () => {
  const dir = join(tempDir('pki-int-'), 'certs');
  // The fake openssl blocks on `req` until its stdin closes, i.e. until the step is gone.
  const bin = binDir('if [ "$1" = req ]; then cat >/dev/null; exit 1; fi');
  mkdirSync(dir);
  const child = execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', '10-ca.ts')],
    { cwd: repoRoot, env: env(dir, { PATH: `${bin}:${process.env.PATH}` }), extendEnv: false, reject: false });
  await new Promise<void>((resolve) => {
    let seen = '';
    child.stdout?.on('data', (d: Buffer) => {
      seen += d;
      if (seen.includes('$ openssl req')) resolve();
    });
  });
  child.kill('SIGINT');
  const result = await child;
  assert.is(result.exitCode, 130);
  assert.equal(readdirSync(dir), []);
});

test.run();
