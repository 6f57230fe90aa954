// Secrets in output (core/log.ts): in a command a secret becomes "${VAR}", which bash expands to
// the same value, so the printed line stays the command that ran; in any other line each written
// form of a secret (as is, shell-quoted, JSON, URL) becomes ****, whatever its characters and
// length; a short secret inside an ordinary word is left alone (it reveals nothing there).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addSecret, formatCommand, mask, shellQuote } from '../core/log.ts';
import { commandFailure, setupShell, $ } from '../scripts/lib/shell.ts';
import { withGiven } from './helpers/printed.ts';

const PASSWORD = `it's "a" $x y\\z`;
addSecret(PASSWORD, 'STORE_PASSWORD');
addSecret('zQ', 'SHORT_SECRET');
addSecret('Tk');

test('a secret in an argument is written as "${VAR}"; bash gets back the exact value', async () => {
  const argv = ['printf', '%s|', `SERVER_SSL_KEYSTOREPASSWORD=${PASSWORD}`, 'zQ', 'a=zQ', 'xzQy'];
  const line = formatCommand(argv);
  assert.is(line, `printf '%s|' SERVER_SSL_KEYSTOREPASSWORD="\${STORE_PASSWORD}" "\${SHORT_SECRET}" a="\${SHORT_SECRET}" xzQy`);
  const r = await execa('bash', ['-c', line], { env: { STORE_PASSWORD: PASSWORD, SHORT_SECRET: 'zQ' } });
  assert.is(r.stdout, `SERVER_SSL_KEYSTOREPASSWORD=${PASSWORD}|zQ|a=zQ|xzQy|`);
});

test('NAME=value quotes only the value: still an assignment before a command, the same word as an argument', async () => {
  const line = formatCommand(['SERVER_SSL_KEYSTORE=/my certs/ks.p12', 'bash', '-c', 'printf %s "$SERVER_SSL_KEYSTORE|$1"', '-', "x=it's"]);
  assert.is(line, `SERVER_SSL_KEYSTORE='/my certs/ks.p12' bash -c 'printf %s "$SERVER_SSL_KEYSTORE|$1"' - x='it'\\''s'`);
  const r = await execa('bash', ['-c', line]);
  assert.is(r.stdout, "/my certs/ks.p12|x=it's");
});

test('a secret without a variable becomes **** (never its value)', () => {
  assert.is(shellQuote('Bearer Tk'), `'Bearer '****`);
});

test('free text: every written form of the secret is masked', () => {
  const forms = [
    PASSWORD,
    `'${PASSWORD.replace(/'/g, `'\\''`)}'`,
    `"${PASSWORD.replace(/[\\"$`]/g, '\\$&')}"`,
    `$'${PASSWORD.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`,
    JSON.stringify({ password: PASSWORD }),
    `https://x.example/?p=${encodeURIComponent(PASSWORD)}`,
  ];
  for (const form of forms) {
    const masked = mask(`before ${form} after`);
    assert.not.ok(masked.includes(PASSWORD), masked);
    assert.match(masked, '****', form);
  }
});

test('a 2-character secret is masked as a value, kept inside ordinary words', () => {
  assert.is(mask('password zQ, pass:zQ, "zQ", =zQ&'), 'password ****, pass:****, "****", =****&');
  assert.is(mask('xzQy and Tkt stay'), 'xzQy and Tkt stay');
});

test('a failing command: its line and its last stderr line reach the error with the secret masked', async () => {
  setupShell({ dryRun: false, env: { STORE_PASSWORD: PASSWORD, SHORT_SECRET: 'zQ' } });
  const failed = await $`bash -c ${'echo "bad password: $STORE_PASSWORD" >&2; exit 3'}`.catch((error: unknown) => error);
  const error = await commandFailure(failed);
  assert.ok(error);
  assert.is(error!.message, `bash -c 'echo "bad password: $STORE_PASSWORD" >&2; exit 3' failed (exit 3): bad password: ****`);
});

test('gcloud behind a NAME=value prefix is still read as gcloud: its error becomes the fix, not its last line', async () => {
  // A stand-in for gcloud that fails as gcloud does without a signed-in account.
  const bin = mkdtempSync(join(tmpdir(), 'fake-gcloud-'));
  writeFileSync(join(bin, 'gcloud'), `#!/bin/sh
printf 'ERROR: (gcloud.auth.print-access-token) You do not currently have an active account selected.\\nPlease run:\\n\\n  $ gcloud auth login\\n\\nto select an already authenticated account to use.\\n' >&2
exit 1
`, { mode: 0o755 });
  // A setting from the environment goes on the step the fix names (scripts/lib/follow-up.ts); the
  // runner may give others (LOCAL_ENV_FILE), hence {given}.
  process.env.GCP_PROJECT = 'demo-proj';
  try {
    setupShell({ dryRun: false, env: { PATH: `${bin}:${process.env.PATH}` } });
    const failed = await $`CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token`.catch((error: unknown) => error);
    const error = await commandFailure(failed);
    assert.match(error!.message, withGiven('CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token failed (exit 1): gcloud has no signed-in account; run `gcloud auth login` (then {given}./scripts/30-gcp-preflight.ts checks the rest)'));
    assert.match(error!.message, / GCP_PROJECT=demo-proj (?:\S+ )*\.\/scripts\/30-gcp-preflight\.ts /);
  } finally {
    delete process.env.GCP_PROJECT;
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
