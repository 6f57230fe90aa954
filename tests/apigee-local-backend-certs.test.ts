// Unusual backend certificates and target-server TLS settings against the stand-in's southbound
// TLS: a certificate OpenSSL's security level refuses is *our* rejection (SslHandshakeFailed), a
// protocols list is a set of versions (not a range that lets an unnamed one in), and a changed
// truststore or keystore reaches new calls even while a pooled connection to the backend lives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { execa } from 'execa';
import { E, assertFault, form, importAndDeploy, startStandIn, type StandIn } from './helpers/apigee-local.ts';
import { tempDir } from './helpers/temp.ts';

let s: StandIn;
let dir: string;
const servers: Server[] = [];
const handshakes = new Map<number, number>();
const file = (name: string) => readFileSync(join(dir, name), 'utf8');
const openssl = (args: string[]) => execa('openssl', args, { cwd: dir });
const LEAF = ['-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature'];

async function ecKey(name: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}-key.pem`]);
}

async function root(name: string): Promise<void> {
  await ecKey(name);
  await openssl(['req', '-x509', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=${name}`, '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-out', `${name}-cert.pem`]);
}

/** A leaf signed by `ca` with the digest `md` (sha256, or sha1 for a signature OpenSSL 3 finds too weak). */
async function leaf(name: string, ca: string, eku: string, md = 'sha256'): Promise<void> {
  await ecKey(name);
  await openssl(['req', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=${name}`, ...LEAF, '-addext', `extendedKeyUsage=${eku}`,
    '-addext', 'subjectAltName=IP:127.0.0.1', '-out', `${name}.csr`]);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}-cert.pem`, '-CAkey', `${ca}-key.pem`, '-days', '2', `-${md}`,
    '-copy_extensions', 'copyall', '-out', `${name}-cert.pem`]);
}

/** A backend answering with the CN of the client certificate it got ("none" without one). */
async function backend(cert: string, options: ServerOptions = {}): Promise<number> {
  const server = createServer({ cert: file(`${cert}-cert.pem`), key: file(`${cert}-key.pem`), ...options }, (req, res) => {
    res.end(`client=${(req.socket as TLSSocket).getPeerCertificate()?.subject?.CN ?? 'none'}`);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  server.on('secureConnection', () => handshakes.set(port, (handshakes.get(port) ?? 0) + 1));
  return port;
}

async function store(name: string, certFile: string, keyFile?: string): Promise<void> {
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name }));
  await s.ok('POST', `${E}/keystores/${name}/aliases?alias=a&format=keycertfile`, form(keyFile ? { certFile: file(certFile), keyFile: file(keyFile) } : { certFile: file(certFile) }));
}

const targetServer = (name: string, port: number, ssl: Record<string, unknown>) =>
  JSON.stringify({ name, host: '127.0.0.1', port, sSLInfo: { enabled: true, ...ssl } });

async function proxy(name: string, port: number, ssl: Record<string, unknown>): Promise<void> {
  await s.ok('POST', `${E}/targetservers`, targetServer(name, port, ssl));
  await importAndDeploy(s, name, `/${name}`, `<LoadBalancer><Server name="${name}"/></LoadBalancer>`);
}

test.before(async () => {
  dir = tempDir('backend-certs-');
  await Promise.all([root('root'), root('root2')]);
  await Promise.all([
    leaf('server', 'root', 'serverAuth'), leaf('sha1-server', 'root', 'serverAuth', 'sha1'),
    leaf('client', 'root', 'clientAuth'), leaf('client2', 'root2', 'clientAuth'),
  ]);
  s = await startStandIn();
  await store('ts', 'root-cert.pem');
  await store('ts2', 'root2-cert.pem');
  await store('ks', 'client-cert.pem', 'client-key.pem');
  await store('ks2', 'client2-cert.pem', 'client2-key.pem');
});

test.after(async () => {
  for (const server of servers) server.closeAllConnections(), server.close();
  await s.close();
});

test('a backend certificate signed with SHA-1 (refused by OpenSSL 3\'s security level) → 503 SslHandshakeFailed, not ServiceUnavailable', async () => {
  // The backend itself must drop to security level 0 to even load that certificate.
  const port = await backend('sha1-server', { ciphers: 'DEFAULT@SECLEVEL=0' });
  await proxy('sha1', port, { trustStore: 'ts', enforce: true });
  const a = await s.call('/sha1');
  assertFault(a, 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  assert.match(a.json.fault.faultstring, /too weak/);
});

test('protocols ["TLSv1", "TLSv1.3"] does not let TLS 1.2 in (a TLS 1.2-only backend → 503); against TLS 1.3 it works', async () => {
  const only12 = await backend('server', { maxVersion: 'TLSv1.2' });
  await proxy('gap', only12, { trustStore: 'ts', enforce: true, protocols: ['TLSv1', 'TLSv1.3'] });
  assertFault(await s.call('/gap'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  const any = await backend('server');
  await proxy('gap13', any, { trustStore: 'ts', enforce: true, protocols: ['TLSv1.1', 'TLSv1.3'] });
  const a = await s.call('/gap13');
  assert.is(a.status, 200, a.text);
});

test('a changed truststore, keystore or reference reaches the next call, not masked by the pooled connection', async () => {
  const port = await backend('server', { requestCert: true, rejectUnauthorized: true, ca: [file('root-cert.pem')] });
  await s.ok('POST', `${E}/references`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks' }));
  const good = { trustStore: 'ts', enforce: true, clientAuthEnabled: true, keyStore: 'ref://ks-ref', keyAlias: 'a' };
  await proxy('chg', port, good);
  for (let i = 0; i < 3; i++) assert.is((await s.call('/chg')).text, 'client=client');
  assert.is(handshakes.get(port), 1, 'one pooled connection carried the calls');
  const put = (ssl: Record<string, unknown>) => s.ok('PUT', `${E}/targetservers/chg`, targetServer('chg', port, ssl));

  await put({ ...good, trustStore: 'ts2' });
  assertFault(await s.call('/chg'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
  await put(good);
  assert.is((await s.call('/chg')).text, 'client=client');

  await s.ok('PUT', `${E}/references/ks-ref`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks2' }));
  assertFault(await s.call('/chg'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
  await s.ok('PUT', `${E}/references/ks-ref`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks' }));
  assert.is((await s.call('/chg')).text, 'client=client');

  // The truststore's alias now holds another root: same store name, same alias name, new trust.
  await s.ok('PUT', `${E}/keystores/ts/aliases/a`, form({ certFile: file('root2-cert.pem') }));
  assertFault(await s.call('/chg'), 503, 'messaging.adaptors.http.flow.SslHandshakeFailed');
});

test.run();
