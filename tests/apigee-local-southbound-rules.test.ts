// The stand-in applies what it stores of a target server's sSLInfo, on the stricter side where the
// reference leaves Apigee X's behaviour open: the backend certificate's names are checked on every
// TLS call (host by Java's rules and message; commonName.value against the CN, wildcardMatch
// included), and `ciphers` (Java/IANA names) limit what is offered, TLS 1.3 suites included.
// Real backend, real stand-in, ephemeral ports.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { getCiphers, type TLSSocket } from 'node:tls';
import { startBackend, settingsFromEnv, type Backend } from '../backend/server.ts';
import { startApigeeLocal } from '../apigee-local/server.ts';
import { CIPHER_SUITES } from '../apigee-local/ciphers.ts';
import { backendEnv } from './helpers/fixtures.ts';
import { E, assertFault, bundle, form, importAndDeploy, pem, startStandIn, type StandIn } from './helpers/apigee-local.ts';
import { tempDir } from './helpers/temp.ts';

let s: StandIn;
let backend: Backend;
let handshakes = 0;
let last: { protocol: string; cipher: string } | undefined; // the backend's side of the latest handshake
const extraServers: Server[] = [];
const HANDSHAKE = 'messaging.adaptors.http.flow.SslHandshakeFailed';

async function targetServer(name: string, port: number, ssl: Record<string, unknown>, host = '127.0.0.1'): Promise<void> {
  await s.ok('POST', `${E}/targetservers`, JSON.stringify({ name, host, port, sSLInfo: { enabled: true, ...ssl } }));
  await importAndDeploy(s, name, `/${name}`, `<LoadBalancer><Server name="${name}"/></LoadBalancer>`);
}

/** A server certificate from the fixture CA with its own CN and SANs, served on a new port. */
function serveCertificate(cn: string, san: string, answer: string): Promise<number> {
  const dir = tempDir('southbound-cert-');
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem']);
  run(['req', '-new', '-key', 'key.pem', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`, '-addext', 'extendedKeyUsage=serverAuth', '-out', 'req.csr']);
  run(['x509', '-req', '-in', 'req.csr', '-CA', join(s.fx.pki, 'ca-cert.pem'), '-CAkey', join(s.fx.pki, 'ca-key.pem'), '-days', '2', '-sha256', '-copy_extensions', 'copyall', '-out', 'cert.pem']);
  const server = createServer({ cert: pem(dir, 'cert.pem'), key: pem(dir, 'key.pem') }, (_req, res) => res.end(answer));
  extraServers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

// The backend's server certificate (fixture PKI): CN=127.0.0.1, subjectAltName IP:127.0.0.1, DNS:localhost.
const MTLS = { clientAuthEnabled: true, keyStore: 'ks', keyAlias: 'client', trustStore: 'ts' };

test.before(async () => {
  s = await startStandIn({ dir: tempDir('apigee-local-southbound-') });
  const { fx } = s;
  backend = await startBackend(settingsFromEnv(backendEnv(fx)), { log: () => undefined });
  backend.server.on('secureConnection', (socket: TLSSocket) => {
    handshakes++;
    last = { protocol: String(socket.getProtocol()), cipher: socket.getCipher().standardName };
  });
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
  await s.ok('POST', `${E}/keystores/ks/aliases?alias=client&format=pkcs12`, form({ file: readFileSync(join(fx.pki, 'client-apigee-keystore.p12')), password: fx.password }));
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ts' }));
  await s.ok('POST', `${E}/keystores/ts/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(fx.pki, 'ca-cert.pem') }));
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ts-other' }));
  await s.ok('POST', `${E}/keystores/ts-other/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(fx.bad, 'other-ca-cert.pem') }));

  // Trusted (fixture CA), but issued for wrong.example only (subjectAltName DNS:wrong.example).
  const wrongHost = await new Promise<number>((resolve) => {
    const server = createServer({ cert: pem(fx.bad, 'wrong-host-server-cert.pem'), key: pem(fx.bad, 'wrong-host-server-key.pem') }, (_req, res) => res.end('wrong host answered'));
    extraServers.push(server);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
  const wildcard = await serveCertificate('api.example.test', 'IP:127.0.0.1', 'api.example.test answered');

  // Host names, whatever enforce and ignoreValidationErrors say.
  await targetServer('host-enforce-unset', wrongHost, MTLS);
  await targetServer('host-no-truststore', wrongHost, { ...MTLS, trustStore: undefined });
  await targetServer('host-ignore-errors', wrongHost, { ...MTLS, trustStore: 'ts-other', ignoreValidationErrors: true });
  await targetServer('host-dns', wrongHost, MTLS, 'localhost');
  await importAndDeploy(s, 'host-url', '/host-url', `<URL>https://127.0.0.1:${wrongHost}</URL><SSLInfo><Enabled>true</Enabled><TrustStore>ts</TrustStore></SSLInfo>`);
  await targetServer('host-ok', backend.port, { ...MTLS, trustStore: undefined });
  // commonName against the CN.
  await targetServer('cn-exact', backend.port, { ...MTLS, enforce: true, commonName: { value: '127.0.0.1' } });
  await targetServer('cn-san-only', backend.port, { ...MTLS, enforce: true, commonName: { value: 'localhost' } });
  await targetServer('cn-unset-enforce', backend.port, { ...MTLS, commonName: { value: 'localhost' } });
  await targetServer('cn-wildcard', wildcard, { ...MTLS, enforce: true, commonName: { value: '*.example.test', wildcardMatch: true } });
  await targetServer('cn-wildcard-off', wildcard, { ...MTLS, enforce: true, commonName: { value: '*.example.test' } });
  await targetServer('cn-wildcard-two-labels', wildcard, { ...MTLS, enforce: true, commonName: { value: '*.test', wildcardMatch: true } });
  await importAndDeploy(s, 'cn-url', '/cn-url', `<URL>https://127.0.0.1:${wildcard}</URL><SSLInfo><Enabled>true</Enabled><Enforce>true</Enforce><TrustStore>ts</TrustStore>
    <CommonName wildcardMatch="true">*.example.test</CommonName></SSLInfo>`);
  // Ciphers (the backend's key is RSA; it offers Node's default suites, TLS 1.2 and 1.3).
  await targetServer('cipher-rsa12', backend.port, { ...MTLS, enforce: true, ciphers: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'] });
  await targetServer('cipher-ecdsa12', backend.port, { ...MTLS, enforce: true, ciphers: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] });
  await targetServer('cipher-chacha13', backend.port, { ...MTLS, enforce: true, ciphers: ['TLS_CHACHA20_POLY1305_SHA256'] });
  await targetServer('cipher-13-on-12', backend.port, { ...MTLS, enforce: true, protocols: ['TLSv1.2'], ciphers: ['TLS_AES_128_GCM_SHA256'] });
  await importAndDeploy(s, 'cipher-url', '/cipher-url', `<URL>https://127.0.0.1:${backend.port}</URL><SSLInfo><Enabled>true</Enabled><Enforce>true</Enforce>
    <ClientAuthEnabled>true</ClientAuthEnabled><KeyStore>ks</KeyStore><KeyAlias>client</KeyAlias><TrustStore>ts</TrustStore>
    <Ciphers><Cipher>TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384</Cipher></Ciphers></SSLInfo>`);
});

test.after(async () => {
  await s.close();
  await backend.close();
  for (const s of extraServers) s.closeAllConnections(), s.close();
});

test('a host the certificate does not name fails with enforce unset, without truststore, and with ignoreValidationErrors (Java\'s message)', async () => {
  // Before: only enforce: true checked the name, so each of these answered 200 "wrong host answered".
  const ipMessage = 'SSL Handshake failed java.security.cert.CertificateException: No subject alternative names matching IP address 127.0.0.1 found';
  for (const path of ['/host-enforce-unset', '/host-no-truststore', '/host-ignore-errors', '/host-url']) {
    assertFault(await s.call(path), 503, HANDSHAKE, ipMessage);
  }
  assertFault(await s.call('/host-dns'), 503, HANDSHAKE, 'SSL Handshake failed java.security.cert.CertificateException: No subject alternative DNS name matching localhost found.');
});

test('a certificate that names the host still passes without enforce and without truststore', async () => {
  const a = await s.call('/host-ok/whoami');
  assert.is(a.status, 200, a.text);
  assert.match(a.text, /apigee-client/);
});

test('commonName.value is matched against the certificate\'s CN (a SAN is not enough), also with enforce unset', async () => {
  assert.is((await s.call('/cn-exact')).status, 200);
  // localhost is a DNS SAN of the backend certificate, not its CN (127.0.0.1): it used to pass.
  assertFault(await s.call('/cn-san-only'), 503, HANDSHAKE, 'SSL Handshake failed COMMON_NAME_MISMATCH: the certificate\'s CN "127.0.0.1" is not "localhost"');
  assertFault(await s.call('/cn-unset-enforce'), 503, HANDSHAKE, /COMMON_NAME_MISMATCH/);
});

test('commonName.wildcardMatch: "*.example.test" matches CN api.example.test only with it, and stands for one label', async () => {
  const a = await s.call('/cn-wildcard');
  assert.is(a.status, 200, a.text);
  assert.is(a.text, 'api.example.test answered');
  assert.is((await s.call('/cn-url')).status, 200, 'the bundle\'s <CommonName wildcardMatch="true">');
  assertFault(await s.call('/cn-wildcard-off'), 503, HANDSHAKE, /CN "api\.example\.test" is not "\*\.example\.test"$/);
  assertFault(await s.call('/cn-wildcard-two-labels'), 503, HANDSHAKE, /COMMON_NAME_MISMATCH/);
});

test('ciphers: a TLS 1.2 suite is the one negotiated, and takes TLS 1.3 off', async () => {
  const a = await s.call('/cipher-rsa12');
  assert.is(a.status, 200, a.text);
  assert.equal(last, { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' });
  assert.is((await s.call('/cipher-url')).status, 200);
  assert.equal(last, { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384' }, 'the bundle\'s <Ciphers>');
});

test('ciphers: a TLS 1.3 suite is the one negotiated (OpenSSL keeps TLS 1.3 suites apart)', async () => {
  const a = await s.call('/cipher-chacha13');
  assert.is(a.status, 200, a.text);
  assert.equal(last, { protocol: 'TLSv1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256' });
});

test('ciphers the backend does not offer → 503 ServiceUnavailable (the backend refuses the handshake)', async () => {
  assertFault(await s.call('/cipher-ecdsa12'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable', 'The Service is temporarily unavailable');
});

test('only TLS 1.3 suites with protocols TLSv1.2 → 503 SslHandshakeFailed with Java\'s message, no call', async () => {
  const before = handshakes;
  assertFault(await s.call('/cipher-13-on-12'), 503, HANDSHAKE,
    'SSL Handshake failed javax.net.ssl.SSLHandshakeException: No appropriate protocol (protocol is disabled or cipher suites are inappropriate)');
  assert.is(handshakes, before);
});

test('an unknown or OpenSSL-named cipher → 400 INVALID_ARGUMENT at the management API and at import, nothing stored', async () => {
  const cases: [string, RegExp][] = [
    ['TLS_FOO_WITH_BAR', /^sSLInfo\.ciphers: unknown cipher suite "TLS_FOO_WITH_BAR"/],
    ['ECDHE-RSA-AES128-GCM-SHA256', /OpenSSL's name; Apigee X takes the Java\/IANA name TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256/],
  ];
  for (const [cipher, message] of cases) {
    const a = await s.api('POST', `${E}/targetservers`, JSON.stringify({ name: 'bad-cipher', host: '127.0.0.1', port: 443, sSLInfo: { enabled: true, ciphers: [cipher] } }));
    assert.is(a.status, 400, a.text);
    assert.is(a.json.error.status, 'INVALID_ARGUMENT');
    assert.match(a.json.error.message, message);
    assert.is((await s.api('GET', `${E}/targetservers/bad-cipher`)).status, 404);
  }
  const imported = await s.api('POST', '/apis?name=badcipher&action=import',
    bundle('/badcipher', '<URL>https://127.0.0.1:1</URL><SSLInfo><Enabled>true</Enabled><Ciphers><Cipher>RC4-MD5</Cipher></Ciphers></SSLInfo>'), 'application/octet-stream');
  assert.is(imported.status, 400, imported.text);
  assert.match(imported.json.error.message, /SSLInfo Ciphers: unknown cipher suite "RC4-MD5"/);
  assert.is((await s.api('GET', '/apis/badcipher')).status, 404);
});

test('an unknown cipher in a state saved before the check → 503 SslHandshakeFailed, the stand-in keeps serving', async () => {
  await targetServer('stored-cipher', backend.port, { ...MTLS, ciphers: ['TLS_AES_128_GCM_SHA256'] });
  await s.local.close();
  const file = join(s.options.dir, 'state.json');
  const state = JSON.parse(readFileSync(file, 'utf8'));
  const text = JSON.stringify(state);
  assert.ok(text.includes('"TLS_AES_128_GCM_SHA256"'), 'the target server\'s ciphers are in state.json');
  writeFileSync(file, text.replaceAll('"TLS_AES_128_GCM_SHA256"', '"TLS_NOT_A_SUITE"'));
  s.local = await startApigeeLocal({ ...s.options, apiPort: 0, runtimePort: 0 });
  assertFault(await s.call('/stored-cipher'), 503, HANDSHAKE, /unknown cipher suite "TLS_NOT_A_SUITE"/);
  assert.is((await s.call('/host-ok')).status, 200);
});

test('the cipher table is what `openssl ciphers -stdname` says, and Node knows every name', () => {
  const stdname = new Map(execFileSync('openssl', ['ciphers', '-stdname', 'ALL'], { encoding: 'utf8' }).trim().split('\n')
    .map((line) => line.split(/\s+/)).map((f) => [f[0]!, f[2]!]));
  const node = new Set(getCiphers());
  for (const [iana, openssl] of Object.entries(CIPHER_SUITES)) {
    assert.is(stdname.get(iana), openssl, iana);
    assert.ok(node.has(openssl.toLowerCase()), `${openssl} in tls.getCiphers()`);
  }
});

test.run();
