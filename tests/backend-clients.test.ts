// The backend against what real clients do that the tutorial's curl calls do not: ALPN offers
// (curl --http1.0 offers only http/1.0), TLS 1.2 renegotiation (openssl s_client's `R`), pipelined
// requests followed by a bad one, a client that keeps sending after its request was refused, two
// Host lines, absolute-form targets and CONNECT.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { backendEnv, pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { closeOf } from './helpers/sockets.ts';
import { startBackend, type Backend } from '../backend/server.ts';
import { settingsFromEnv } from '../backend/settings.ts';

let fx: PkiFixture;
let backend: Backend;
const lines: Array<Record<string, unknown>> = [];
const pem = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

test.before(async () => {
  fx = await pkiFixture();
  backend = await startBackend(
    settingsFromEnv(backendEnv(fx)),
    { log: (line) => lines.push(JSON.parse(line)) },
  );
});

test.after(async () => {
  await backend.close();
});

function tutorialClient(extra: ConnectionOptions = {}): TLSSocket {
  const socket = tlsConnect({ host: '127.0.0.1', port: backend.port, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem'), ...extra });
  socket.on('error', () => undefined); // each test asserts on what arrived and on the close
  return socket;
}

/** Everything the server sends on `socket` until the connection closes (capped at 8 s). */
async function readToClose(socket: TLSSocket): Promise<string> {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  const cap = setTimeout(() => socket.destroy(), 8000);
  await closeOf(socket);
  clearTimeout(cap);
  return text;
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
const GET = (path: string, version = '1.1', extra = '') => `GET ${path} HTTP/${version}\r\n${version === '1.1' ? 'Host: backend\r\n' : ''}${extra}\r\n`;

test('ALPN: a client offering only http/1.0 (curl --http1.0) is served; one offering only h2 is refused and logged', async () => {
  const old = tutorialClient({ ALPNProtocols: ['http/1.0'] });
  await once(old, 'secureConnect');
  assert.is(old.alpnProtocol, 'http/1.0');
  old.write(GET('/', '1.0'));
  const text = await readToClose(old);
  assert.equal(statuses(text), [200]);

  const from = lines.length;
  const h2 = tutorialClient({ ALPNProtocols: ['h2'] });
  const [error] = (await once(h2, 'error')) as [NodeJS.ErrnoException];
  assert.is(error.code, 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
  assert.ok(lines.slice(from).some((l) => l.event === 'connection-refused' && l.reason === 'ERR_SSL_NO_APPLICATION_PROTOCOL' && l.remote === '127.0.0.1'));
});

test('pipelined answers before a refused request are all sent (they were logged as answered), then the refusal', async () => {
  const socket = tutorialClient();
  await once(socket, 'secureConnect');
  socket.write(GET('/') + GET('/whoami') + 'GET / HTTP/1.1\nHost: backend\n\n');
  const text = await readToClose(socket);
  assert.equal(statuses(text), [200, 200, 400]);
  assert.match(text, /"subject":[\s\S]*"code":"HPE_INVALID_VERSION"\}$/);

  // HTTP/1.0: the second request closes the connection; its answer still goes out, nothing after it.
  const old = tutorialClient();
  await once(old, 'secureConnect');
  old.write(GET('/', '1.0', 'Connection: keep-alive\r\n') + GET('/whoami', '1.0') + GET('/'));
  const oldText = await readToClose(old);
  assert.equal(statuses(oldText), [200, 200]);
  assert.match(oldText, /"subject":.*\}$/);
});

test('a client that keeps sending after its request was refused gets one refusal and one log line', async () => {
  let serverSide: TLSSocket | undefined;
  backend.server.once('secureConnection', (s: TLSSocket) => (serverSide = s));
  const overflow = lines.filter((l) => l.code === 'HPE_HEADER_OVERFLOW').length;
  const socket = tutorialClient();
  await once(socket, 'secureConnect');
  // ~380 KB of headers in one write: the server reads it in many TLS records after the first refusal.
  socket.write('GET / HTTP/1.1\r\nHost: backend\r\n' + Array.from({ length: 30_000 }, (_, i) => `X-H${i}: v\r\n`).join('') + '\r\n');
  const text = await readToClose(socket);
  if (!serverSide!.destroyed) await once(serverSide!, 'close');
  assert.equal(statuses(text), [431]);
  assert.is(lines.filter((l) => l.code === 'HPE_HEADER_OVERFLOW').length - overflow, 1, 'one request-refused line');
});

test('TLS 1.2 renegotiation asked for by the client is declined (no second handshake); other connections are served', async () => {
  const socket = tutorialClient({ maxVersion: 'TLSv1.2' });
  socket.removeAllListeners('error');
  await once(socket, 'secureConnect');
  // OpenSSL's client takes the server's "no renegotiation" alert as fatal and ends the connection.
  const outcome = await new Promise<string>((resolve) => {
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    if (!socket.renegotiate({}, (error) => resolve(error ? `callback: ${error.message}` : 'renegotiated'))) resolve('not asked');
  });
  assert.is(outcome, 'ERR_SSL_NO_RENEGOTIATION');
  socket.destroy();
  const next = tutorialClient({ maxVersion: 'TLSv1.2' });
  await once(next, 'secureConnect');
  next.write(GET('/', '1.1', 'Connection: close\r\n'));
  assert.equal(statuses(await readToClose(next)), [200]);
});

test('two Host lines (any case) → 400 and close, logged as a request; HTTP/1.0 without Host is fine', async () => {
  for (const hosts of ['Host: backend\r\nHost: evil', 'host: backend\r\nHOST: backend']) {
    const socket = tutorialClient();
    await once(socket, 'secureConnect');
    socket.write(`GET /whoami HTTP/1.1\r\n${hosts}\r\n\r\n` + GET('/'));
    const text = await readToClose(socket);
    assert.equal(statuses(text), [400], hosts);
    assert.match(text, /connection: close\r\n(?:[^\r]+\r\n)*\r\n\{"error":"more than one host header"\}$/i);
  }
  assert.ok(lines.some((l) => l.event === 'request' && l.status === 400 && l.path === '/whoami'));
  const old = tutorialClient();
  await once(old, 'secureConnect');
  old.write(GET('/', '1.0'));
  assert.equal(statuses(await readToClose(old)), [200]);
});

test('absolute-form targets are routed by their path (RFC 9112 §3.2.2); "*" matches nothing', async () => {
  const socket = tutorialClient();
  await once(socket, 'secureConnect');
  socket.write(GET('https://backend:8443/whoami?x=1') + GET('HTTP://BACKEND') + GET('http://backend/nowhere') + GET('*', '1.1', 'Connection: close\r\n'));
  const text = await readToClose(socket);
  assert.equal(statuses(text), [200, 200, 404, 404]);
  assert.match(text, /"subject":[\s\S]*"message":"Hello, secure world with mTLS!"/);
});

test('CONNECT is answered (404 JSON), logged as a request and closed, not dropped without a word', async () => {
  const socket = tutorialClient();
  await once(socket, 'secureConnect');
  socket.write('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
  const text = await readToClose(socket);
  assert.equal(statuses(text), [404]);
  assert.match(text, /connection: close\r\n\r\n\{"error":"not found"\}$/);
  assert.ok(lines.some((l) => l.event === 'request' && l.method === 'CONNECT' && l.path === '127.0.0.1:22' && l.status === 404 && l.client === 'apigee-client'));
});

test('an Expect other than 100-continue → 417 JSON, logged; 100-continue still gets 100 then the answer', async () => {
  const socket = tutorialClient();
  await once(socket, 'secureConnect');
  socket.write(GET('/whoami', '1.1', 'Expect: teapot\r\n') + GET('/'));
  const text = await readToClose(socket);
  assert.equal(statuses(text), [417]);
  assert.match(text, /connection: close\r\n(?:[^\r]+\r\n)*\r\n\{"error":"the only expectation supported is \\"100-continue\\""\}$/i);
  assert.ok(lines.some((l) => l.event === 'request' && l.status === 417 && l.path === '/whoami' && l.client === 'apigee-client'));

  const ok = tutorialClient();
  await once(ok, 'secureConnect');
  ok.write(GET('/', '1.1', 'Expect: 100-continue\r\nConnection: close\r\n'));
  const answers = await readToClose(ok);
  assert.match(answers, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
});

test('a request line with another HTTP version than 1.0/1.1 → 505 JSON and close, logged', async () => {
  for (const version of ['2.0', '0.9']) {
    const socket = tutorialClient();
    await once(socket, 'secureConnect');
    socket.write(`GET /v${version} HTTP/${version}\r\nHost: backend\r\n\r\n` + GET('/'));
    const text = await readToClose(socket);
    assert.equal(statuses(text), [505], version);
    assert.match(text, /\{"error":"only HTTP\/1\.0 and HTTP\/1\.1 are spoken here"\}$/);
    assert.ok(lines.some((l) => l.event === 'request' && l.status === 505 && l.path === `/v${version}`), version);
  }
});

test.run();
