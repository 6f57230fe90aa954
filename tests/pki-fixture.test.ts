// The default PKI as `make certs` makes it (the shared fixture is made by the real scripts 10–13):
// names, modes, extensions, chains (openssl and node:crypto), SANs and the stores as Node, openssl
// and Java read them. Also checks that the `bad` fixture pairs are bad in the promised way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { execa } from 'execa';
import { BAD_NAMES, pkiFixture } from './helpers/fixtures.ts';
import { ALL_FILES } from '../scripts/lib/pki/names.ts';
import { describeCertificate } from '../lib/x509-info.ts';
import { extendedKeyUsages, isCurrentlyValid, issuedBy } from '../scripts/lib/pki/inspect.ts';
import { parsePkcs12 } from '../lib/pkcs12.ts';
import { requireCommand } from './helpers/tools.ts';
import { fastJvmEnv } from '../scripts/lib/pki/openssl.ts';

const { pki, bad, password } = await pkiFixture();
const cert = (dir: string, name: string) => new X509Certificate(readFileSync(join(dir, name)));
const ca = cert(pki, 'ca-cert.pem');
const server = cert(pki, 'server-cert.pem');
const client = cert(pki, 'apigee-client-cert.pem');
const pwEnv = { STORE_PASSWORD: password };

test('the twelve files carry the tutorial names and nothing else is left behind', () => {
  const found = readdirSync(pki).sort();
  assert.equal(found, [...ALL_FILES].sort());
});

test('private keys and keystores are 0600; certificates and the truststore 0644', () => {
  for (const name of ALL_FILES) {
    const mode = statSync(join(pki, name)).mode & 0o777;
    const secret = name.endsWith('-key.pem') || name === 'server-keystore.p12' || name === 'client-apigee-keystore.p12';
    assert.is(mode, secret ? 0o600 : 0o644, `${name} mode ${mode.toString(8)}`);
  }
});

test('the CA is a real CA: CA:TRUE critical, keyCertSign + cRLSign, self-signed, RSA 2048', () => {
  const ext = describeCertificate(ca);
  assert.equal(ext.basicConstraints, { ca: true, critical: true });
  assert.equal(ext.keyUsage, { usages: ['keyCertSign', 'cRLSign'], critical: true });
  assert.ok(ca.checkIssued(ca) && ca.verify(ca.publicKey));
  assert.is(ca.publicKey.asymmetricKeyType, 'rsa');
  assert.is(ca.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.match(ca.subject, /O=DemomTLSCompany/);
});

test('server leaf: CA:FALSE, digitalSignature, serverAuth only, SANs IP 127.0.0.1 and DNS localhost', () => {
  const ext = describeCertificate(server);
  assert.is(ext.basicConstraints?.ca, false);
  assert.ok(ext.keyUsage?.usages.includes('digitalSignature'));
  assert.equal(extendedKeyUsages(server), ['serverAuth']);
  assert.is(server.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost');
  assert.is(server.checkIP('127.0.0.1'), '127.0.0.1');
  assert.is(server.checkHost('localhost'), 'localhost');
  assert.match(server.subject, /CN=127\.0\.0\.1/);
});

test('client leaf: CN apigee-client, CA:FALSE, digitalSignature, clientAuth only, no SANs', () => {
  const ext = describeCertificate(client);
  assert.is(ext.basicConstraints?.ca, false);
  assert.ok(ext.keyUsage?.usages.includes('digitalSignature'));
  assert.equal(extendedKeyUsages(client), ['clientAuth']);
  assert.match(client.subject, /CN=apigee-client/);
  assert.is(client.subjectAltName, undefined);
});

test('chains verify with node:crypto and keys match their certificates', () => {
  assert.ok(issuedBy(server, ca));
  assert.ok(issuedBy(client, ca));
  for (const [c, key] of [[ca, 'ca-key.pem'], [server, 'server-key.pem'], [client, 'apigee-client-key.pem']] as const) {
    assert.ok(c.checkPrivateKey(createPrivateKey(readFileSync(join(pki, key)))), key);
  }
  assert.not.ok(server.checkPrivateKey(createPrivateKey(readFileSync(join(pki, 'apigee-client-key.pem')))));
});

test('chains verify with openssl for the right purpose only (EKU separation)', async () => {
  const verify = (purpose: string, file: string) =>
    execa('openssl', ['verify', '-CAfile', 'ca-cert.pem', '-purpose', purpose, file], { cwd: pki, reject: false });
  assert.is((await verify('sslserver', 'server-cert.pem')).exitCode, 0);
  assert.is((await verify('sslclient', 'apigee-client-cert.pem')).exitCode, 0);
  // The tutorial's certificates had no EKU, so either could pose as the other; these cannot.
  assert.is.not((await verify('sslclient', 'server-cert.pem')).exitCode, 0);
  assert.is.not((await verify('sslserver', 'apigee-client-cert.pem')).exitCode, 0);
});

test('keystores: one PrivateKeyEntry each (aliases server, client), loadable by Node as pfx', () => {
  for (const [file, alias, leaf] of [['server-keystore.p12', 'server', server], ['client-apigee-keystore.p12', 'client', client]] as const) {
    const der = readFileSync(join(pki, file));
    const parsed = parsePkcs12(der, password);
    assert.is(parsed.keys.length, 1, file);
    assert.is(parsed.keys[0]?.friendlyName, alias);
    assert.equal(parsed.certs.map((c) => c.x509.fingerprint256), [leaf.fingerprint256]);
    createSecureContext({ pfx: der, passphrase: password });
    assert.throws(() => createSecureContext({ pfx: der, passphrase: 'wrong-password' }), /mac verify failure/);
  }
});

test('truststore: exactly the CA and the client certificate, aliases ca and client, Java-trusted', () => {
  const parsed = parsePkcs12(readFileSync(join(pki, 'server-truststore.p12')), password);
  assert.is(parsed.keys.length, 0);
  const entries = parsed.certs.map((c) => [c.friendlyName, c.x509.fingerprint256, c.javaTrusted]).sort();
  assert.equal(entries, [['ca', ca.fingerprint256, true], ['client', client.fingerprint256, true]]);
});

test('stores open with openssl pkcs12 and the right password only', async () => {
  for (const file of ['server-keystore.p12', 'client-apigee-keystore.p12', 'server-truststore.p12']) {
    const ok = await execa('openssl', ['pkcs12', '-in', file, '-nokeys', '-password', 'env:STORE_PASSWORD'], { cwd: pki, env: pwEnv, reject: false });
    assert.is(ok.exitCode, 0, file);
    const wrong = await execa('openssl', ['pkcs12', '-in', file, '-nokeys', '-password', 'pass:nope'], { cwd: pki, reject: false });
    assert.is.not(wrong.exitCode, 0, file);
  }
});

test('keytool -list: keystores hold a PrivateKeyEntry, the truststore two trustedCertEntry', async () => {
  requireCommand('keytool');
  const list = (file: string) => execa('keytool', ['-list', '-keystore', file, '-storetype', 'PKCS12', '-storepass:env', 'STORE_PASSWORD'], { cwd: pki, env: { ...pwEnv, ...fastJvmEnv() } });
  const [serverKs, clientKs, trust] = await Promise.all([list('server-keystore.p12'), list('client-apigee-keystore.p12'), list('server-truststore.p12')]);
  assert.match(serverKs.stdout, /^server,.*PrivateKeyEntry/m);
  assert.match(clientKs.stdout, /^client,.*PrivateKeyEntry/m);
  assert.match(trust.stdout, /contains 2 entries/);
  assert.match(trust.stdout, /^ca,.*trustedCertEntry/m);
  assert.match(trust.stdout, /^client,.*trustedCertEntry/m);
});

test('bad fixtures are bad in the promised way', () => {
  const files = readdirSync(bad);
  for (const name of BAD_NAMES) {
    assert.ok(files.includes(`${name}-cert.pem`) && files.includes(`${name}-key.pem`), name);
    assert.ok(cert(bad, `${name}-cert.pem`).checkPrivateKey(createPrivateKey(readFileSync(join(bad, `${name}-key.pem`)))), name);
  }
  const otherCa = cert(bad, 'other-ca-cert.pem');
  assert.ok(describeCertificate(otherCa).basicConstraints?.ca);
  assert.ok(issuedBy(cert(bad, 'other-client-cert.pem'), otherCa));
  assert.not.ok(issuedBy(cert(bad, 'other-client-cert.pem'), ca));
  assert.ok(issuedBy(cert(bad, 'other-ca-server-cert.pem'), otherCa));
  assert.is(cert(bad, 'other-ca-server-cert.pem').checkIP('127.0.0.1'), '127.0.0.1');
  const self = cert(bad, 'self-signed-client-cert.pem');
  assert.ok(self.subject === self.issuer && self.verify(self.publicKey));
  const expired = cert(bad, 'expired-client-cert.pem');
  assert.ok(issuedBy(expired, ca) && Date.parse(expired.validTo) < Date.now());
  const future = cert(bad, 'future-client-cert.pem');
  assert.ok(issuedBy(future, ca) && Date.parse(future.validFrom) > Date.now());
  assert.equal(extendedKeyUsages(cert(bad, 'server-eku-client-cert.pem')), ['serverAuth']);
  const second = cert(bad, 'second-client-cert.pem');
  assert.ok(issuedBy(second, ca) && isCurrentlyValid(second) && /CN=second-client/.test(second.subject));
  assert.equal(extendedKeyUsages(second), ['clientAuth']);
  const expiredServer = cert(bad, 'expired-server-cert.pem');
  assert.ok(issuedBy(expiredServer, ca) && !isCurrentlyValid(expiredServer) && expiredServer.checkIP('127.0.0.1') !== undefined);
  const wrongHost = cert(bad, 'wrong-host-server-cert.pem');
  assert.ok(issuedBy(wrongHost, ca) && isCurrentlyValid(wrongHost));
  assert.is(wrongHost.subjectAltName, 'DNS:wrong.example');
  assert.is(wrongHost.checkIP('127.0.0.1'), undefined);
});

test.run();
