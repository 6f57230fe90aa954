// The certificate scripts as a user runs them, in temp CERTS_DIRs: EC keys and a DNS host, the
// keytool-free truststore, re-runs that reuse, FORCE (keeps the CA) and NEW_CA, a SERVER_HOST change, PKCS12_LEGACY, and
// the verify step catching a broken PKI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate, createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync, readdirSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { execa } from 'execa';
import { runCertSteps } from './helpers/fixtures.ts';
import { ALL_FILES } from '../scripts/lib/pki/names.ts';
import { parsePkcs12 } from '../lib/pkcs12.ts';
import { requireCommand } from './helpers/tools.ts';
import { tempDir } from './helpers/temp.ts';
import { GIVEN } from './helpers/printed.ts';
import { fastJvmEnv } from '../scripts/lib/pki/values.ts';

const ALL = ['10-ca', '11-server-cert', '12-client-cert', '13-server-stores', '14-verify-certs'];
const PASSWORD = 'Test-pass-4821';
const env = (dir: string, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0',
  CERTS_DIR: dir, SERVER_HOST: 'backend.example.com', EXTRA_SANS: '10.0.0.7,*.svc.example', STORE_PASSWORD: PASSWORD,
  KEY_TYPE: 'ec', CERT_DAYS: '20', PKCS12_LEGACY: '0', TRUSTSTORE_WRITER: 'node', CLIENT_CN: 'apigee-client', FORCE: '0', DRY_RUN: '0',
  ...extra,
});
const cert = (dir: string, name: string) => new X509Certificate(readFileSync(join(dir, name)));
const digest = (dir: string) => Object.fromEntries(ALL_FILES.map((n) => [n, createHash('sha256').update(readFileSync(join(dir, n))).digest('hex')]));
const dir = tempDir('pki-steps-');
let firstRun: Record<string, string> = {};

test('EC + DNS host + node truststore writer: the 12 files, right SANs and keys, verify passes with a <30-day warning', async () => {
  const run = await runCertSteps(ALL, env(dir));
  assert.is(run.exitCode, 0, run.stderr);
  assert.equal(readdirSync(dir).sort(), [...ALL_FILES].sort());
  const server = cert(dir, 'server-cert.pem');
  assert.is(server.subjectAltName, 'IP Address:10.0.0.7, DNS:backend.example.com, DNS:*.svc.example');
  assert.match(server.subject, /CN=backend\.example\.com/);
  assert.is(server.publicKey.asymmetricKeyType, 'ec');
  assert.is(cert(dir, 'ca-cert.pem').publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(run.stdout, /written by node/);
  assert.match(run.stdout, /expires in 20 days/);
  assert.match(run.stdout, /checks passed, 0 problem/);
  assert.not.match(run.stdout + run.stderr, new RegExp(PASSWORD));
  const trust = parsePkcs12(readFileSync(join(dir, 'server-truststore.p12')), PASSWORD);
  assert.equal(trust.certs.map((c) => [c.friendlyName, c.javaTrusted]).sort(), [['ca', true], ['client', true]]);
  createSecureContext({ pfx: readFileSync(join(dir, 'client-apigee-keystore.p12')), passphrase: PASSWORD });
  firstRun = digest(dir);
});

test('the truststore written without keytool lists as two trustedCertEntry in keytool', async () => {
  requireCommand('keytool');
  const list = await execa('keytool', ['-list', '-keystore', 'server-truststore.p12', '-storetype', 'PKCS12', '-storepass:env', 'STORE_PASSWORD'],
    { cwd: dir, env: { STORE_PASSWORD: PASSWORD, ...fastJvmEnv() } });
  assert.match(list.stdout, /contains 2 entries/);
  assert.match(list.stdout, /^ca,.*trustedCertEntry/m);
  assert.match(list.stdout, /^client,.*trustedCertEntry/m);
});

test('names with UTF-8 and openssl syntax characters (+ \ # $ quotes) reach the certificates as written; verify and a re-run agree', async () => {
  const named = tempDir('pki-names-');
  const names = { SUBJECT_L: 'Bogotá', SUBJECT_O: `O'Brien, Inc. + "Q" #1 $HOME A\\B`, CA_CN: 'Ünïcødé CA ñ', CLIENT_CN: 'clïent+1 \\ #x' };
  const run = await runCertSteps(ALL, env(named, names));
  assert.is(run.exitCode, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /checks passed, 0 problem/);
  const subject = async (file: string) => (await execa('openssl', ['x509', '-in', file, '-noout', '-subject', '-nameopt', 'utf8,sep_multiline'], { cwd: named })).stdout;
  const common = [`    L=${names.SUBJECT_L}`, `    O=${names.SUBJECT_O}`, '    OU=mTLS'];
  for (const [file, cn] of [['ca-cert.pem', names.CA_CN], ['server-cert.pem', 'backend.example.com'], ['apigee-client-cert.pem', names.CLIENT_CN]] as const) {
    const lines = (await subject(file)).split('\n');
    for (const line of [...common, `    CN=${cn}`]) assert.ok(lines.includes(line), `${file}: ${line} not in\n${lines.join('\n')}`);
  }
  const again = await runCertSteps(ALL, env(named, names));
  assert.is(again.exitCode, 0, again.stdout + again.stderr);
  assert.not.match(again.stdout, /re-issu/, 'the client CN read back equals the configured one, so nothing is re-issued');
  assert.not.match(again.stdout, /not applied/, 'the names read back equal the configured ones');
});

test('re-running reuses everything: "using existing", not one byte changed (CA fingerprint kept)', async () => {
  const run = await runCertSteps(ALL, env(dir));
  assert.is(run.exitCode, 0, run.stderr);
  for (const name of ['ca-cert.pem', 'server-cert.pem', 'apigee-client-cert.pem', 'server-keystore.p12', 'server-truststore.p12']) {
    assert.match(run.stdout, new RegExp(`using existing \\S*${name.replace('.', '\\.')}`), name);
  }
  assert.not.match(run.stdout, /openssl genpkey/);
  assert.equal(digest(dir), firstRun);
});

test('CERT_DAYS, SUBJECT_O and CA_CN changed: nothing is re-issued, and each kept certificate says which settings it does not carry', async () => {
  const run = await runCertSteps(ALL, env(dir, { CERT_DAYS: '30', SUBJECT_O: 'OtherCo', CA_CN: 'Other CA' }));
  assert.is(run.exitCode, 0, run.stdout + run.stderr);
  assert.equal(digest(dir), firstRun);
  const notes = run.stdout.split('\n').filter((l) => l.includes('not applied to this certificate'));
  assert.equal(notes.map((l) => l.replace(/^\W+/, '')), [
    'not applied to this certificate, only to a new one: CERT_DAYS=30 (it was issued for 20 days), SUBJECT_O, CA_CN; NEW_CA=1 makes a new one',
    'not applied to this certificate, only to a new one: CERT_DAYS=30 (it was issued for 20 days), SUBJECT_O; FORCE=1 makes a new one',
    'not applied to this certificate, only to a new one: CERT_DAYS=30 (it was issued for 20 days), SUBJECT_O; FORCE=1 makes a new one',
  ], run.stdout);
});

test('SERVER_HOST moves: the server certificate and keystore are re-issued and say why; CA and client kept', async () => {
  const run = await runCertSteps(['10-ca', '11-server-cert', '12-client-cert', '13-server-stores', '14-verify-certs'], env(dir, { SERVER_HOST: '10.20.30.40' }));
  assert.is(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /re-issuing server-cert\.pem: it does not cover 10\.20\.30\.40/);
  assert.match(run.stdout, /rebuilding server-keystore\.p12/);
  assert.ok(cert(dir, 'server-cert.pem').checkIP('10.20.30.40'));
  const now = digest(dir);
  for (const name of ['ca-cert.pem', 'ca-key.pem', 'apigee-client-cert.pem', 'client-apigee-keystore.p12', 'server-truststore.p12']) {
    assert.is(now[name], firstRun[name], `${name} kept`);
  }
  for (const name of ['server-cert.pem', 'server-key.pem', 'san.cnf', 'server-keystore.p12']) assert.is.not(now[name], firstRun[name], `${name} remade`);
});

test('FORCE=1 make certs keeps the CA byte for byte (and says how to replace it); every leaf and store is re-issued from it', async () => {
  const before = digest(dir);
  const fingerprint = cert(dir, 'ca-cert.pem').fingerprint256;
  const run = await runCertSteps(ALL, env(dir, { SERVER_HOST: '10.20.30.40', FORCE: '1' }));
  assert.is(run.exitCode, 0, run.stdout + run.stderr);
  const after = digest(dir);
  assert.is(after['ca-cert.pem'], before['ca-cert.pem'], 'ca-cert.pem kept');
  assert.is(after['ca-key.pem'], before['ca-key.pem'], 'ca-key.pem kept');
  assert.is(cert(dir, 'ca-cert.pem').fingerprint256, fingerprint);
  assert.match(run.stdout, new RegExp(`FORCE=1 keeps the CA \\S+ca-cert\\.pem \\(SHA-256 ${fingerprint.slice(0, 23)}…, expires [^)]+\\)\\): the next steps re-issue the certificates and stores from it; to replace the CA itself: ${GIVEN}NEW_CA=1 make certs$`, 'm'));
  // That line replaces this CA (CERTS_DIR carried on), and FORCE=1, for this run only, is not carried on.
  const replace = run.stdout.split('\n').find((l) => l.includes('to replace the CA itself: '))!.split('to replace the CA itself: ')[1]!;
  assert.ok(replace.includes(`CERTS_DIR=${dir} `), replace);
  assert.not.match(replace, 'FORCE=');
  assert.not.match(run.stdout, /replaces the CA|-out ca-key\.pem/);
  for (const name of ['server-cert.pem', 'server-key.pem', 'server-keystore.p12', 'apigee-client-cert.pem', 'apigee-client-key.pem', 'client-apigee-keystore.p12', 'server-truststore.p12']) {
    assert.is.not(after[name], before[name], `${name} re-issued`);
  }
  const ca = cert(dir, 'ca-cert.pem');
  for (const leaf of ['server-cert.pem', 'apigee-client-cert.pem']) assert.ok(cert(dir, leaf).checkIssued(ca) && cert(dir, leaf).verify(ca.publicKey), `${leaf} issued by the kept CA`);
  assert.match(run.stdout, /checks passed, 0 problem/);
});

test('NEW_CA=1 replaces the CA, says which one goes before it does, and names the stale files; the next run re-issues them', async () => {
  const before = cert(dir, 'ca-cert.pem').fingerprint256;
  const forced = await runCertSteps(['10-ca'], env(dir, { SERVER_HOST: '10.20.30.40', NEW_CA: '1' }));
  assert.is(forced.exitCode, 0, forced.stderr);
  assert.is.not(cert(dir, 'ca-cert.pem').fingerprint256, before);
  // Said before the new CA is made, naming the one that goes.
  const replaced = forced.stdout.indexOf(`! NEW_CA=1 replaces the CA `);
  assert.ok(replaced >= 0 && replaced < forced.stdout.indexOf('$ openssl genpkey'), forced.stdout);
  assert.match(forced.stdout, new RegExp(`NEW_CA=1 replaces the CA \\S+ca-cert\\.pem \\(SHA-256 ${before.slice(0, 23)}…, expires \\d{4}-\\d\\d-\\d\\d \\(\\d+ days\\)\\) and its key, which cannot be recovered`));
  assert.match(forced.stdout, /now stale: server-cert\.pem, server-keystore\.p12, apigee-client-cert\.pem, client-apigee-keystore\.p12, server-truststore\.p12/);
  const verifyStale = await runCertSteps(['14-verify-certs'], env(dir, { SERVER_HOST: '10.20.30.40' }));
  assert.is(verifyStale.exitCode, 1);
  assert.match(verifyStale.stderr, /issued by ca-cert\.pem/);
  const rerun = await runCertSteps(ALL.slice(1), env(dir, { SERVER_HOST: '10.20.30.40' }));
  assert.is(rerun.exitCode, 0, rerun.stderr);
  assert.match(rerun.stdout, /re-issuing server-cert\.pem: it was not issued by the current CA/);
  assert.match(rerun.stdout, /re-issuing apigee-client-cert\.pem: it was not issued by the current CA/);
});

test('PKCS12_LEGACY=1: keystores and truststore use 3DES + SHA-1 MAC and still load in Node and openssl without -legacy', async () => {
  const legacyDir = tempDir('pki-legacy-');
  const run = await runCertSteps(ALL, env(legacyDir, { PKCS12_LEGACY: '1', TRUSTSTORE_WRITER: 'auto', SERVER_HOST: '127.0.0.1', EXTRA_SANS: '' }));
  assert.is(run.exitCode, 0, run.stderr);
  for (const file of ['server-keystore.p12', 'client-apigee-keystore.p12', 'server-truststore.p12']) {
    const info = await execa('openssl', ['pkcs12', '-info', '-in', file, '-noout', '-password', 'env:STORE_PASSWORD'], { cwd: legacyDir, env: { STORE_PASSWORD: PASSWORD }, reject: false });
    assert.is(info.exitCode, 0, `${file}: ${info.stderr}`);
    assert.match(info.stderr + info.stdout, /MAC: sha1/, file);
    assert.match(info.stderr + info.stdout, /pbeWithSHA1And3-KeyTripleDES-CBC/, file);
    assert.not.match(info.stderr + info.stdout, /PBES2|RC2/, file);
  }
  createSecureContext({ pfx: readFileSync(join(legacyDir, 'server-keystore.p12')), passphrase: PASSWORD });
});

test('verify exits non-zero and names the problem: swapped keystore, key readable by others', async () => {
  const broken = tempDir('pki-broken-');
  for (const name of ALL_FILES) copyFileSync(join(dir, name), join(broken, name));
  copyFileSync(join(dir, 'server-keystore.p12'), join(broken, 'client-apigee-keystore.p12'));
  chmodSync(join(broken, 'apigee-client-key.pem'), 0o644);
  const run = await runCertSteps(['14-verify-certs'], env(broken, { SERVER_HOST: '10.20.30.40' }));
  assert.is(run.exitCode, 1);
  assert.match(run.stderr, /client-apigee-keystore\.p12: no key entry "client"/);
  assert.match(run.stderr, /apigee-client-key\.pem is private to its owner \(mode 0644\)/);
  assert.match(run.stderr, /2 problem\(s\)/);
});

test('KEY_TYPE changes: the leaf certificates are re-issued with the new key type and say why; the CA stays, with a warning', async () => {
  const run = await runCertSteps(ALL, env(dir, { SERVER_HOST: '10.20.30.40', KEY_TYPE: 'rsa' }));
  assert.is(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /re-issuing server-cert\.pem: its key is EC, KEY_TYPE=rsa asks for RSA/);
  assert.match(run.stdout, /re-issuing apigee-client-cert\.pem: its key is EC, KEY_TYPE=rsa asks for RSA/);
  assert.match(run.stdout, new RegExp(String.raw`! ca-key\.pem is EC, not RSA \(KEY_TYPE=rsa\): the CA stays \(it signs either\); ${GIVEN}NEW_CA=1 \./scripts/10-ca\.ts makes a new one`));
  // The new CA it names is an RSA one, in this CERTS_DIR.
  assert.match(run.stdout, new RegExp(String.raw`\(it signs either\); (?:\S+ )*KEY_TYPE=rsa (?:\S+ )*NEW_CA=1 \./scripts/10-ca\.ts`));
  assert.ok(run.stdout.split('(it signs either); ')[1]!.split(' makes a new one')[0]!.includes(`CERTS_DIR=${dir} `), run.stdout);
  for (const name of ['server-cert.pem', 'apigee-client-cert.pem']) assert.is(cert(dir, name).publicKey.asymmetricKeyType, 'rsa', name);
  assert.is(cert(dir, 'ca-cert.pem').publicKey.asymmetricKeyType, 'ec');
});

test.run();
