// Names that are JavaScript built-ins are names like any other: keystores, aliases, references
// (also as `refers`), target servers and proxies called __proto__, constructor, hasOwnProperty or
// toString get 404 before they exist, 200 when made, 409 when made twice, and work end to end
// through the gateway; nothing answers 500, and the state survives a restart with them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { E, assertError, assertFault, bundle, form, pem, startStandIn, waitFor, type StandIn } from '../helpers/apigee-local.ts';

const NAMES = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'] as const;
let s: StandIn;
let backend: Server;
let port: number;
const json = (value: unknown) => JSON.stringify(value);
const enc = encodeURIComponent;

test.before(async () => {
  s = await startStandIn();
  // A backend that needs a client certificate from the project CA and says whose it got.
  backend = createServer({
    cert: pem(s.fx.pki, 'server-cert.pem'), key: pem(s.fx.pki, 'server-key.pem'), ca: pem(s.fx.pki, 'ca-cert.pem'), requestCert: true, rejectUnauthorized: true,
  }, (req, res) => res.end(`hello ${(req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN}`));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  port = (backend.address() as AddressInfo).port;
});

test.after(async () => {
  await s.close();
  backend.closeAllConnections();
  backend.close();
});

test('before they exist, built-in names are 404 everywhere (not 200, not 500)', async () => {
  for (const name of NAMES) {
    for (const path of [`${E}/keystores/${enc(name)}`, `${E}/references/${enc(name)}`, `${E}/targetservers/${enc(name)}`, `/apis/${enc(name)}`,
      `/apis/${enc(name)}/revisions/${enc(name)}`, `${E}/apis/${enc(name)}/revisions/1/deployments`]) {
      assertError(await s.api('GET', path), 404, 'NOT_FOUND');
    }
  }
});

test('keystores and aliases with built-in names: create 200, duplicate 409, list, get', async () => {
  for (const name of NAMES) {
    assert.is((await s.api('POST', `${E}/keystores`, json({ name }))).status, 200, name);
    assertError(await s.api('POST', `${E}/keystores`, json({ name })), 409, 'ALREADY_EXISTS');
    assertError(await s.api('GET', `${E}/keystores/${enc(name)}/aliases/${enc(name)}`), 404, 'NOT_FOUND');
    const alias = await s.api('POST', `${E}/keystores/${enc(name)}/aliases?alias=${enc(name)}&format=keycertfile`,
      form({ certFile: pem(s.fx.pki, 'apigee-client-cert.pem'), keyFile: pem(s.fx.pki, 'apigee-client-key.pem') }));
    assert.is(alias.status, 200, alias.text);
    assert.is(alias.json.alias, name);
    assertError(await s.api('POST', `${E}/keystores/${enc(name)}/aliases?alias=${enc(name)}&format=keycertfile`,
      form({ certFile: pem(s.fx.pki, 'ca-cert.pem') })), 409, 'ALREADY_EXISTS');
    assert.equal((await s.ok('GET', `${E}/keystores/${enc(name)}`)), { name, aliases: [name] });
  }
  assert.equal(await s.ok('GET', `${E}/keystores`), [...NAMES]);
  await s.ok('POST', `${E}/keystores/toString/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(s.fx.pki, 'ca-cert.pem') }));
});

test('references: named like built-ins, and refers "constructor" only once such a keystore exists', async () => {
  await s.ok('DELETE', `${E}/keystores/constructor`);
  assertError(await s.api('POST', `${E}/references`, json({ name: 'r1', resourceType: 'KeyStore', refers: 'constructor' })), 400, 'INVALID_ARGUMENT', /"constructor" does not exist/);
  assertError(await s.api('POST', `${E}/references`, json({ name: 'r2', resourceType: 'KeyStore', refers: 'hasOwnProperty2' })), 400, 'INVALID_ARGUMENT');
  for (const name of NAMES) {
    const target = name === 'constructor' ? '__proto__' : name;
    const made = await s.api('POST', `${E}/references`, json({ name, resourceType: 'KeyStore', refers: target }));
    assert.is(made.status, 200, made.text);
    assert.equal(made.json, { name, resourceType: 'KeyStore', refers: target });
    assertError(await s.api('POST', `${E}/references`, json({ name, resourceType: 'KeyStore', refers: target })), 409, 'ALREADY_EXISTS');
  }
  assert.equal(await s.ok('GET', `${E}/references`), [...NAMES]);
});

test('target servers and proxies with built-in names work through the gateway', async () => {
  for (const name of NAMES) {
    const ts = { name, host: '127.0.0.1', port, sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: `ref://${name}`, keyAlias: name === 'constructor' ? '__proto__' : name, trustStore: 'toString' } };
    const made = await s.api('POST', `${E}/targetservers`, json(ts));
    assert.is(made.status, 200, made.text);
    assertError(await s.api('POST', `${E}/targetservers`, json(ts)), 409, 'ALREADY_EXISTS');
    const first = await s.api('POST', `/apis?name=${enc(name)}&action=import`, bundle(`/${name}`, `<LoadBalancer><Server name="${name}"/></LoadBalancer>`), 'application/octet-stream');
    assert.is(first.status, 200, first.text);
    assert.is(first.json.revision, '1');
    const second = await s.api('POST', `/apis?name=${enc(name)}&action=import`, bundle(`/${name}`, `<LoadBalancer><Server name="${name}"/></LoadBalancer>`), 'application/octet-stream');
    assert.is(second.json.revision, '2');
    await s.ok('POST', `${E}/apis/${enc(name)}/revisions/2/deployments`);
    await waitFor(`${name} READY`, async () => ((await s.ok('GET', `${E}/apis/${enc(name)}/revisions/2/deployments`)).state === 'READY' ? true : undefined));
    const answer = await s.call(`/${name}`);
    assert.is(answer.status, 200, `${name}: ${answer.text}`);
    assert.is(answer.text, 'hello apigee-client');
  }
  assert.equal((await s.ok('GET', '/apis')).proxies.map((p: any) => p.name), [...NAMES]);
  assert.equal((await s.ok('GET', `${E}/deployments`)).deployments.map((d: any) => d.apiProxy), [...NAMES]);
});

test('a target server pointing at a reference or keystore that does not exist (named like a built-in) → 503, not 500', async () => {
  await s.ok('POST', `${E}/targetservers`, json({ name: 'dangling', host: '127.0.0.1', port, sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ref://valueOf', keyAlias: 'a', trustStore: 'isPrototypeOf' } }));
  await s.ok('POST', '/apis?name=dangling&action=import', bundle('/dangling', '<LoadBalancer><Server name="dangling"/></LoadBalancer>'), 'application/octet-stream');
  await s.ok('POST', `${E}/apis/dangling/revisions/1/deployments`);
  await waitFor('dangling READY', async () => ((await s.ok('GET', `${E}/apis/dangling/revisions/1/deployments`)).state === 'READY' ? true : undefined));
  assertFault(await s.call('/dangling'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  await s.ok('PUT', `${E}/targetservers/dangling`, json({ name: 'dangling', host: '127.0.0.1', port, sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ref://valueOf', keyAlias: 'a' } }));
  assertFault(await s.call('/dangling'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('deleting built-in names works and the state survives a restart with them', async () => {
  await s.ok('DELETE', `${E}/references/toString`);
  assertError(await s.api('GET', `${E}/references/toString`), 404, 'NOT_FOUND');
  await s.restart();
  assert.equal(await s.ok('GET', `${E}/keystores`), ['__proto__', 'hasOwnProperty', 'toString']);
  assert.equal(await s.ok('GET', `${E}/references`), ['__proto__', 'constructor', 'hasOwnProperty']);
  assert.equal(await s.ok('GET', `${E}/targetservers`), [...NAMES, 'dangling']);
  assert.is((await s.ok('GET', '/apis/__proto__')).latestRevisionId, '2');
  assert.is((await s.ok('GET', `${E}/apis/constructor/revisions/2/deployments`)).state, 'READY');
  assert.is(({} as Record<string, unknown>).name, undefined, 'Object.prototype untouched');
});

test.run();
