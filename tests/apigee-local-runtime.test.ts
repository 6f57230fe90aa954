// The stand-in's runtime against the real mTLS backend: a proxy deployed through the management
// API answers with the backend's response; each fault comes from misconfiguring one thing;
// connections to the backend are reused; deployments are served again after a restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { Agent, request } from 'undici';
import { startBackend, settingsFromEnv, type Backend } from '../backend/server.ts';
import { startApigeeLocal, type ApigeeLocal, type ApigeeLocalOptions } from '../apigee-local/server.ts';
import { backendEnv, pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { tempDir } from './helpers/temp.ts';

let fx: PkiFixture;
let backend: Backend;
let local: ApigeeLocal;
let options: ApigeeLocalOptions;
let client: Agent;
let handshakes = 0;
let slowAnswers = 0; // answers the slow backend has sent so far
const extraServers: Server[] = [];
const faultLines: string[] = [];
const E = '/environments/eval';

async function api(method: string, path: string, input?: BodyInit | Buffer, type = 'application/json'): Promise<any> {
  const body = Buffer.isBuffer(input) ? new Uint8Array(input) : input;
  // FormData bodies carry their own multipart content type.
  const headers: Record<string, string> = { authorization: 'Bearer t' };
  if (body && !(body instanceof FormData)) headers['content-type'] = type;
  const res = await fetch(local.apiUrl + path, { method, body, headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return JSON.parse(text);
}

async function call(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; json: any; headers: Record<string, unknown> }> {
  const res = await request(`https://127.0.0.1:${local.runtimePort}${path}`, { dispatcher: client, headers });
  const body = await res.body.text();
  let json: any;
  try { json = JSON.parse(body); } catch { json = undefined; }
  return { status: res.statusCode, body, json, headers: res.headers };
}

function assertFault(a: { status: number; json: any; body: string }, status: number, errorcode: string) {
  assert.is(a.status, status, a.body);
  assert.is(a.json.fault.detail.errorcode, errorcode, a.body);
  assert.type(a.json.fault.faultstring, 'string');
}

const pem = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

function form(parts: Record<string, string | Buffer>): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (typeof value === 'string' && name === 'password') data.append(name, value);
    else data.append(name, new Blob([typeof value === 'string' ? value : new Uint8Array(value)]), `${name}.bin`);
  }
  return data;
}

function listenHttps(certName: string, keyName: string, dir: string, handler: (res: import('node:http').ServerResponse) => void): Promise<number> {
  const server = createServer({ cert: pem(dir, certName), key: pem(dir, keyName) }, (_req, res) => handler(res));
  extraServers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function bundle(basePath: string, connection: string): Buffer {
  const files = {
    'apiproxy/p.xml': '<APIProxy name="p"/>',
    'apiproxy/proxies/default.xml': `<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>${basePath}</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>default</TargetEndpoint></RouteRule></ProxyEndpoint>`,
    'apiproxy/targets/default.xml': `<TargetEndpoint name="default"><HTTPTargetConnection>${connection}</HTTPTargetConnection></TargetEndpoint>`,
  };
  return Buffer.from(zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))));
}

async function deploy(name: string, basePath: string, connection: string): Promise<void> {
  const rev = await api('POST', `/apis?name=${name}&action=import`, bundle(basePath, connection), 'application/octet-stream');
  await api('POST', `${E}/apis/${name}/revisions/${rev.revision}/deployments?override=true`);
  assert.is((await api('GET', `${E}/apis/${name}/revisions/${rev.revision}/deployments`)).state, 'READY');
}

async function targetServer(name: string, port: number, ssl: Record<string, unknown>): Promise<void> {
  await api('POST', `${E}/targetservers`, JSON.stringify({ name, host: '127.0.0.1', port, sSLInfo: { enabled: true, ...ssl } }));
  await deploy(name, `/${name}`, `<LoadBalancer><Server name="${name}"/></LoadBalancer>`);
}

const MTLS = { clientAuthEnabled: true, keyStore: 'ref://ks-ref', keyAlias: 'client', trustStore: 'ref://ts-ref', enforce: true };

test.before(async () => { try { await setup(); } catch (e) { console.error("SETUP FAILED", e); throw e; } });
async function setup(): Promise<void> {
  fx = await pkiFixture();
  backend = await startBackend(settingsFromEnv(backendEnv(fx)), { log: () => undefined });
  backend.server.on('secureConnection', () => handshakes++);
  options = {
    org: 'demo-org', env: 'eval', dir: tempDir('apigee-local-rt-'),
    caCertFile: join(fx.pki, 'ca-cert.pem'), caKeyFile: join(fx.pki, 'ca-key.pem'),
    apiPort: 0, runtimePort: 0, deploySettleMs: 0, faultLog: (line) => faultLines.push(line),
  };
  local = await startApigeeLocal(options);
  client = new Agent({ connect: { ca: pem(fx.pki, 'ca-cert.pem') } });

  // The tutorial's Apigee side: client keystore (PKCS#12), truststore with the CA, references.
  await api('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
  await api('POST', `${E}/keystores/ks/aliases?alias=client&format=pkcs12`, form({ file: readFileSync(join(fx.pki, 'client-apigee-keystore.p12')), password: fx.password }));
  await api('POST', `${E}/keystores`, JSON.stringify({ name: 'ts' }));
  await api('POST', `${E}/keystores/ts/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(fx.pki, 'ca-cert.pem') }));
  await api('POST', `${E}/keystores`, JSON.stringify({ name: 'ts-other' }));
  await api('POST', `${E}/keystores/ts-other/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(fx.bad, 'other-ca-cert.pem') }));
  await api('POST', `${E}/references`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks' }));
  await api('POST', `${E}/references`, JSON.stringify({ name: 'ts-ref', resourceType: 'TrustStore', refers: 'ts' }));

  const wrongHostPort = await listenHttps('wrong-host-server-cert.pem', 'wrong-host-server-key.pem', fx.bad, (res) => res.end('wrong host answered'));
  // A certificate from the project CA, but issued for clients only (extendedKeyUsage clientAuth).
  const clientPurposePort = await listenHttps('apigee-client-cert.pem', 'apigee-client-key.pem', fx.pki, (res) => res.end('client certificate answered'));
  const slowPort = await listenHttps('server-cert.pem', 'server-key.pem', fx.pki, (res) => { setTimeout(() => res.end('late', () => slowAnswers++), 3000).unref(); });
  await targetServer('good', backend.port, MTLS);
  await targetServer('noauth', backend.port, { ...MTLS, clientAuthEnabled: false, keyStore: undefined, keyAlias: undefined });
  await targetServer('wrongtrust', backend.port, { ...MTLS, trustStore: 'ts-other' });
  await targetServer('wronghost', wrongHostPort, MTLS);
  await targetServer('laxhost', wrongHostPort, { ...MTLS, enforce: false });
  await targetServer('clientpurpose', clientPurposePort, MTLS);
  await targetServer('down', await freePort(), MTLS);
  await targetServer('ignore', backend.port, { ...MTLS, trustStore: 'ts-other', enforce: false, ignoreValidationErrors: true });
  await targetServer('tls12', backend.port, { ...MTLS, protocols: ['TLSv1.2'] });
  await targetServer('tls11', backend.port, { ...MTLS, protocols: ['TLSv1.1'] });
  await targetServer('tls10', backend.port, { ...MTLS, protocols: ['TLSv1.0'] });
  await targetServer('nokey', backend.port, { ...MTLS, keyStore: 'ts' });
  // Settings in combination: each must hold whatever the others say.
  await targetServer('keynotused', backend.port, { ...MTLS, clientAuthEnabled: false });
  await targetServer('foreign', backend.port, { ...MTLS, trustStore: 'ts-other', enforce: false, ignoreValidationErrors: false });
  await targetServer('enforcewins', backend.port, { ...MTLS, trustStore: 'ts-other', enforce: true, ignoreValidationErrors: true });
  await targetServer('notrust', backend.port, { ...MTLS, trustStore: undefined, enforce: false });
  await targetServer('plain', backend.port, { ...MTLS, enabled: false });
  await api('POST', `${E}/targetservers`, JSON.stringify({ name: 'off', host: '127.0.0.1', port: backend.port, isEnabled: false, sSLInfo: { enabled: true, ...MTLS } }));
  await deploy('off', '/off', '<LoadBalancer><Server name="off"/></LoadBalancer>');
  await deploy('slow', '/slow', `<Properties><Property name="io.timeout.millis">300</Property></Properties><URL>https://127.0.0.1:${slowPort}/</URL>
    <SSLInfo><Enabled>true</Enabled><Enforce>true</Enforce><TrustStore>ref://ts-ref</TrustStore></SSLInfo>`);
  await deploy('direct', '/direct', `<URL>https://127.0.0.1:${backend.port}</URL><SSLInfo><Enabled>true</Enabled><Enforce>true</Enforce>
    <ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>ref://ks-ref</KeyStore><KeyAlias>client</KeyAlias><TrustStore>ref://ts-ref</TrustStore></SSLInfo>`);
}

test.after(async () => {
  await client.close();
  await local.close();
  await backend.close();
  for (const s of extraServers) s.closeAllConnections(), s.close();
});

test('a proxy deployed through the API reaches the mTLS backend (target server and URL + SSLInfo)', async () => {
  for (const path of ['/good', '/direct']) {
    const a = await call(path);
    assert.is(a.status, 200, a.body);
    assert.match(a.body, /Hello/);
    assert.match(String(a.headers['content-type']), /text|json/);
  }
  const who = await call('/good/whoami?x=1');
  assert.is(who.status, 200, who.body);
  assert.match(who.body, /apigee-client/);
});

test('a path no deployment serves → 404 ApplicationNotFound naming host and path', async () => {
  const a = await call('/nothing-here?x=1');
  assertFault(a, 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
  assert.is(a.json.fault.faultstring, 'Unable to identify proxy for host: 127.0.0.1 and url: /nothing-here');
});

test('client certificate not sent → 503 ServiceUnavailable', async () => {
  assertFault(await call('/noauth'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('truststore without the backend CA → 503 SslHandshakeFailed', async () => {
  assertFault(await call('/wrongtrust'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
});

test('host not in the backend certificate → 503 SslHandshakeFailed, with enforce and without (the stricter side)', async () => {
  assertFault(await call('/wronghost'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  assertFault(await call('/laxhost'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
});

test('a backend certificate not issued for servers (extendedKeyUsage clientAuth only) → 503 SslHandshakeFailed', async () => {
  const a = await call('/clientpurpose');
  assertFault(a, 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  assert.match(a.json.fault.faultstring, /^SSL Handshake failed INVALID_PURPOSE: /);
});

test('ignoreValidationErrors without enforce accepts an untrusted backend', async () => {
  const a = await call('/ignore');
  assert.is(a.status, 200, a.body);
});

test('clientAuthEnabled false with keyStore and keyAlias still set: no certificate is presented → 503', async () => {
  assertFault(await call('/keynotused'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('a foreign truststore is enforced without enforce (ignoreValidationErrors false) → 503 SslHandshakeFailed', async () => {
  const a = await call('/foreign');
  assertFault(a, 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  assert.match(a.json.fault.faultstring, /^SSL Handshake failed [A-Z_]+: .*(issuer|self.signed)/);
});

test('enforce true wins over ignoreValidationErrors true → 503 SslHandshakeFailed', async () => {
  assertFault(await call('/enforcewins'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
});

test('no truststore and no enforce: the backend certificate is not checked, the client certificate still goes', async () => {
  const a = await call('/notrust/whoami');
  assert.is(a.status, 200, a.body);
  assert.match(a.body, /apigee-client/);
});

test('TLS disabled towards a TLS backend → 503 ServiceUnavailable', async () => {
  assertFault(await call('/plain'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('protocols: TLSv1.2 only works; a version the backend refuses → 503 SslHandshakeFailed', async () => {
  assert.is((await call('/tls12')).status, 200);
  assertFault(await call('/tls11'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
});

test('protocols naming no version the runtime speaks ("TLSv1.0" is not a protocol name) → 503 SslHandshakeFailed, no call', async () => {
  // It used to be dropped, leaving no restriction at all: the call went out with TLS 1.3 and got 200.
  const before = handshakes;
  const a = await call('/tls10');
  assertFault(a, 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  assert.match(a.body, /TLSv1\.0/);
  assert.is(handshakes, before, 'the backend saw no connection');
});

test('client auth with a keystore alias that has no key → 503 ServiceUnavailable, no call', async () => {
  const before = handshakes;
  assertFault(await call('/nokey'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
  assert.is(handshakes, before, 'the backend saw no connection');
});

test('every target server disabled → 503 NoActiveTargets', async () => {
  assertFault(await call('/off'), 503, 'messaging.adaptors.http.flow.NoActiveTargets');
});

test('request bodies go through; the backend status, headers and body come back unchanged', async () => {
  const res = await request(`https://127.0.0.1:${local.runtimePort}/good`, { dispatcher: client, method: 'POST', body: 'x'.repeat(100_000), headers: { 'content-type': 'text/plain' } });
  const body = await res.body.text();
  assert.is(res.statusCode, 405, body);
  assert.match(String(res.headers.allow), /GET/);
  assert.match(body, /method not allowed/);
});

test('backend down → 503 ServiceUnavailable', async () => {
  assertFault(await call('/down'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('each fault is one line in the stand-in\'s output saying why (not in the answer); the query is left out', async () => {
  faultLines.length = 0;
  const down = await call('/down?apikey=secret-in-query');
  assert.not.match(down.body, /ECONNREFUSED/, 'the cause stays out of the answer, as on Apigee');
  await call('/nokey');
  await call('/noauth');
  await call('/off');
  assert.is(faultLines.length, 4, faultLines.join('\n'));
  assert.match(faultLines[0]!, /^apigee-local runtime: GET \/down → 503 messaging\.adaptors\.http\.flow\.ServiceUnavailable: ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
  assert.match(faultLines[1]!, /ServiceUnavailable: keystore ts has no key alias client: no client certificate to present$/);
  // The backend refused the handshake (TLS 1.3: after it, by hanging up).
  assert.match(faultLines[2]!, /^apigee-local runtime: GET \/noauth → 503 messaging\.adaptors\.http\.flow\.ServiceUnavailable: .*(alert|refused or missing client certificate)/);
  assert.match(faultLines[3]!, /NoActiveTargets: no enabled target server among off$/);
  for (const line of faultLines) assert.not.match(line, /[\n\r]|secret-in-query/);
});

test('slow backend → 504 GatewayTimeout after io.timeout.millis', async () => {
  // Ordered, not timed: the 504 came before the backend's answer (at 3 s, 10 times the io
  // timeout). A timeout later than that fails assertFault with the backend's 200 'late'.
  const before = slowAnswers;
  const started = Date.now();
  const a = await call('/slow');
  const ms = Date.now() - started;
  assertFault(a, 504, 'messaging.adaptors.http.flow.GatewayTimeout');
  assert.is(a.json.fault.detail.reason, 'TARGET_READ_TIMEOUT');
  assert.is(slowAnswers, before, `answered before the backend did (after ${ms} ms)`);
});

test('keep-alive pool: many requests, few backend handshakes', async () => {
  await call('/good');
  const before = handshakes;
  const workers = 4;
  const perWorker = 50;
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let i = 0; i < perWorker; i++) assert.is((await call('/good')).status, 200);
  }));
  const made = handshakes - before;
  assert.ok(made <= workers, `${made} handshakes for ${workers * perWorker} requests`);
});

test('target server deleted after deployment → 503 NoActiveTargets at request time', async () => {
  await api('DELETE', `${E}/targetservers/down`);
  assertFault(await call('/down'), 503, 'messaging.adaptors.http.flow.NoActiveTargets');
});

test('after a restart the deployments are served again', async () => {
  await local.close();
  local = await startApigeeLocal({ ...options, apiPort: 0, runtimePort: 0 });
  const a = await call('/good');
  assert.is(a.status, 200, a.body);
  assert.match(a.body, /Hello/);
});

test.run();
