// The management API against what a careless or hostile client sends with curl: multipart bodies
// cut off inside a part, and the like. Each is answered in Google's error envelope, stores
// nothing, and leaves the stand-in serving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { E, assertError, bundle, form, startStandIn, type StandIn } from './helpers/apigee-local.ts';
import { tempDir } from './helpers/temp.ts';

let s: StandIn;
let files = 0;
/** `data` in a file of its own, for curl -F name=@file. */
function tempFile(data: Buffer): string {
  const path = join(tempDir('mgmt-probe-'), `part-${files++}`);
  writeFileSync(path, data);
  return path;
}
const curl = (args: string[]) => execa('curl', ['-sS', '--max-time', '20', '-H', 'Authorization: Bearer t', ...args], { reject: false });
/** curl's answer made with -w '\n%{http_code}', in the helpers' Answer shape. */
async function curlApi(path: string, args: string[]) {
  const r = await curl([...args, '-w', '\n%{http_code}', s.local.apiUrl + path]);
  const cut = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, cut);
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: Number(r.stdout.slice(cut + 1)), json, text, headers: {}, exitCode: r.exitCode, stderr: r.stderr };
}

test.before(async () => {
  s = await startStandIn();
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
});

test.after(async () => {
  await s.close();
});

test('a multipart body cut off inside a file part → 400, nothing stored, and the stand-in still answers', async () => {
  const cert = readFileSync(join(s.fx.pki, 'apigee-client-cert.pem'), 'utf8');
  // The part starts but the body ends before its closing boundary (busboy: "Unexpected end of form").
  const cutOff = `--XX\r\nContent-Disposition: form-data; name="certFile"; filename="c.pem"\r\n\r\n${cert.slice(0, 200)}`;
  const type = ['-H', 'Content-Type: multipart/form-data; boundary=XX', '--data-binary', cutOff];
  assertError(await curlApi(`${E}/keystores/ks/aliases?alias=a&format=keycertfile`, type), 400, 'INVALID_ARGUMENT', /malformed multipart/);
  assertError(await curlApi('/apis?name=p&action=import', type), 400, 'INVALID_ARGUMENT', /malformed multipart/);
  assert.equal((await s.ok('GET', `${E}/keystores/ks`)).aliases, undefined);
  assertError(await s.api('GET', '/apis/p'), 404, 'NOT_FOUND');
});

test('a name sent as a dot segment (%2e%2e, .%2e, raw ..) is a name no resource has: 404, never the parent resource', async () => {
  const pkcs12 = readFileSync(join(s.fx.pki, 'client-apigee-keystore.p12'));
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'kept' }));
  await s.ok('POST', `${E}/keystores/kept/aliases?alias=client&format=pkcs12`, form({ file: pkcs12, password: s.fx.password }));
  await s.ok('POST', '/apis?name=kept&action=import', bundle('/kept', '<URL>http://127.0.0.1:1</URL>'), 'application/octet-stream');
  for (const dots of ['%2e%2e', '%2E%2e', '.%2e', '%2e%2e/']) {
    for (const path of [`${E}/keystores/kept/aliases/${dots}`, `/apis/kept/revisions/${dots}`]) {
      const a = await curlApi(path, ['-X', 'DELETE']);
      assertError(a, 404, 'NOT_FOUND', /\.\. (?:found|not found)/);
    }
  }
  // curl resolves a raw `..` itself unless told not to; sent as is, it is a name like the others.
  assertError(await curlApi(`${E}/keystores/kept/aliases/..`, ['-X', 'DELETE', '--path-as-is']), 404, 'NOT_FOUND');
  assertError(await curlApi(`${E}/keystores/%2e`, []), 404, 'NOT_FOUND', /keystores\/\. not found/);
  assert.equal((await s.ok('GET', `${E}/keystores/kept`)).aliases, ['client']);
  assert.equal(await s.ok('GET', '/apis/kept/revisions'), ['1']);
});

test('a request in absolute form is routed by its path', async () => {
  const url = new URL(s.local.apiUrl);
  const r = await curl(['-w', '\n%{http_code}', '--request-target', `${s.local.apiUrl}${E}/keystores/ks`, `http://${url.host}/`]);
  assert.match(r.stdout, /"name": "ks"[\s\S]*\n200$/);
});

test('an alias upload naming a part twice (certFile, keyFile, password) → 400, nothing stored', async () => {
  const cert = readFileSync(join(s.fx.pki, 'apigee-client-cert.pem'));
  const key = readFileSync(join(s.fx.pki, 'apigee-client-key.pem'));
  const other = readFileSync(join(s.fx.pki, 'server-cert.pem'));
  const pkcs12 = join(s.fx.pki, 'client-apigee-keystore.p12');
  const file = (name: string, data: Buffer) => ['-F', `${name}=@${tempFile(data)}`];
  const cases: Array<[string, string[]]> = [
    ['keycertfile', [...file('certFile', cert), ...file('certFile', other)]],
    ['keycertfile', [...file('certFile', cert), ...file('keyFile', key), ...file('keyFile', key)]],
    ['pkcs12', ['-F', `file=@${pkcs12}`, '-F', 'password=wrong', '-F', `password=${s.fx.password}`]],
  ];
  for (const [format, parts] of cases) {
    assertError(await curlApi(`${E}/keystores/ks/aliases?alias=twice&format=${format}`, parts), 400, 'INVALID_ARGUMENT', /is sent more than once/);
  }
  assertError(await curlApi(`${E}/keystores/ks/aliases/twice`, []), 404, 'NOT_FOUND');
  // The same parts once each are accepted (the chain of a keycertfile goes in one certFile).
  assert.is((await curlApi(`${E}/keystores/ks/aliases?alias=once&format=keycertfile`, [...file('certFile', cert), ...file('keyFile', key)])).status, 200);
});

test('a reference whose refers names another organization\'s or environment\'s keystore → 400; this environment\'s full name is accepted', async () => {
  const ref = (name: string, refers: string) => JSON.stringify({ name, resourceType: 'KeyStore', refers });
  for (const refers of ['organizations/other/environments/prod/keystores/ks', 'organizations/demo-org/environments/prod/keystores/ks', 'anything/keystores/ks']) {
    assertError(await s.api('POST', `${E}/references`, ref('foreign', refers)), 400, 'INVALID_ARGUMENT', /does not exist in environment "eval"/);
  }
  assertError(await s.api('GET', `${E}/references/foreign`), 404, 'NOT_FOUND');
  assert.equal(await s.ok('POST', `${E}/references`, ref('own', 'organizations/demo-org/environments/eval/keystores/ks')), { name: 'own', resourceType: 'KeyStore', refers: 'ks' });
  assertError(await s.api('PUT', `${E}/references/own`, ref('own', 'organizations/other/environments/eval/keystores/ks')), 400, 'INVALID_ARGUMENT');
  assert.is((await s.ok('GET', `${E}/references/own`)).refers, 'ks');
});

test('a target server whose sSLInfo or commonName is not an object → 400 (not stored as an empty sSLInfo)', async () => {
  const ts = (sSLInfo: unknown) => JSON.stringify({ name: 'shape', host: 'localhost', port: 443, sSLInfo });
  for (const sSLInfo of [[1], [], 'true', true]) {
    assertError(await s.api('POST', `${E}/targetservers`, ts(sSLInfo)), 400, 'INVALID_ARGUMENT', /'sSLInfo'/);
  }
  for (const commonName of ['backend.example.com', ['x'], 1]) {
    assertError(await s.api('POST', `${E}/targetservers`, ts({ enabled: true, commonName })), 400, 'INVALID_ARGUMENT', /'sSLInfo.commonName'/);
  }
  assertError(await s.api('GET', `${E}/targetservers/shape`), 404, 'NOT_FOUND');
  const ok = await s.ok('POST', `${E}/targetservers`, ts({ enabled: true, commonName: { value: 'backend.example.com' } }));
  assert.equal(ok.sSLInfo, { enabled: true, commonName: { value: 'backend.example.com' } });
});

test.run();
