// The stand-in's management API: success and error shapes per endpoint, validation refusals that
// store nothing, concurrent writes, the fixed token, and persistence across a restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { startApigeeLocal, type ApigeeLocal, type ApigeeLocalOptions } from '../apigee-local/server.ts';
import { pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';

let fx: PkiFixture;
let local: ApigeeLocal;
let options: ApigeeLocalOptions;
const E = '/environments/eval';

interface Answer { status: number; json: any; text: string }

async function api(method: string, path: string, init: { body?: BodyInit | Buffer; type?: string; token?: string | null; base?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? 'test-token'}`;
  if (init.type) headers['content-type'] = init.type;
  const body = Buffer.isBuffer(init.body) ? new Uint8Array(init.body) : init.body;
  const res = await fetch((init.base ?? local.apiUrl) + path, { method, headers, body });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

const pem = (dir: 'pki' | 'bad', name: string) => readFileSync(join(dir === 'pki' ? fx.pki : fx.bad, name), 'utf8');

function form(parts: Record<string, string | Buffer>, filenames: Record<string, string> = {}): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    const blob = new Blob([typeof value === 'string' ? value : new Uint8Array(value)]);
    if (filenames[name]) data.append(name, blob, filenames[name]);
    else data.append(name, typeof value === 'string' ? value : blob);
  }
  return data;
}

/** Asserts Google's error envelope with a RequestInfo detail. */
function assertError(a: Answer, code: number, status: string, message?: RegExp) {
  assert.is(a.status, code, a.text);
  assert.is(a.json.error.code, code);
  assert.is(a.json.error.status, status);
  assert.type(a.json.error.message, 'string');
  assert.ok(a.json.error.details.some((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.RequestInfo' && /^\d+$/.test(d.requestId)));
  if (message) assert.match(a.json.error.message, message);
}

const PROXY_XML = (basePath: string, target = '<LoadBalancer><Server name="ts1"/></LoadBalancer>') => ({
  'apiproxy/demo.xml': '<APIProxy name="demo"><Description>test</Description></APIProxy>',
  'apiproxy/proxies/default.xml': `<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>${basePath}</BasePath></HTTPProxyConnection><RouteRule name="default"><TargetEndpoint>default</TargetEndpoint></RouteRule></ProxyEndpoint>`,
  'apiproxy/targets/default.xml': `<TargetEndpoint name="default"><HTTPTargetConnection>${target}</HTTPTargetConnection></TargetEndpoint>`,
});
const zip = (files: Record<string, string>) => Buffer.from(zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))));

test.before(async () => {
  fx = await pkiFixture();
  options = {
    org: 'demo-org', env: 'eval', dir: tempDir('apigee-local-'),
    caCertFile: join(fx.pki, 'ca-cert.pem'), caKeyFile: join(fx.pki, 'ca-key.pem'),
    apiPort: 0, runtimePort: 0, deploySettleMs: 400,
  };
  local = await startApigeeLocal(options);
});
test.after(async () => {
  await local.close();
});

test('every call needs a bearer token; other organizations and environments are refused', async () => {
  assertError(await api('GET', `${E}/keystores`, { token: null }), 401, 'UNAUTHENTICATED');
  assertError(await api('GET', `${E}/keystores`, { base: local.apiUrl.replace('demo-org', 'other-org') }), 403, 'PERMISSION_DENIED', /organizations\/other-org/);
  assertError(await api('GET', '/environments/prod/keystores'), 403, 'PERMISSION_DENIED', /environments\/prod/);
  assertError(await api('GET', '/nothing-here'), 404, 'NOT_FOUND');
  assertError(await api('GET', `${E}/keystores/%E0%A4%A`), 400, 'INVALID_ARGUMENT', /percent-encoding/);
  assertError(await api('PATCH', `${E}/keystores`), 404, 'NOT_FOUND', /not supported/);
});

test('keystores: create, duplicate, get, list (bare array), bad name, delete', async () => {
  const created = await api('POST', `${E}/keystores`, { body: JSON.stringify({ name: 'ks1' }), type: 'application/json' });
  assert.is(created.status, 200, created.text);
  assert.equal(created.json, { name: 'ks1' });
  assertError(await api('POST', `${E}/keystores`, { body: JSON.stringify({ name: 'ks1' }), type: 'application/json' }), 409, 'ALREADY_EXISTS', /ks1; already exists/);
  assert.is((await api('POST', `${E}/keystores?name=ts1`, { body: '{}', type: 'application/json' })).status, 200);
  assert.equal((await api('GET', `${E}/keystores`)).json, ['ks1', 'ts1']);
  assert.equal((await api('GET', `${E}/keystores/ks1`)).json, { name: 'ks1' });
  assertError(await api('GET', `${E}/keystores/nope`), 404, 'NOT_FOUND', /keystores\/nope/);
  assertError(await api('POST', `${E}/keystores`, { body: JSON.stringify({ name: 'bad/name?' }), type: 'application/json' }), 400, 'INVALID_ARGUMENT');
  assertError(await api('POST', `${E}/keystores`, { body: '{not json', type: 'application/json' }), 400, 'INVALID_ARGUMENT');
  await api('POST', `${E}/keystores`, { body: JSON.stringify({ name: 'gone' }), type: 'application/json' });
  assert.equal((await api('DELETE', `${E}/keystores/gone`)).json, { name: 'gone' });
  assertError(await api('GET', `${E}/keystores/gone`), 404, 'NOT_FOUND');
});

test('aliases: pkcs12 with the password as form part, _password or password query', async () => {
  const p12 = readFileSync(join(fx.pki, 'client-apigee-keystore.p12'));
  const a = await api('POST', `${E}/keystores/ks1/aliases?alias=client&format=pkcs12`, { body: form({ file: p12, password: fx.password }, { file: 'client.p12' }) });
  assert.is(a.status, 200, a.text);
  assert.is(a.json.alias, 'client');
  assert.is(a.json.type, 'KEY_CERT');
  const info = a.json.certsInfo.certInfo[0];
  assert.match(info.subject, /CN=apigee-client/);
  assert.is(info.sigAlgName, 'SHA256-RSA');
  assert.is(info.publicKey, 'RSA Public Key, 2048 bits');
  assert.match(info.expiryDate, /^\d{13}$/);
  assert.is(info.isValid, 'Yes');
  assert.is(info.version, 3);
  const viaQuery = await api('POST', `${E}/keystores/ks1/aliases?alias=client2&format=pkcs12&_password=${fx.password}`, { body: form({ file: p12 }) });
  assert.is(viaQuery.status, 200, viaQuery.text);
  const viaApigeecli = await api('POST', `${E}/keystores/ks1/aliases?alias=client3&format=pkcs12&password=${fx.password}`, { body: form({ file: p12 }, { file: 'x.p12' }) });
  assert.is(viaApigeecli.status, 200, viaApigeecli.text);
  assertError(await api('POST', `${E}/keystores/ks1/aliases?alias=client&format=pkcs12`, { body: form({ file: p12, password: fx.password }) }), 409, 'ALREADY_EXISTS');
  assert.equal((await api('GET', `${E}/keystores/ks1/aliases`)).json, ['client', 'client2', 'client3']);
  assert.equal((await api('GET', `${E}/keystores/ks1`)).json, { name: 'ks1', aliases: ['client', 'client2', 'client3'] });
  assert.is((await api('DELETE', `${E}/keystores/ks1/aliases/client3`)).json.alias, 'client3');
  assertError(await api('GET', `${E}/keystores/ks1/aliases/client3`), 404, 'NOT_FOUND', /alias not .*aliases\/client3 found/);
});

test('aliases: keycertfile with key (KEY_CERT) and certificate only (CERT); /certificate gives PEM', async () => {
  const kc = await api('POST', `${E}/keystores/ks1/aliases?alias=kcf&format=keycertfile`, {
    body: form({ certFile: pem('pki', 'apigee-client-cert.pem'), keyFile: pem('pki', 'apigee-client-key.pem') }, { certFile: 'c.pem', keyFile: 'k.pem' }),
  });
  assert.is(kc.status, 200, kc.text);
  assert.is(kc.json.type, 'KEY_CERT');
  const ca = await api('POST', `${E}/keystores/ts1/aliases?alias=ca&format=keycertfile`, { body: form({ certFile: pem('pki', 'ca-cert.pem') }) });
  assert.is(ca.status, 200, ca.text);
  assert.is(ca.json.type, 'CERT');
  assert.is(ca.json.certsInfo.certInfo[0].basicConstraints, 'CA:TRUE');
  const cert = await api('GET', `${E}/keystores/ks1/aliases/kcf/certificate`);
  assert.is(cert.status, 200);
  assert.match(cert.text, /^-----BEGIN CERTIFICATE-----/);
});

test('no endpoint ever returns a private key; key files are 0600', async () => {
  for (const path of [`${E}/keystores/ks1/aliases/client`, `${E}/keystores/ks1/aliases/client/certificate`, `${E}/keystores/ks1/aliases/kcf`, `${E}/keystores/ks1`]) {
    assert.not.match((await api('GET', path)).text, /PRIVATE KEY/, path);
  }
  const keys = readdirSync(join(options.dir, 'keys'));
  assert.ok(keys.length >= 3);
  for (const k of keys) assert.is(statSync(join(options.dir, 'keys', k)).mode & 0o777, 0o600, k);
  assert.is(statSync(join(options.dir, 'state.json')).mode & 0o777, 0o600);
});

test('alias validation refuses bad uploads with 400 and stores nothing', async () => {
  const before = (await api('GET', `${E}/keystores/ks1/aliases`)).json;
  const keysBefore = readdirSync(join(options.dir, 'keys')).length;
  const p12 = readFileSync(join(fx.pki, 'client-apigee-keystore.p12'));
  const cases: Array<[string, FormData, RegExp]> = [
    ['pkcs12&alias=x1', form({ file: p12, password: 'wrong-password' }), /wrong password/],
    ['keycertfile&alias=x2', form({ certFile: pem('pki', 'apigee-client-cert.pem'), keyFile: pem('bad', 'second-client-key.pem') }), /does not match/],
    ['keycertfile&alias=x3', form({ certFile: '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n' }), /failed to parse x509/],
    ['keycertfile&alias=x4', form({ certFile: pem('pki', 'apigee-client-key.pem') + pem('pki', 'apigee-client-cert.pem') }), /failed to parse x509/],
    ['keycertfile&alias=x5', form({ certFile: pem('bad', 'expired-client-cert.pem'), keyFile: pem('bad', 'expired-client-key.pem') }), /expired/],
    ['keycertfile&alias=bad%2Fname', form({ certFile: pem('pki', 'ca-cert.pem') }), /invalid alias name/],
    ['pem&alias=x6', form({ certFile: pem('pki', 'ca-cert.pem') }), /format must be/],
  ];
  for (const [query, body, message] of cases) {
    assertError(await api('POST', `${E}/keystores/ks1/aliases?format=${query}`, { body }), 400, 'INVALID_ARGUMENT', message);
  }
  assert.equal((await api('GET', `${E}/keystores/ks1/aliases`)).json, before);
  assert.is(readdirSync(join(options.dir, 'keys')).length, keysBefore);
  // The expired certificate is accepted when the caller asks to skip the expiry check.
  const ignored = await api('POST', `${E}/keystores/ks1/aliases?format=keycertfile&alias=old&ignoreExpiryValidation=true`,
    { body: form({ certFile: pem('bad', 'expired-client-cert.pem'), keyFile: pem('bad', 'expired-client-key.pem') }) });
  assert.is(ignored.status, 200, ignored.text);
  assert.is(ignored.json.certsInfo.certInfo[0].isValid, 'No');
});

test('references: refers must exist; create, get, list, update, delete', async () => {
  const body = (refers: string, resourceType = 'KeyStore') => JSON.stringify({ name: 'ks-ref', resourceType, refers });
  assertError(await api('POST', `${E}/references`, { body: body('missing'), type: 'application/json' }), 400, 'INVALID_ARGUMENT', /missing/);
  assertError(await api('POST', `${E}/references`, { body: body('ks1', 'Alias'), type: 'application/json' }), 400, 'INVALID_ARGUMENT', /resourceType/);
  const created = await api('POST', `${E}/references`, { body: body('ks1'), type: 'application/json' });
  assert.equal(created.json, { name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks1' });
  assertError(await api('POST', `${E}/references`, { body: body('ks1'), type: 'application/json' }), 409, 'ALREADY_EXISTS');
  assert.equal((await api('GET', `${E}/references`)).json, ['ks-ref']);
  const updated = await api('PUT', `${E}/references/ks-ref`, { body: JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ts1', description: 'd' }), type: 'application/json' });
  assert.equal(updated.json, { name: 'ks-ref', resourceType: 'KeyStore', refers: 'ts1', description: 'd' });
  assert.equal((await api('GET', `${E}/references/ks-ref`)).json.refers, 'ts1');
  assert.is((await api('DELETE', `${E}/references/ks-ref`)).json.name, 'ks-ref');
  assertError(await api('GET', `${E}/references/ks-ref`), 404, 'NOT_FOUND');
});

test('target servers: sSLInfo round trip, duplicate, full replace, bad values, delete', async () => {
  const ts = { name: 'ts1', host: '127.0.0.1', port: 8443, isEnabled: true, protocol: 'HTTP',
    sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ks1', keyAlias: 'client', trustStore: 'ts1', enforce: true, protocols: ['TLSv1.2', 'TLSv1.3'] } };
  const created = await api('POST', `${E}/targetservers`, { body: JSON.stringify(ts), type: 'application/json' });
  assert.is(created.status, 200, created.text);
  assert.equal(created.json, ts);
  assertError(await api('POST', `${E}/targetservers`, { body: JSON.stringify(ts), type: 'application/json' }), 409, 'ALREADY_EXISTS');
  const replaced = await api('PUT', `${E}/targetservers/ts1`, { body: JSON.stringify({ name: 'ts1', host: 'localhost', port: '9443' }), type: 'application/json' });
  assert.equal(replaced.json, { name: 'ts1', host: 'localhost', port: 9443, isEnabled: true, protocol: 'HTTP' });
  assert.equal((await api('GET', `${E}/targetservers`)).json, ['ts1']);
  for (const bad of [{ name: 'x', host: 'h', port: 70000 }, { name: 'x', port: 1 }, { name: 'x', host: 'h', port: 1, sSLInfo: { enabled: true, clientAuthEnabled: true } }, { name: 'x', host: 'h', port: 1, sSLInfo: { enabled: 'yes' } }]) {
    assertError(await api('POST', `${E}/targetservers`, { body: JSON.stringify(bad), type: 'application/json' }), 400, 'INVALID_ARGUMENT');
  }
  assert.equal((await api('GET', `${E}/targetservers`)).json, ['ts1']);
  await api('POST', `${E}/targetservers`, { body: JSON.stringify({ name: 'tmp', host: 'h', port: 1 }), type: 'application/json' });
  assert.is((await api('DELETE', `${E}/targetservers/tmp`)).json.name, 'tmp');
  assertError(await api('DELETE', `${E}/targetservers/tmp`), 404, 'NOT_FOUND');
});

test('API proxies: import as multipart (any part name) or octet-stream makes string revisions', async () => {
  const bundle = zip(PROXY_XML('/demo'));
  const r1 = await api('POST', '/apis?name=demo&action=import', { body: form({ file: bundle }, { file: 'demo.zip' }) });
  assert.is(r1.status, 200, r1.text);
  assert.is(r1.json.revision, '1');
  assert.equal(r1.json.basepaths, ['/demo']);
  assert.equal(r1.json.targetServers, ['ts1']);
  const r2 = await api('POST', '/apis?name=demo&action=import', { body: bundle, type: 'application/octet-stream' });
  assert.is(r2.json.revision, '2');
  const r3 = await api('POST', '/apis?name=demo&action=import', { body: form({ proxy: bundle }, { proxy: 'demo.zip' }) });
  assert.is(r3.json.revision, '3');
  assert.equal((await api('GET', '/apis/demo/revisions')).json, ['1', '2', '3']);
  const proxy = (await api('GET', '/apis/demo')).json;
  assert.is(proxy.latestRevisionId, '3');
  assert.equal(proxy.revision, ['1', '2', '3']);
  assert.is((await api('GET', '/apis/demo/revisions/2')).json.revision, '2');
  const download = await fetch(`${local.apiUrl}/apis/demo/revisions/1?format=bundle`, { headers: { authorization: 'Bearer t' } });
  assert.equal(Buffer.from(await download.arrayBuffer()), bundle);
  assert.equal((await api('GET', '/apis')).json, { proxies: [{ name: 'demo', latestRevisionId: '3', apiProxyType: 'PROGRAMMABLE' }] });
  assertError(await api('GET', '/apis/nope'), 404, 'NOT_FOUND');
  assertError(await api('GET', '/apis/demo/revisions/9'), 404, 'NOT_FOUND');
});

test('bundle validation refuses bad bundles with 400 and stores nothing', async () => {
  const huge = Buffer.alloc(16 * 1024 * 1024 + 10, 1);
  const cases: Array<[Buffer, RegExp]> = [
    [zip({ 'other/proxies/default.xml': '<ProxyEndpoint/>' }), /apiproxy\//],
    [zip({ ...PROXY_XML('/demo'), 'apiproxy/proxies/default.xml': '<ProxyEndpoint name="default"><BasePath>/x</Proxy>' }), /not valid XML/],
    [zip({ ...PROXY_XML('/demo'), '../../evil.xml': '<x/>' }), /zip-slip/],
    [zip({ ...PROXY_XML('/demo'), 'apiproxy/../../evil.xml': '<x/>' }), /zip-slip/],
    [zip({ ...PROXY_XML('/demo', '<URL>ftp://x</URL>') }), /http or https/],
    [zip({ ...PROXY_XML('/demo'), 'apiproxy/targets/default.xml': '<TargetEndpoint name="other"><HTTPTargetConnection><URL>https://x</URL></HTTPTargetConnection></TargetEndpoint>' }), /does not define/],
    [Buffer.from('not a zip'), /zip/],
    [huge, /limit/],
  ];
  for (const [body, message] of cases) {
    assertError(await api('POST', '/apis?name=demo&action=import', { body, type: 'application/octet-stream' }), 400, 'INVALID_ARGUMENT', message);
  }
  assertError(await api('POST', '/apis?name=bad%20name&action=import', { body: zip(PROXY_XML('/demo')), type: 'application/octet-stream' }), 400, 'INVALID_ARGUMENT');
  assert.equal((await api('GET', '/apis/demo/revisions')).json, ['1', '2', '3']);
  assert.equal(readdirSync(join(options.dir, 'bundles')).length, 3);
});

async function waitState(path: string, want: string): Promise<any> {
  for (;;) {
    const s = await api('GET', path);
    if (s.json.state !== 'PROGRESSING') {
      assert.is(s.json.state, want, s.text);
      return s.json;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('deployments: PROGRESSING then READY, override, base-path conflict, ERROR, list, undeploy', async () => {
  const dep = `${E}/apis/demo/revisions/1/deployments`;
  const deployed = await api('POST', dep);
  assert.is(deployed.status, 200, deployed.text);
  assert.equal(Object.keys(deployed.json).sort(), ['apiProxy', 'deployStartTime', 'environment', 'proxyDeploymentType', 'revision']);
  assert.is((await api('GET', dep)).json.state, 'PROGRESSING');
  const ready = await waitState(dep, 'READY');
  assert.is(ready.revision, '1');
  assertError(await api('POST', `${E}/apis/demo/revisions/2/deployments`), 400, 'FAILED_PRECONDITION', /override/);
  assert.is((await api('POST', `${E}/apis/demo/revisions/2/deployments?override=true`)).status, 200);
  await waitState(`${E}/apis/demo/revisions/2/deployments`, 'READY');
  assertError(await api('GET', dep), 404, 'NOT_FOUND');

  await api('POST', '/apis?name=clash&action=import', { body: zip(PROXY_XML('/demo')), type: 'application/octet-stream' });
  const clash = await api('POST', `${E}/apis/clash/revisions/1/deployments`);
  assertError(clash, 400, 'FAILED_PRECONDITION', /deployment validations failed/);
  assert.ok(clash.json.error.details.some((d: any) => d.violations?.[0]?.type === 'CONFLICTING_DEPLOYMENT'));

  await api('POST', '/apis?name=broken&action=import', { body: zip(PROXY_XML('/broken', '<LoadBalancer><Server name="no-such-server"/></LoadBalancer>')), type: 'application/octet-stream' });
  await api('POST', `${E}/apis/broken/revisions/1/deployments`);
  const failed = await waitState(`${E}/apis/broken/revisions/1/deployments`, 'ERROR');
  assert.match(failed.errors[0].message, /no-such-server/);

  const list = (await api('GET', `${E}/deployments`)).json.deployments.map((d: any) => `${d.apiProxy}:${d.revision}`).sort();
  assert.equal(list, ['broken:1', 'demo:2']);
  assertError(await api('DELETE', '/apis/broken'), 400, 'FAILED_PRECONDITION');
  assert.equal((await api('DELETE', `${E}/apis/broken/revisions/1/deployments`)).json, {});
  assertError(await api('DELETE', `${E}/apis/broken/revisions/1/deployments`), 400, 'FAILED_PRECONDITION');
  assert.is((await api('DELETE', '/apis/broken')).json.name, 'broken');
  assert.equal((await api('GET', '/apis/clash/deployments')).json, {});
});

test('environment groups: one seeded group attached to the environment', async () => {
  const groups = (await api('GET', '/envgroups')).json.environmentGroups;
  assert.is(groups.length, 1);
  assert.equal(groups[0].hostnames, ['localhost']);
  assert.is(groups[0].state, 'ACTIVE');
  const attachments = (await api('GET', `/envgroups/${groups[0].name}/attachments`)).json.environmentGroupAttachments;
  assert.is(attachments[0].environment, 'eval');
  assertError(await api('GET', '/envgroups/nope/attachments'), 404, 'NOT_FOUND');
});

test('concurrent writes stay consistent: one winner per name, every other name stored', async () => {
  const create = (name: string) => api('POST', `${E}/keystores`, { body: JSON.stringify({ name }), type: 'application/json' });
  const answers = await Promise.all([
    ...Array.from({ length: 20 }, (_, i) => create(`par-${i}`)),
    ...Array.from({ length: 8 }, () => create('same')),
  ]);
  assert.is(answers.filter((a) => a.status === 200).length, 21);
  assert.is(answers.filter((a) => a.status === 409).length, 7);
  const onDisk = JSON.parse(readFileSync(join(options.dir, 'state.json'), 'utf8'));
  for (let i = 0; i < 20; i++) assert.ok(onDisk.keystores[`par-${i}`]);
  assert.ok(onDisk.keystores.same);
});

test('state survives a restart, leftovers of a killed write are swept; a fixed token is enforced', async () => {
  await local.close();
  // What a process killed mid-change leaves: a half-written temp state and an uncommitted key file.
  writeFileSync(join(options.dir, '.state.json.999.abc.tmp'), '{"version":1,"keyst');
  writeFileSync(join(options.dir, 'keys', 'orphan.pem'), 'x', { mode: 0o600 });
  local = await startApigeeLocal({ ...options, token: 'fixed-secret' });
  assert.not.ok(existsSync(join(options.dir, '.state.json.999.abc.tmp')));
  assert.not.ok(existsSync(join(options.dir, 'keys', 'orphan.pem')));
  assertError(await api('GET', `${E}/keystores/ks1`), 401, 'UNAUTHENTICATED');
  const ks = await api('GET', `${E}/keystores/ks1`, { token: 'fixed-secret' });
  assert.equal(ks.json.aliases, ['client', 'client2', 'kcf', 'old']);
  const dep = await api('GET', `${E}/apis/demo/revisions/2/deployments`, { token: 'fixed-secret' });
  assert.is(dep.json.state, 'READY');
});

test.run();
