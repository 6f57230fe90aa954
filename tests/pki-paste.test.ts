// What the certificate steps print is what they run: steps 10–13 make a PKI, their printed
// commands are pasted into bash in an empty folder (after the printed STORE_PASSWORD line, with the
// password typed on stdin as a reader would), and 14-verify-certs accepts the result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { runCertSteps } from './helpers/fixtures.ts';
import { pastedScript, printedCommands } from './helpers/printed.ts';
import { requireCommand } from './helpers/tools.ts';
import { tempDir } from './helpers/temp.ts';
import { ALL_FILES } from '../scripts/lib/pki/names.ts';

const PASSWORD = `pa$te it's "me"`;
const env = (dir: string) => ({
  PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0',
  CERTS_DIR: dir, SERVER_HOST: 'backend.example.com', EXTRA_SANS: '10.1.2.3', STORE_PASSWORD: PASSWORD,
  KEY_TYPE: 'ec', CERT_DAYS: '90', PKCS12_LEGACY: '0', TRUSTSTORE_WRITER: 'auto', CLIENT_CN: 'apigee-client', FORCE: '0', DRY_RUN: '0',
});

test('steps 10–13 printed commands, pasted into bash in an empty folder, make stores 14-verify-certs accepts', async () => {
  requireCommand('keytool'); // the truststore commands printed are keytool's when Java is installed
  const made = await runCertSteps(['10-ca', '11-server-cert', '12-client-cert', '13-server-stores'], env(tempDir('paste-kit-')));
  assert.is(made.exitCode, 0, made.stderr);

  const hint = /^ {3}# {3}(read -rs STORE_PASSWORD && export STORE_PASSWORD)$/m.exec(made.stdout);
  assert.ok(hint, 'the steps say how to set STORE_PASSWORD before the commands that read it');
  assert.ok(made.stdout.indexOf(hint![0]) < made.stdout.indexOf('env:STORE_PASSWORD'), 'the hint comes before the first command that needs it');
  const commands = printedCommands(made.stdout);
  // A line is printed as a reader would type it: no stray space where an optional part is empty.
  assert.equal(commands.filter((c) => c !== c.trimEnd()), [], 'printed commands end without trailing spaces');
  assert.equal(commands.map((c) => c.split(' ').slice(0, 2).join(' ')), [
    'openssl genpkey', 'openssl req', 'cat >', 'openssl genpkey', 'openssl req', 'openssl x509',
    'openssl genpkey', 'openssl req', 'openssl x509', 'openssl pkcs12', 'openssl pkcs12', 'keytool -importcert', 'keytool -importcert',
  ]);

  // A reader's shell: no STORE_PASSWORD until they follow the hint and type it.
  const pasted = tempDir('paste-reader-');
  writeFileSync(join(pasted, 'pasted.sh'), ['set -e', hint![1], ...commands, ''].join('\n'));
  const shell = await execa('bash', ['pasted.sh'], { cwd: pasted, input: `${PASSWORD}\n`, env: { PATH: process.env.PATH ?? '', HOME: pasted }, extendEnv: false, reject: false });
  assert.is(shell.exitCode, 0, String(shell.stderr));
  assert.equal(readdirSync(pasted).filter((f) => f !== 'pasted.sh').sort(), [...ALL_FILES].sort());

  const verify = await runCertSteps(['14-verify-certs'], env(pasted));
  assert.is(verify.exitCode, 0, verify.stderr + verify.stdout);
  assert.match(verify.stdout, /checks passed, 0 problem\(s\)/);
});

test('a CERTS_DIR not made yet: the printed mkdir comes first, and the lines pasted from the folder above (cd where a note says) make the CA', async () => {
  const parent = tempDir('paste-fresh-');
  const made = await runCertSteps(['10-ca'], { ...env(join(parent, 'certs')), DRY_RUN: '1' });
  assert.is(made.exitCode, 0, made.stderr);
  assert.not.ok(existsSync(join(parent, 'certs')), 'DRY_RUN makes nothing');
  const script = pastedScript(made.stdout);
  assert.match(script, new RegExp(`^mkdir -p ${join(parent, 'certs')}\\n`), script);
  const shell = await execa('bash', ['-e', '-c', script], { cwd: parent, env: { PATH: process.env.PATH ?? '', HOME: parent }, extendEnv: false, reject: false });
  assert.is(shell.exitCode, 0, String(shell.stderr));
  assert.equal(readdirSync(join(parent, 'certs')).sort(), ['ca-cert.pem', 'ca-key.pem']);
});

test('a rebuilt truststore (FORCE=1): the printed lines, pasted in CERTS_DIR over the old stores, make stores 14-verify-certs accepts', async () => {
  requireCommand('keytool');
  const dir = tempDir('paste-rebuild-');
  const made = await runCertSteps(['10-ca', '11-server-cert', '12-client-cert', '13-server-stores'], env(dir));
  assert.is(made.exitCode, 0, made.stderr);
  const rebuilt = await runCertSteps(['13-server-stores'], { ...env(dir), FORCE: '1' });
  assert.is(rebuilt.exitCode, 0, rebuilt.stderr);
  const commands = printedCommands(rebuilt.stdout);
  assert.is(commands.filter((c) => c.startsWith('keytool -importcert')).length, 2, rebuilt.stdout);
  // A reader's shell in CERTS_DIR, where the old stores are, with the password they typed.
  const shell = await execa('bash', ['-e', '-c', commands.join('\n')], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, STORE_PASSWORD: PASSWORD }, extendEnv: false, reject: false });
  assert.is(shell.exitCode, 0, String(shell.stderr));
  const verify = await runCertSteps(['14-verify-certs'], env(dir));
  assert.is(verify.exitCode, 0, verify.stderr + verify.stdout);
});

test.run();
