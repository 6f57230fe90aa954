// The backend in-process: trust is exactly the truststore, need/want/none, the allow-list, the API
// (/, /whoami, 404, 405, OpenAPI), the health port and the JSON log lines (never a password).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { startBackend, type Backend, type BackendSettings } from '../backend/server.ts';
import { settingsFromEnv } from '../backend/settings.ts';
import { GREETING } from '../backend/routes.ts';
import { tempDir } from './helpers/temp.ts';

let fx: PkiFixture;
const work = tempDir('backend-test-');

/** Collects the backend's log lines and lets a test wait for one. */
class LogLines {
  lines: Array<Record<string, unknown>> = [];
  raw = '';
  private waiters: Array<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  sink = (line: string) => {
    this.raw += line;
    const entry = JSON.parse(line) as Record<string, unknown>;
    this.lines.push(entry);
    this.waiters = this.waiters.filter((w) => (w.match(entry) ? (w.resolve(entry), false) : true));
  };
  /** The first line (from index `from` on) that matches, now or when it arrives. */
  waitFor(match: (l: Record<string, unknown>) => boolean, from = 0): Promise<Record<string, unknown>> {
    const seen = this.lines.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('log line did not arrive within 5s')), 5000);
      this.waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
}

function settings(overrides: Partial<BackendSettings> = {}): BackendSettings {
  return {
    ...settingsFromEnv({
      CERTS_DIR: fx.pki,
      SERVER_SSL_KEYSTOREPASSWORD: fx.password,
      SERVER_SSL_TRUSTSTOREPASSWORD: fx.password,
      SERVER_SSL_KEYALIAS: 'server',
      PORT: '0',
      HEALTH_PORT: '0',
      SERVER_ADDRESS: '127.0.0.1',
      RELOAD_STORES: 'false',
    }),
    ...overrides,
  };
}

interface Client { cert?: string; key?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; /** Skip checking the server (like curl -k). */ insecure?: boolean }
interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

const pem = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const good = (): Client => ({ cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') });
const bad = (name: string): Client => ({ cert: pem(fx.bad, `${name}-cert.pem`), key: pem(fx.bad, `${name}-key.pem`) });

function get(port: number, client: Client = {}, path = '/', method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method, agent: false, ca: pem(fx.pki, 'ca-cert.pem'), cert: client.cert, key: client.key, maxVersion: client.maxVersion, rejectUnauthorized: !client.insecure },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the client-side error of a refused request (fails the test if an answer comes). */
async function refused(port: number, client: Client): Promise<NodeJS.ErrnoException> {
  try {
    const reply = await get(port, client);
    assert.unreachable(`expected a refused connection, got HTTP ${reply.status}`);
  } catch (error) {
    if ((error as Error).name === 'Assertion') throw error;
    return error as NodeJS.ErrnoException;
  }
  throw new Error('unreachable');
}

function health(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
}

const logs = { need: new LogLines(), want: new LogLines(), none: new LogLines(), allow: new LogLines() };
let need: Backend;
let want: Backend;
let none: Backend;
let allow: Backend;

test.before(async () => {
  fx = await pkiFixture();
  [need, want, none, allow] = await Promise.all([
    startBackend(settings(), { log: logs.need.sink }),
    startBackend(settings({ clientAuth: 'want' }), { log: logs.want.sink }),
    startBackend(settings({ clientAuth: 'none' }), { log: logs.none.sink }),
    startBackend(settings({ allowedClients: ['CN=apigee-client'] }), { log: logs.allow.sink }),
  ]);
});

test.after(async () => {
  await Promise.all([need, want, none, allow].map((b) => b?.close()));
  rmSync(work, { recursive: true, force: true });
});

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`need, ${maxVersion}: the tutorial client gets 200 and the greeting as JSON; its log line names the TLS version`, async () => {
    const from = logs.need.lines.length;
    const reply = await get(need.port, { ...good(), maxVersion });
    assert.is(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    assert.is(JSON.parse(reply.body).message, GREETING);
    const line = await logs.need.waitFor((l) => l.event === 'request', from);
    assert.is(line.tls, maxVersion, 'read from the TLS session, as getProtocol() names it');
    assert.is(line.client, 'apigee-client');
  });

  test(`need, ${maxVersion}: no client certificate fails the TLS connection`, async () => {
    const from = logs.need.lines.length;
    const error = await refused(need.port, { maxVersion });
    // OpenSSL's alert: "certificate required" (TLS 1.3) or a handshake failure (TLS 1.2).
    assert.match(`${error.code} ${error.message}`, /alert certificate required|alert handshake failure|ECONNRESET/);
    const line = await logs.need.waitFor((l) => l.event === 'connection-refused', from);
    assert.is(line.reason, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
    assert.is(line.remote, '127.0.0.1');
  });
}

const badMatrix: Array<[name: string, reason: string]> = [
  ['other-client', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ['self-signed-client', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  ['expired-client', 'CERT_HAS_EXPIRED'],
  ['future-client', 'CERT_NOT_YET_VALID'],
  ['server-eku-client', 'INVALID_PURPOSE'],
];

for (const [name, reason] of badMatrix) {
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    test(`need, ${maxVersion}: ${name} is refused (${reason})`, async () => {
      const from = logs.need.lines.length;
      await refused(need.port, { ...bad(name), maxVersion });
      const line = await logs.need.waitFor((l) => l.event === 'connection-refused', from);
      assert.is(line.reason, reason);
      assert.is(line.remote, '127.0.0.1', 'who was refused (Node has destroyed the socket by then)');
    });
  }
  test(`want: ${name} completes the handshake and gets 403 ${reason}`, async () => {
    const reply = await get(want.port, bad(name));
    assert.is(reply.status, 403);
    assert.equal(JSON.parse(reply.body), { error: 'client certificate not trusted', reason });
  });
}

test('want: no certificate → 401 JSON; the tutorial client → 200', async () => {
  const none401 = await get(want.port, {});
  assert.is(none401.status, 401);
  assert.is(JSON.parse(none401.body).error, 'client certificate required');
  assert.is((await get(want.port, good())).status, 200);
});

test('none: plain TLS, no client certificate asked for', async () => {
  const from = logs.none.lines.length;
  const reply = await get(none.port, { maxVersion: 'TLSv1.2' });
  assert.is((await logs.none.waitFor((l) => l.event === 'request', from)).tls, 'TLSv1.2');
  assert.is(reply.status, 200);
  assert.is(JSON.parse(reply.body).message, GREETING);
  assert.equal(JSON.parse((await get(none.port, {}, '/whoami')).body), { clientCertificate: null });
});

test('allow-list: CN=apigee-client passes, another trusted client gets 403', async () => {
  assert.is((await get(allow.port, good())).status, 200);
  const other = await get(allow.port, bad('second-client'));
  assert.is(other.status, 403);
  assert.equal(JSON.parse(other.body), { error: 'client not in the allow-list', reason: 'NOT_ALLOWED' });
  const line = await logs.allow.waitFor((l) => l.event === 'request' && l.client === 'second-client');
  assert.is(line.status, 403);
});

/** A client certificate (EC P-256) for `subject` (openssl -subj syntax); signed by the kit's CA, or self-signed. */
function craftedClient(name: string, subject: string, options: { multiValued?: boolean; selfSigned?: boolean } = {}): Client {
  const [key, cert] = [join(work, `${name}-key.pem`), join(work, `${name}-cert.pem`)];
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth', `subjectAltName=DNS:${name}`]
    .flatMap((e) => ['-addext', e]);
  const subj = ['-subj', subject, '-utf8', ...(options.multiValued ? ['-multivalue-rdn'] : [])];
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  if (options.selfSigned) {
    openssl(['req', '-x509', '-new', '-key', key, ...subj, '-days', '2', ...ext, '-out', cert]);
  } else {
    const csr = join(work, `${name}.csr`);
    openssl(['req', '-new', '-key', key, ...subj, ...ext, '-out', csr]);
    openssl(['x509', '-req', '-in', csr, '-CA', join(fx.pki, 'ca-cert.pem'), '-CAkey', join(fx.pki, 'ca-key.pem'), '-days', '2', '-copy_extensions', 'copyall', '-out', cert]);
  }
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

test('a certificate with an empty subject (SANs only, RFC 5280) is refused or described, never a crash', async () => {
  // "want": any client, trusted or not, reaches the identity code.
  const stranger = await get(want.port, craftedClient('empty-self', '/', { selfSigned: true }));
  assert.is(stranger.status, 403);
  assert.equal(JSON.parse(stranger.body), { error: 'client certificate not trusted', reason: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  const trusted = craftedClient('empty-trusted', '/');
  const from = logs.allow.lines.length;
  assert.is((await get(allow.port, trusted)).status, 403, 'no subject matches no allow-list entry');
  const line = await logs.allow.waitFor((l) => l.event === 'request' && l.status === 403, from);
  assert.is(line.client, '');
  const who = JSON.parse((await get(need.port, trusted, '/whoami')).body);
  assert.equal([who.subject, who.subjectAltNames], ['', ['DNS:empty-trusted']]);
  assert.is((await get(want.port, good())).status, 200, 'the backend still serves');
});

test('allow-list: an attribute of a multi-valued RDN counts; a "+" inside a value does not split it', async () => {
  const from = logs.allow.lines.length;
  assert.is((await get(allow.port, craftedClient('multi-valued', '/O=Fixture+CN=apigee-client', { multiValued: true }))).status, 200);
  const line = await logs.allow.waitFor((l) => l.event === 'request' && l.status === 200, from);
  assert.is(line.client, 'apigee-client', 'the CN, not the whole RDN');
  // One CN whose value is "x + CN=apigee-client": Node prints it escaped ("x \+ CN=…").
  assert.is((await get(allow.port, craftedClient('plus-in-value', '/CN=x \\+ CN=apigee-client'))).status, 403);
});

// Which CN is "the" client of CN=evil, CN=apigee-client? The allow-list matched the second, the
// log named the first: it named a client the allow-list never admitted.
const ambiguousSubjects: Array<[name: string, subject: string, multiValued?: boolean]> = [
  ['two-cns', '/CN=evil/CN=apigee-client'],
  ['two-cns-one-rdn', '/O=x+CN=evil+CN=apigee-client', true],
  ['cn-and-multi-valued-cn', '/CN=evil/O=x+CN=apigee-client', true],
];

for (const [name, subject, multiValued] of ambiguousSubjects) {
  test(`allow-list: a subject with more than one CN (${subject}) gets 403 AMBIGUOUS_CN, logged under its whole subject`, async () => {
    const client = craftedClient(name, subject, { multiValued });
    const from = logs.allow.lines.length;
    for (const path of ['/', '/whoami']) {
      const reply = await get(allow.port, client, path);
      assert.is(reply.status, 403, path);
      assert.equal(JSON.parse(reply.body), { error: 'client certificate has more than one CN', reason: 'AMBIGUOUS_CN' });
    }
    const line = await logs.allow.waitFor((l) => l.event === 'request' && l.fingerprint === new X509Certificate(client.cert!).fingerprint256, from);
    assert.equal([line.status, line.reason], [403, 'AMBIGUOUS_CN']);
    assert.match(String(line.client), /CN=evil/);
    assert.match(String(line.client), /CN=apigee-client/);
  });
}

test('no allow-list: a subject with two CNs is served, and logged under its whole subject, not its first CN', async () => {
  const from = logs.need.lines.length;
  const client = craftedClient('two-cns-need', '/CN=evil/CN=apigee-client');
  assert.is((await get(need.port, client)).status, 200);
  const line = await logs.need.waitFor((l) => l.event === 'request' && l.fingerprint === new X509Certificate(client.cert!).fingerprint256, from);
  assert.is(line.client, 'CN=evil, CN=apigee-client');
  assert.is(JSON.parse((await get(need.port, client, '/whoami')).body).subject, 'CN=evil, CN=apigee-client');
});

test('want: a stranger\'s 10 KB subject without a CN is cut to 256 characters in its log lines', async () => {
  const subject = '/' + Array.from({ length: 150 }, (_, i) => `OU=${String(i).padStart(3, '0')}${'x'.repeat(60)}`).join('/');
  const stranger = craftedClient('long-subject', subject, { selfSigned: true });
  const from = logs.want.lines.length;
  assert.is((await get(want.port, stranger)).status, 403);
  const line = await logs.want.waitFor((l) => l.event === 'request' && String(l.client).startsWith('OU=000'), from);
  const client = String(line.client);
  assert.ok(client.length === 257, `a ${client.length}-character client field`);
  assert.is(client, `OU=000${'x'.repeat(60)}, OU=001${'x'.repeat(60)}, OU=002${'x'.repeat(60)}, OU=003${'x'.repeat(60)}`.slice(0, 256) + '…');
  assert.is(line.fingerprint, new X509Certificate(stranger.cert!).fingerprint256, 'the fingerprint still names it exactly');
});

test('want: C1 controls and U+2028/U+2029 in a stranger\'s CN are escaped in the log line (JSON.stringify leaves them)', async () => {
  const from = logs.want.lines.length;
  const rawFrom = logs.want.raw.length;
  assert.is((await get(want.port, craftedClient('line-breaks', '/CN=a\u0085b\u2028c\u2029d', { selfSigned: true }))).status, 403);
  const line = await logs.want.waitFor((l) => l.event === 'request' && String(l.client).startsWith('a'), from);
  assert.is(line.client, 'a\u0085b\u2028c\u2029d', 'the same name once parsed');
  assert.not.match(logs.want.raw.slice(rawFrom), /[\u0080-\u009f\u2028\u2029]/, 'no raw line separator of any reader');
});

test('a client that hangs up before the handshake is logged as aborted, not refused', async () => {
  const from = logs.need.lines.length;
  const socket = netConnect({ host: '127.0.0.1', port: need.port }, () => socket.destroy());
  const line = await logs.need.waitFor((l) => String(l.event).startsWith('connection-'), from);
  assert.equal([line.event, line.reason], ['connection-aborted', 'ECONNRESET']);
});

test('/whoami describes the verified client certificate', async () => {
  const reply = await get(need.port, good(), '/whoami');
  assert.is(reply.status, 200);
  const who = JSON.parse(reply.body);
  assert.match(who.subject, /CN=apigee-client/);
  assert.match(who.issuer, /CN=/);
  assert.match(who.serialNumber, /^[0-9A-F]+$/);
  assert.match(who.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  // The backend reads the certificate from the TLS session (identity.ts): it must be the one presented.
  const presented = new X509Certificate(pem(fx.pki, 'apigee-client-cert.pem'));
  assert.is(who.fingerprintSha256, presented.fingerprint256);
  assert.is(who.serialNumber, presented.serialNumber);
  assert.ok(Date.parse(who.validTo) > Date.now());
  assert.ok(Array.isArray(who.subjectAltNames));
});

test('clients taking turns each get their own identity (the backend keeps the last certificate seen)', async () => {
  const clients = [['apigee-client', good(), pem(fx.pki, 'apigee-client-cert.pem')], ['second-client', bad('second-client'), pem(fx.bad, 'second-client-cert.pem')]] as const;
  for (const [cn, client, certPem] of [clients[0], clients[1], clients[1], clients[0], clients[1]]) {
    const from = logs.need.lines.length;
    const who = JSON.parse((await get(need.port, client, '/whoami')).body);
    assert.is(who.fingerprintSha256, new X509Certificate(certPem).fingerprint256, cn);
    const line = await logs.need.waitFor((l) => l.event === 'request' && l.path === '/whoami', from);
    assert.equal([line.client, line.fingerprint], [cn, who.fingerprintSha256]);
  }
});

test('unknown path → 404 JSON, wrong method → 405 JSON with Allow', async () => {
  const missing = await get(need.port, good(), '/nope');
  assert.is(missing.status, 404);
  assert.is(JSON.parse(missing.body).error, 'not found');
  const wrong = await get(need.port, good(), '/', 'POST');
  assert.is(wrong.status, 405);
  assert.is(wrong.headers.allow, 'GET, HEAD');
  assert.is(JSON.parse(wrong.body).error, 'method not allowed');
});

test('OpenAPI 3.1 document with the mutualTLS security scheme', async () => {
  const doc = JSON.parse((await get(need.port, good(), '/openapi.json')).body);
  assert.is(doc.openapi, '3.1.0');
  assert.is(doc.components.securitySchemes.clientCertificate.type, 'mutualTLS');
  assert.ok(doc.paths['/'].get && doc.paths['/whoami'].get);
  assert.is(doc.paths['/'].get.responses['200'].content['application/json'].schema.properties.message.const, GREETING, 'the greeting GET / sends');
});

test('health port: plain HTTP, no client certificate', async () => {
  assert.equal(await health(need.healthPort, '/healthz'), { status: 200, body: '{"status":"UP"}' });
  assert.is((await health(need.healthPort, '/readyz')).status, 200);
  assert.is((await health(need.healthPort, '/actuator/health/readiness')).status, 200);
  assert.is((await health(need.healthPort, '/other')).status, 404);
});

test('request log lines carry client CN, fingerprint, status and latency; no password anywhere', async () => {
  const from = logs.need.lines.length;
  await get(need.port, good());
  const line = await logs.need.waitFor((l) => l.event === 'request', from);
  assert.is(line.client, 'apigee-client');
  assert.is(line.status, 200);
  assert.is(line.fingerprint, new X509Certificate(pem(fx.pki, 'apigee-client-cert.pem')).fingerprint256);
  assert.type(line.ms, 'number');
  for (const l of Object.values(logs)) assert.not.ok(l.raw.includes(fx.password), 'a log line holds the store password');
});

/** One TLS connection that sends GET `path`; resolves with the body, the session and whether it was resumed. */
function tlsGet(port: number, client: Client & { session?: Buffer }, path: string): Promise<{ body: string; session: Buffer | undefined; reused: boolean }> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    let body = '';
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: pem(fx.pki, 'ca-cert.pem'), cert: client.cert, key: client.key, maxVersion: client.maxVersion, session: client.session });
    socket.on('session', (s: Buffer) => (session = s));
    socket.on('secureConnect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d) => (body += d));
    socket.on('end', () => resolve({ body: body.slice(body.indexOf('\r\n\r\n') + 4), session, reused: socket.isSessionReused() }));
    socket.on('error', reject);
  });
}

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${maxVersion}: sessions resume, and a resumed session still carries the client's identity`, async () => {
    const first = await tlsGet(need.port, { ...good(), maxVersion }, '/');
    assert.not.ok(first.reused);
    assert.ok(first.session, 'the server issued a session ticket');
    // The resumed connection presents no certificate of its own: the identity comes from the session.
    const second = await tlsGet(need.port, { maxVersion, session: first.session }, '/whoami');
    assert.ok(second.reused, 'the session was resumed (abbreviated handshake)');
    assert.match(JSON.parse(second.body).subject, /CN=apigee-client/);
  });
}

test('a CA present only in the keystore chain is not trusted', async () => {
  // Server keystore: a server certificate from "Other CA" with that CA in its chain; the truststore
  // stays the tutorial's. Node's pfx option would trust Other CA; the backend must not.
  const keystore = join(work, 'other-chain-keystore.p12');
  openssl(['pkcs12', '-export', '-in', join(fx.bad, 'other-ca-server-cert.pem'), '-inkey', join(fx.bad, 'other-ca-server-key.pem'),
    '-certfile', join(fx.bad, 'other-ca-cert.pem'), '-name', 'server', '-out', keystore, '-passout', `pass:${fx.password}`]);
  const log = new LogLines();
  const backend = await startBackend(settings({ keyStore: keystore }), { log: log.sink });
  try {
    await refused(backend.port, { ...bad('other-client'), insecure: true });
    const line = await log.waitFor((l) => l.event === 'connection-refused');
    assert.is(line.reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.is(backend.material().trusted.length, 2);
  } finally {
    await backend.close();
  }
});

test('a PEM bundle works as the truststore', async () => {
  const log = new LogLines();
  const backend = await startBackend(settings({ trustStore: join(fx.pki, 'ca-cert.pem'), trustStorePassword: undefined }), { log: log.sink });
  try {
    assert.is((await get(backend.port, good())).status, 200);
    await refused(backend.port, bad('other-client'));
  } finally {
    await backend.close();
  }
});

test.run();
