// The typed config: precedence (process env > env/local.env > env/defaults.env) and one clear
// error per invalid value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, isDnsName, repoRoot, settingSource } from '../core/config.ts';
import { tempDir } from './helpers/temp.ts';

function fakeRoot(local?: string): string {
  const root = tempDir('cfg-');
  mkdirSync(join(root, 'env'));
  copyFileSync(join(repoRoot, 'env', 'defaults.env'), join(root, 'env', 'defaults.env'));
  if (local !== undefined) writeFileSync(join(root, 'env', 'local.env'), local);
  return root;
}

test('defaults describe the local target', () => {
  const c = loadConfig({ env: {}, root: fakeRoot(), argv: [] });
  assert.is(c.pki.serverHost, '127.0.0.1');
  assert.ok(c.pki.serverHostIsIp);
  assert.is(c.pki.keyType, 'rsa');
  assert.is(c.pki.certDays, 365);
  assert.is(c.pki.storePassword, 'changeit');
  assert.equal(c.pki.subject, { C: 'CO', ST: 'Bogota', L: 'Bogota', O: 'DemomTLSCompany', OU: 'mTLS' });
  assert.is(c.apigee.target, 'local');
  assert.is(c.dryRun, false);
  assert.is(c.gcp.region, 'us-central1');
});

test('env/local.env overrides defaults and the process environment overrides both', () => {
  const root = fakeRoot('SERVER_HOST=backend.example.com\nCERT_DAYS=30\n');
  const fromFile = loadConfig({ env: {}, root, argv: [] });
  assert.is(fromFile.pki.serverHost, 'backend.example.com');
  assert.not.ok(fromFile.pki.serverHostIsIp);
  assert.is(fromFile.pki.certDays, 30);
  const fromEnv = loadConfig({ env: { SERVER_HOST: '10.0.0.5', CERTS_DIR: '/x/pki' }, root, argv: [] });
  assert.is(fromEnv.pki.serverHost, '10.0.0.5');
  assert.is(fromEnv.pki.certsDir, '/x/pki');
  assert.is(fromEnv.pki.certDays, 30);
  assert.equal(fromEnv.sources, ['env/defaults.env', 'env/local.env']);
});

test('LOCAL_ENV_FILE names the overrides file instead of env/local.env (the suite points it at a missing file)', () => {
  const root = fakeRoot('SERVER_HOST=backend.example.com\n');
  const other = join(tempDir('cfg-other-'), 'other.env');
  writeFileSync(other, 'SERVER_HOST=10.9.8.7\n');
  assert.is(loadConfig({ env: { LOCAL_ENV_FILE: other }, root, argv: [] }).pki.serverHost, '10.9.8.7');
  assert.is(loadConfig({ env: { LOCAL_ENV_FILE: join(root, 'missing.env') }, root, argv: [] }).pki.serverHost, '127.0.0.1', 'the checkout\'s env/local.env was read');
});

test('messages name the overrides file actually read: LOCAL_ENV_FILE\'s (relative to the repository when inside it, else absolute), env/local.env by default', () => {
  const root = fakeRoot('SERVER_HOST=backend.example.com\n');
  const outside = join(tempDir('cfg-other-'), 'other.env');
  mkdirSync(join(root, 'conf'));
  const inside = join(root, 'conf', 'mine.env');
  for (const [file, named] of [[outside, outside], [inside, 'conf/mine.env']] as const) {
    writeFileSync(file, 'CERT_DAYS=30\nBACKEND_PORTT=1\n');
    const env = { LOCAL_ENV_FILE: file };
    const error = (() => { try { loadConfig({ env, root, argv: [] }); } catch (e) { return e; } })();
    assert.instance(error, ConfigError, file);
    assert.match((error as ConfigError).message, `BACKEND_PORTT: is set in ${named}, but no setting has that name`);
    writeFileSync(file, 'CERT_DAYS=30\nPORT=1\n');
    const spring = (() => { try { loadConfig({ env, root, argv: [] }); } catch (e) { return e; } })();
    assert.match((spring as ConfigError).message, `or set the kit's own setting in ${named} (BACKEND_PORT`);
    writeFileSync(file, 'CERT_DAYS=30\n');
    const config = loadConfig({ env, root, argv: [] });
    assert.is(config.localEnv, named);
    assert.equal(config.sources, ['env/defaults.env', named]);
    assert.is(settingSource('CERT_DAYS', env, root), named);
  }
  const byDefault = loadConfig({ env: {}, root, argv: [] });
  assert.is(byDefault.localEnv, 'env/local.env');
  assert.is(settingSource('SERVER_HOST', {}, root), 'env/local.env');
});

test('a mistyped name in env/local.env stops with one line naming it and the setting it resembles; every documented setting is accepted', () => {
  for (const [local, name, meant] of [['BACKEND_PORTT=31443\n', 'BACKEND_PORTT', 'BACKEND_PORT'], ['SERVER_HOST=10.0.0.5\nSTORE_PASWORD=x y\n', 'STORE_PASWORD', 'STORE_PASSWORD']] as const) {
    const error = (() => { try { loadConfig({ env: {}, root: fakeRoot(local), argv: [] }); } catch (e) { return e; } })();
    assert.instance(error, ConfigError, local);
    assert.is((error as ConfigError).variable, name);
    assert.match((error as ConfigError).message, `is set in env/local.env, but no setting has that name (did you mean ${meant}?`);
  }
  // Spring's own variables only count in the process environment (scripts/lib/spring.ts).
  // In env/local.env they stop the step with where they do count and the kit's own setting.
  for (const name of ['SERVER_SSL_KEYSTORE', 'PORT', 'IDLE_TIMEOUT_MS']) {
    assert.throws(() => loadConfig({ env: {}, root: fakeRoot(`${name}=1\n`), argv: [] }), new RegExp(`${name}: is a variable of the backend process .*command line \\(${name}=… make backend\\).*BACKEND_PORT`));
  }
  // Every name the committed env files list, in env/local.env at once, is a setting.
  const listed = ['defaults.env', 'gcp.example.env'].flatMap((file) => readFileSync(join(repoRoot, 'env', file), 'utf8').match(/^#?\s*[A-Z][A-Z0-9_]*=/gm) ?? []);
  const names = [...new Set(listed.map((line) => line.replace(/^#?\s*/, '').slice(0, -1)))];
  assert.ok(names.length > 40, names.join(' '));
  const config = loadConfig({ env: {}, root: fakeRoot(names.map((n) => `${n}=${n === 'STORE_PASSWORD' ? 'changeit' : ''}`).join('\n')), argv: [] });
  assert.is(config.backend.port, 8443);
});

test('env/local.env as Windows editors save it is read right (BOM, CRLF, export, quotes, spaces); a line or # that would be misread stops with one line, the value unshown', () => {
  const windows = '\uFEFFexport BACKEND_PORT = 31443  \r\nSTORE_PASSWORD="se cret#1" \r\n# a comment\r\nSERVER_HOST=\'10.0.0.5\'\r\nCERT_DAYS=30 # a month\r\n';
  const c = loadConfig({ env: {}, root: fakeRoot(windows), argv: [] });
  assert.equal([c.backend.port, c.pki.storePassword, c.pki.serverHost, c.pki.certDays], [31443, 'se cret#1', '10.0.0.5', 30]);
  for (const [local, message] of [
    ['CERT_DAYS=30\r\nBACKEND_PORT 31443\r\n', 'env/local.env line 2: is not NAME=value'],
    ['set BACKEND_PORT=31443\n', 'env/local.env line 1: is not NAME=value'],
    ['$env:BACKEND_PORT="31443"\n', 'env/local.env line 1: is not NAME=value'],
    ['STORE_PASSWORD=s3cr#t\n', 'STORE_PASSWORD: has a # inside its unquoted value in env/local.env'],
  ] as const) {
    const error = (() => { try { loadConfig({ env: {}, root: fakeRoot(local), argv: [] }); } catch (e) { return e; } })();
    assert.instance(error, ConfigError, local);
    assert.ok((error as ConfigError).message.startsWith(message), (error as ConfigError).message);
    assert.not.match((error as ConfigError).message, /31443|s3cr/);
  }
});

test('relative paths resolve against the repository root', () => {
  const root = fakeRoot();
  assert.is(loadConfig({ env: { CERTS_DIR: 'pki' }, root, argv: [] }).pki.certsDir, join(root, 'pki'));
});

test('DRY_RUN and --dry-run, FORCE and --force; NEW_CA is its own setting, never implied by FORCE', () => {
  const root = fakeRoot();
  assert.ok(loadConfig({ env: { DRY_RUN: '1' }, root, argv: [] }).dryRun);
  assert.ok(loadConfig({ env: {}, root, argv: ['--dry-run'] }).dryRun);
  assert.ok(loadConfig({ env: { FORCE: 'true' }, root, argv: [] }).force);
  assert.ok(loadConfig({ env: {}, root, argv: ['--force'] }).force);
  assert.is(loadConfig({ env: { FORCE: '1' }, root, argv: ['--force'] }).pki.newCa, false);
  assert.is(loadConfig({ env: {}, root, argv: [] }).pki.newCa, false, 'env/defaults.env says NEW_CA=0');
  assert.is(loadConfig({ env: { NEW_CA: '1' }, root, argv: [] }).pki.newCa, true);
  assert.is(loadConfig({ env: {}, root: fakeRoot('NEW_CA=1\n'), argv: [] }).pki.newCa, true, 'accepted in env/local.env');
  assert.throws(() => loadConfig({ env: { NEW_CA: 'maybe' }, root, argv: [] }), /NEW_CA/);
});

const bad: Array<[Record<string, string>, string, RegExp]> = [
  [{ SERVER_HOST: 'not a host!' }, 'SERVER_HOST', /IP address or a DNS name/],
  [{ SERVER_HOST: '300.1.1.1' }, 'SERVER_HOST', /IP address or a DNS name/],
  [{ CERT_DAYS: '0' }, 'CERT_DAYS', /whole number/],
  [{ CERT_DAYS: 'ten' }, 'CERT_DAYS', /whole number/],
  [{ CERT_DAYS: '-5' }, 'CERT_DAYS', /whole number/],
  [{ KEY_TYPE: 'dsa' }, 'KEY_TYPE', /rsa\|ec/],
  [{ STORE_PASSWORD: '' }, 'STORE_PASSWORD', /must not be empty/],
  [{ BACKEND_CLIENT_AUTH: 'maybe' }, 'BACKEND_CLIENT_AUTH', /need\|want\|none/],
  [{ EXTRA_SANS: 'ok.example, bad host' }, 'EXTRA_SANS', /neither an IP/],
  [{ APIGEE_PROXY_NAME: 'has space' }, 'APIGEE_PROXY_NAME', /not a valid Apigee name/],
  [{ GCP_SOURCE_RANGES: '10.0.0.0/33' }, 'GCP_SOURCE_RANGES', /CIDR/],
  [{ GCP_PROJECT: 'My-Project' }, 'GCP_PROJECT', /"My-Project" is not a project ID \(6-30 lowercase letters/],
  [{ GCP_PROJECT: 'my_project' }, 'GCP_PROJECT', /not a project ID/],
  [{ GCP_VM_NAME: 'MS-demo' }, 'GCP_VM_NAME', /"MS-demo" is not a valid Compute Engine name/],
  [{ SUBJECT_O: 'a/b' }, 'SUBJECT_O', /must not contain/],
  [{ SUBJECT_C: 'Colombia' }, 'SUBJECT_C', /two-letter country code/],
  [{ DRY_RUN: 'perhaps' }, 'DRY_RUN', /1 or 0/],
  [{ BACKEND_HEALTH_PORT: '8443' }, 'BACKEND_HEALTH_PORT', /the same as BACKEND_PORT/],
  [{ APIGEE_LOCAL_RUNTIME_PORT: '8443' }, 'APIGEE_LOCAL_RUNTIME_PORT', /the same as BACKEND_PORT/],
];

test('against Apigee X the stand-in\'s ports are not bound here, so they may equal the backend\'s', () => {
  const config = loadConfig({ env: { APIGEE_TARGET: 'apigee-x', APIGEE_LOCAL_API_PORT: '8443', GCP_PROJECT: 'demo-project', APIGEE_ORG: 'demo-org' }, root: fakeRoot(), argv: [] });
  assert.is(config.apigee.localApiPort, config.backend.port);
});
for (const [env, variable, message] of bad) {
  test(`rejects ${variable}=${JSON.stringify(Object.values(env)[0])}`, () => {
    try {
      loadConfig({ env, root: fakeRoot(), argv: [] });
      assert.unreachable('should have thrown');
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.is((error as ConfigError).variable, variable);
      assert.match((error as Error).message, message);
      assert.not.match((error as Error).message, /\n/);
    }
  });
}

test('isDnsName', () => {
  for (const ok of ['localhost', 'backend.example.com', '34-1-2-3.nip.io', 'a.b.c.']) assert.ok(isDnsName(ok), ok);
  for (const no of ['', '-a.com', 'a..b', 'under_score.com', '1.2.3.4', 'x'.repeat(64) + '.com']) assert.not.ok(isDnsName(no), no);
});

test('APIGEE_LOCAL_DIR follows RUN_DIR unless set (from the environment or env/local.env); set, it wins', () => {
  const root = fakeRoot();
  assert.is(loadConfig({ env: {}, root, argv: [] }).apigee.localDir, join(root, '.run', 'apigee-local'));
  assert.is(loadConfig({ env: { RUN_DIR: '/tmp/r' }, root, argv: [] }).apigee.localDir, '/tmp/r/apigee-local');
  const local = fakeRoot('RUN_DIR=run-here\n');
  assert.is(loadConfig({ env: {}, root: local, argv: [] }).apigee.localDir, join(local, 'run-here', 'apigee-local'));
  assert.is(loadConfig({ env: { RUN_DIR: '/tmp/r', APIGEE_LOCAL_DIR: 'state' }, root, argv: [] }).apigee.localDir, join(root, 'state'));
  assert.is(loadConfig({ env: { RUN_DIR: '/tmp/r' }, root: fakeRoot('APIGEE_LOCAL_DIR=/srv/s\n'), argv: [] }).apigee.localDir, '/srv/s');
});

test.run();
