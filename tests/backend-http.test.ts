// The backend's own HTTP/1.1 layer (backend/http1.ts) spoken to byte by byte over mTLS: what a
// strict server must answer to malformed, oversized, pipelined, HTTP/1.0 and slow requests.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { startBackend, type Backend } from '../backend/server.ts';
import { settingsFromEnv } from '../backend/settings.ts';

let fx: PkiFixture;
let backend: Backend;
let handshakes = 0;
const lines: Array<Record<string, unknown>> = [];
const pem = (name: string) => readFileSync(join(fx.pki, name), 'utf8');

test.before(async () => {
  fx = await pkiFixture();
  backend = await startBackend(
    settingsFromEnv({
      CERTS_DIR: fx.pki, SERVER_SSL_KEYSTOREPASSWORD: fx.password, SERVER_SSL_TRUSTSTOREPASSWORD: fx.password,
      SERVER_ADDRESS: '127.0.0.1', PORT: '0', HEALTH_PORT: '0', RELOAD_STORES: 'false',
      HEADERS_TIMEOUT_MS: '600', REQUEST_TIMEOUT_MS: '1500', IDLE_TIMEOUT_MS: '3000',
    }),
    { log: (line) => lines.push(JSON.parse(line)) },
  );
  backend.server.on('secureConnection', () => handshakes++);
});

test.after(async () => {
  await backend.close();
});

async function open(): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port: backend.port, ca: pem('ca-cert.pem'), cert: pem('apigee-client-cert.pem'), key: pem('apigee-client-key.pem') });
  await once(socket, 'secureConnect');
  // A reset after the server closed (a client still writing) must not crash the file; each test
  // asserts on what the server sent and on the close instead.
  socket.on('error', () => undefined);
  return socket;
}

/** Writes the chunks (pausing `gapMs` between them) and returns all the server sent until it closed. */
async function exchange(chunks: string[], gapMs = 0): Promise<{ text: string; ms: number }> {
  const socket = await open();
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  const cap = setTimeout(() => socket.destroy(), 8000); // a server that never closes fails below
  const t0 = Date.now();
  let gone = false;
  void closed.then(() => (gone = true));
  for (const chunk of chunks) {
    if (gone) break;
    socket.write(chunk);
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  await closed;
  clearTimeout(cap);
  return { text, ms: Date.now() - t0 };
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: backend\r\n${extra}\r\n`;

test('keep-alive: several requests on one TLS connection, one handshake', async () => {
  const before = handshakes;
  const socket = await open();
  socket.setEncoding('latin1');
  let text = '';
  let wake = () => {};
  socket.on('data', (d: string) => ((text += d), wake()));
  for (let i = 1; i <= 3; i++) {
    socket.write(GET('/'));
    while (statuses(text).length < i) await new Promise<void>((r) => (wake = r));
  }
  socket.destroy();
  assert.equal(statuses(text), [200, 200, 200]);
  assert.match(text, /connection: keep-alive\r\nkeep-alive: timeout=3\r\n/);
  assert.is(handshakes - before, 1);
});

test('pipelining: answers come back in request order; HEAD has no body; a Content-Length body is skipped', async () => {
  const { text } = await exchange([
    GET('/openapi.json') + 'HEAD / HTTP/1.1\r\nHost: backend\r\n\r\n' + 'POST / HTTP/1.1\r\nHost: backend\r\nContent-Length: 5\r\n\r\nGET /' + GET('/nowhere') + GET('/', 'Connection: close\r\n'),
  ]);
  assert.equal(statuses(text), [200, 200, 405, 404, 200]);
  assert.match(text, /"openapi":"3\.1/);
  // The HEAD answer's headers are followed directly by the next status line, not by a body.
  assert.match(text, /HTTP\/1\.1 200 OK\r\ncontent-type: application\/json\r\ncontent-length: \d+\r\ndate: [^\r]+\r\nconnection: keep-alive\r\nkeep-alive: timeout=3\r\n\r\nHTTP\/1\.1 405 /);
  assert.match(text.slice(text.lastIndexOf('HTTP/1.1')), /^HTTP\/1\.1 200 [\s\S]*connection: close\r\n\r\n\{"message":"Hello, secure world with mTLS!"\}$/);
});

test('HTTP/1.0: closes after the answer unless the client asks for keep-alive', async () => {
  const plain = await exchange(['GET / HTTP/1.0\r\n\r\n']);
  assert.equal(statuses(plain.text), [200]);
  assert.match(plain.text, /connection: close/);
  const kept = await exchange(['GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /whoami HTTP/1.0\r\n\r\n']);
  assert.equal(statuses(kept.text), [200, 200]);
  assert.match(kept.text, /connection: keep-alive[\s\S]*"subject":/);
});

const refusals: Array<[string, string, number, RegExp]> = [
  ['malformed request line', 'GET /\r\nHost: backend\r\n\r\n', 400, /malformed request line/],
  ['space inside the target', 'GET /a b HTTP/1.1\r\nHost: backend\r\n\r\n', 400, /malformed request line/],
  ['header line without a colon', 'GET / HTTP/1.1\r\nHost: backend\r\nnonsense\r\n\r\n', 400, /malformed header line/],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: backend\r\nX-A: 1\r\n  2\r\n\r\n', 400, /malformed header line/],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost : backend\r\n\r\n', 400, /malformed header name/],
  ['bare LF inside the head', 'GET / HTTP/1.1\r\nHost: backend\nX-A: 1\r\n\r\n', 400, /invalid character/],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400, /missing host header/],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, /more than one host/],
  ['conflicting Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400, /invalid content-length/],
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 400, /both content-length/],
  ['chunked body', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 411, /transfer-encoding not supported/],
  ['body over the limit', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`, 413, /exceeds/],
  ['head over 16 KiB', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431, /over 16384 bytes/],
  ['head over 16 KiB with no end in sight', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17 * 1024)}`, 431, /over 16384 bytes/],
  ['HTTP/2.0 request line', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, /HTTP\/2\.0 not supported/],
];
for (const [name, request, status, reason] of refusals) {
  test(`refused with ${status} and closed: ${name}`, async () => {
    const { text } = await exchange([request + GET('/')]);
    assert.equal(statuses(text), [status], 'one answer, then the connection closes (the request after it is not served)');
    assert.match(text, /connection: close\r\n\r\n\{"error":/);
    assert.match(text, reason);
    assert.ok(lines.some((l) => l.event === 'request-refused' && l.status === status && reason.test(String(l.reason))), 'logged as request-refused');
  });
}

test('slowloris: a client trickling header bytes is cut off by the headers timeout', async () => {
  const trickle = ['GET / HTTP/1.1\r\n', ...Array.from({ length: 40 }, (_, i) => `X-${i}: y\r\n`)];
  const { text, ms } = await exchange(trickle, 50);
  assert.is(text, '', 'no answer to an unfinished head');
  assert.ok(ms >= 500 && ms < 1900, `closed after ${ms} ms (headers timeout 600 ms, trickle would take 2000 ms)`);
  assert.ok(lines.some((l) => l.event === 'request-refused' && l.status === 408));
});

test('leading empty lines before a request are ignored', async () => {
  const { text } = await exchange(['\r\n\r\n' + GET('/', 'Connection: close\r\n')]);
  assert.equal(statuses(text), [200]);
});

test.run();
