// APIGEE_LOCAL_STRICT=1: the stand-in refuses what Apigee X is not known to accept, with a 400 in
// Google's envelope that says what to send instead; the same requests pass without it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadConfig } from '../core/config.ts';
import { optionsFromConfig } from '../apigee-local/server.ts';
import { isolated } from './helpers/isolation.ts';
import { E, assertError, form, pem, startStandIn, type StandIn } from './helpers/apigee-local.ts';
import { tempDir } from './helpers/temp.ts';

let strict: StandIn;
let lenient: StandIn;
let aes: Buffer;
let legacy: Buffer;
let legacyNoPassword: Buffer;
const work = tempDir('apigee-local-strict-');

async function exportP12(name: string, extra: string[], password: string): Promise<Buffer> {
  const dir = strict.fx.pki;
  const out = join(work, name);
  await execa('openssl', ['pkcs12', '-export', '-inkey', join(dir, 'apigee-client-key.pem'), '-in', join(dir, 'apigee-client-cert.pem'),
    ...extra, '-passout', `pass:${password}`, '-out', out]);
  return readFileSync(out);
}

const STRICT = /^APIGEE_LOCAL_STRICT: /;
const upload = (s: StandIn, alias: string, parts: Record<string, string | Buffer>, query = '') =>
  s.api('POST', `${E}/keystores/ks/aliases?alias=${alias}&format=pkcs12${query}`, form(parts));

test.before(async () => {
  strict = await startStandIn({ strict: true });
  lenient = await startStandIn();
  for (const s of [strict, lenient]) {
    await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
  }
  aes = readFileSync(join(strict.fx.pki, 'client-apigee-keystore.p12'));
  legacy = await exportP12('legacy.p12', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'], strict.fx.password);
  legacyNoPassword = await exportP12('legacy-empty.p12', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'], '');
});

test.after(async () => {
  await strict.close();
  await lenient.close();
});

test('APIGEE_LOCAL_STRICT=1 reaches the stand-in through the typed config', () => {
  const config = loadConfig({ env: isolated({ APIGEE_LOCAL_STRICT: '1', STORE_PASSWORD: 'x' }) });
  assert.is(optionsFromConfig(config).strict, true);
  assert.is(optionsFromConfig(loadConfig({ env: isolated({ STORE_PASSWORD: 'x' }) })).strict, false);
});

test('PKCS#12 with AES-256/PBES2 and a SHA-256 MAC (OpenSSL 3 default) → 400 naming both and the way out', async () => {
  const a = await upload(strict, 'aes', { file: aes, password: strict.fx.password });
  assertError(a, 400, 'INVALID_ARGUMENT', STRICT);
  assert.match(a.json.error.message, /encryption PBES2, PBKDF2, AES-256-CBC.* and a sha256 MAC/);
  assert.match(a.json.error.message, /format=keycertfile|-keypbe PBE-SHA1-3DES/);
  assertError(await strict.api('GET', `${E}/keystores/ks/aliases/aes`), 404, 'NOT_FOUND');
  assert.is((await upload(lenient, 'aes', { file: aes, password: lenient.fx.password })).status, 200);
});

test('legacy PKCS#12 (3DES + SHA-1 MAC) and keycertfile uploads pass', async () => {
  const a = await upload(strict, 'legacy', { file: legacy, password: strict.fx.password });
  assert.is(a.status, 200, a.text);
  assert.is(a.json.type, 'KEY_CERT');
  const k = await strict.api('POST', `${E}/keystores/ks/aliases?alias=pem&format=keycertfile`,
    form({ certFile: pem(strict.fx.pki, 'apigee-client-cert.pem'), keyFile: pem(strict.fx.pki, 'apigee-client-key.pem') }));
  assert.is(k.status, 200, k.text);
});

test('a PKCS#12 without password, and the password as query "password", are refused; "_password" passes', async () => {
  assertError(await upload(strict, 'nopass', { file: legacyNoPassword }), 400, 'INVALID_ARGUMENT', /APIGEE_LOCAL_STRICT: the PKCS#12 upload has no password/);
  assert.is((await upload(lenient, 'nopass', { file: legacyNoPassword })).status, 200);
  assertError(await upload(strict, 'q', { file: legacy }, `&password=${strict.fx.password}`), 400, 'INVALID_ARGUMENT', /query parameter "password"/);
  const underscored = await upload(strict, 'q2', { file: legacy }, `&_password=${strict.fx.password}`);
  assert.is(underscored.status, 200, underscored.text);
});

test('target servers: string booleans, a lower-case protocol, "sslInfo" and fields the API does not define are refused; the documented form passes', async () => {
  const base = { host: '127.0.0.1', port: 8443, sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ks', keyAlias: 'legacy', enforce: true } };
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...base, name: 't1', isEnabled: 'true' }, /isEnabled sent as strings/],
    [{ ...base, name: 't2', sSLInfo: { ...base.sSLInfo, enforce: 'true' } }, /sSLInfo.enforce sent as strings/],
    [{ ...base, name: 't3', protocol: 'http' }, /protocol "http" in lower case/],
    [{ name: 't4', host: '127.0.0.1', port: 8443, sslInfo: base.sSLInfo }, /"sslInfo"/],
    // Fields the API does not define (Google answers 400 "Unknown name"): a typo must not pass silently.
    [{ ...base, name: 't5', sSLInfo: { ...base.sSLInfo, keystore: 'ks' } }, /"sSLInfo\.keystore" is not a field of sSLInfo/],
    [{ ...base, name: 't6', hostname: 'backend' }, /"hostname" is not a field of a target server/],
    [{ ...base, name: 't7', sSLInfo: { ...base.sSLInfo, commonName: { value: 'x', wildcard: true } } }, /"sSLInfo\.commonName\.wildcard" is not a field/],
  ];
  for (const [body, message] of cases) {
    assertError(await strict.api('POST', `${E}/targetservers`, JSON.stringify(body)), 400, 'INVALID_ARGUMENT', message);
    assert.is((await lenient.api('POST', `${E}/targetservers`, JSON.stringify(body))).status, 200, JSON.stringify(body));
  }
  const good = await strict.api('POST', `${E}/targetservers`, JSON.stringify({ ...base, name: 'good', isEnabled: true, protocol: 'HTTP' }));
  assert.is(good.status, 200, good.text);
  assertError(await strict.api('PUT', `${E}/targetservers/good`, JSON.stringify({ ...base, name: 'good', isEnabled: 'false' })), 400, 'INVALID_ARGUMENT', STRICT);
  // "__proto__" is a name like any other: refused as unknown, and the record keeps its fields.
  assertError(await strict.api('PUT', `${E}/targetservers/good`, `{"name":"good","host":"127.0.0.1","port":8443,"__proto__":{"isEnabled":false}}`), 400, 'INVALID_ARGUMENT', /"__proto__" is not a field/);
  const kept = await strict.api('GET', `${E}/targetservers/good`);
  assert.is(kept.json.isEnabled, true, kept.text);
});

test('references: the {"reference": {…}} wrapper is refused, the flat body passes', async () => {
  const wrapped = JSON.stringify({ reference: { name: 'r', resourceType: 'KeyStore', refers: 'ks' } });
  assertError(await strict.api('POST', `${E}/references`, wrapped), 400, 'INVALID_ARGUMENT', /wrapped/);
  assert.is((await lenient.api('POST', `${E}/references`, wrapped)).status, 200);
  assert.is((await strict.api('POST', `${E}/references`, JSON.stringify({ name: 'r', resourceType: 'KeyStore', refers: 'ks' }))).status, 200);
  assertError(await strict.api('POST', `${E}/references`, JSON.stringify({ name: 'r2', resourceType: 'KeyStore', refer: 'ks' })), 400, 'INVALID_ARGUMENT', /"refer" is not a field of a reference/);
});

test('a keystore still named by a reference or a target server cannot be deleted; once they are gone it can', async () => {
  for (const s of [strict, lenient]) {
    await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'in-use' }));
    await s.ok('POST', `${E}/references`, JSON.stringify({ name: 'in-use-ref', resourceType: 'KeyStore', refers: 'in-use' }));
    await s.ok('POST', `${E}/targetservers`, JSON.stringify({ name: 'in-use-ts', host: '127.0.0.1', port: 8443, isEnabled: true, protocol: 'HTTP', sSLInfo: { enabled: true, trustStore: 'in-use' } }));
  }
  assertError(await strict.api('DELETE', `${E}/keystores/in-use`), 400, 'INVALID_ARGUMENT', /^APIGEE_LOCAL_STRICT: keystore in-use is still used by reference in-use-ref, target server in-use-ts;/);
  assert.is((await strict.api('GET', `${E}/keystores/in-use`)).status, 200, 'the refused delete left the keystore');
  assert.is((await lenient.api('DELETE', `${E}/keystores/in-use`)).status, 200);
  await strict.ok('DELETE', `${E}/references/in-use-ref`);
  assertError(await strict.api('DELETE', `${E}/keystores/in-use`), 400, 'INVALID_ARGUMENT', /still used by target server in-use-ts;/);
  await strict.ok('DELETE', `${E}/targetservers/in-use-ts`);
  assert.is((await strict.api('DELETE', `${E}/keystores/in-use`)).status, 200);
});

test.run();
