// HTTP/1.1 on the backend's TLS port (node:https, llhttp), spoken to byte by byte over mTLS: the
// edge cases a server behind a gateway must get right — ambiguous message lengths, bare LF,
// oversized heads, HTTP/1.0, pipelining order, slow headers — and how the backend answers and
// logs each refusal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { backendEnv, pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { closeOf } from './helpers/sockets.ts';
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
    settingsFromEnv(backendEnv(fx, { HEADERS_TIMEOUT_MS: '600', REQUEST_TIMEOUT_MS: '1500', IDLE_TIMEOUT_MS: '3000' })),
    { log: (line) => lines.push(JSON.parse(line)) },
  );
  backend.server.on('secureConnection', () => handshakes++);
});

test.after(async () => {
  await backend.close();
});

async function open(port = backend.port): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: pem('ca-cert.pem'), cert: pem('apigee-client-cert.pem'), key: pem('apigee-client-key.pem') });
  // A reset after the server closed (a client still writing) must not crash the file; each test
  // asserts on what the server sent and on the close instead. Listening before the handshake
  // ends: a second error after a failed handshake (under load) would otherwise be uncaught.
  socket.on('error', () => undefined);
  await once(socket, 'secureConnect'); // still rejects on a handshake error
  return socket;
}

/**
 * Writes the chunks (pausing `gapMs` between them) and returns all the server sent until it
 * closed, and how many chunks were written before the close was seen.
 */
async function exchange(chunks: string[], gapMs = 0, port = backend.port): Promise<{ text: string; ms: number; written: number }> {
  const socket = await open(port);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  const closed = closeOf(socket);
  const cap = setTimeout(() => socket.destroy(), 8000); // a server that never closes fails below
  const t0 = Date.now();
  let gone = false;
  void closed.then(() => (gone = true));
  let written = 0;
  for (const chunk of chunks) {
    if (gone) break;
    socket.write(chunk);
    written++;
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  await closed;
  clearTimeout(cap);
  return { text, ms: Date.now() - t0, written };
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: backend\r\n${extra}\r\n`;

test('keep-alive: several requests on one TLS connection, one handshake, the Keep-Alive header without node:http\'s per-socket timer', async () => {
  const before = handshakes;
  const serverSide = once(backend.server, 'secureConnection') as Promise<[TLSSocket]>;
  const socket = await open();
  const [served] = await serverSide;
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
  assert.match(text, /connection: keep-alive\r\nkeep-alive: timeout=3\r\n/i);
  assert.is(handshakes - before, 1);
  // node:http would have armed its keep-alive timer on the socket after each answer (timeout set);
  // the backend's idle sweep closes idle connections instead (the idle-timeout tests).
  assert.not.ok(served.timeout, `no per-socket timer after the answers (socket.timeout = ${served.timeout})`);
});

test('pipelining: answers come back in request order; HEAD has no body; request bodies are skipped', async () => {
  const { text } = await exchange([
    GET('/openapi.json') + 'HEAD / HTTP/1.1\r\nHost: backend\r\n\r\n' + 'POST / HTTP/1.1\r\nHost: backend\r\nContent-Length: 5\r\n\r\nGET /'
    + 'POST /whoami HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n'
    + GET('/nowhere') + GET('/', 'Connection: close\r\n'),
  ]);
  assert.equal(statuses(text), [200, 200, 405, 405, 404, 200]);
  assert.match(text, /"openapi":"3\.1/);
  // The HEAD answer's headers are followed directly by the next status line, not by a body.
  assert.match(text, /HTTP\/1\.1 200 OK\r\ncontent-type: application\/json\r\ncontent-length: \d+\r\n[^{]*?\r\n\r\nHTTP\/1\.1 405 /);
  assert.match(text.slice(text.lastIndexOf('HTTP/1.1')), /^HTTP\/1\.1 200 [\s\S]*connection: close\r\n(?:[^\r]+\r\n)*\r\n\{"message":"Hello, secure world with mTLS!"\}$/i);
});

test('HTTP/1.0: closes after the answer unless the client asks for keep-alive', async () => {
  const plain = await exchange(['GET / HTTP/1.0\r\n\r\n']);
  assert.equal(statuses(plain.text), [200]);
  assert.match(plain.text, /connection: close/i);
  const kept = await exchange(['GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /whoami HTTP/1.0\r\n\r\n']);
  assert.equal(statuses(kept.text), [200, 200]);
  assert.match(kept.text, /connection: keep-alive[\s\S]*"subject":/i);
});

// What llhttp refuses, the code it reports, and the status node:http (and so the backend) answers.
const refusals: Array<[string, string, number, string]> = [
  ['duplicate Content-Length (same value)', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', 400, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  ['conflicting Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx', 400, 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'HPE_INVALID_TRANSFER_ENCODING'],
  ['chunked twice in Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'HPE_INVALID_TRANSFER_ENCODING'],
  ['bare LF after a header value', 'GET / HTTP/1.1\r\nHost: backend\nX-A: 1\r\n\r\n', 400, 'HPE_CR_EXPECTED'],
  ['bare LF line endings throughout', 'GET / HTTP/1.1\nHost: backend\n\n', 400, 'HPE_INVALID_VERSION'],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: backend\r\nX-A: 1\r\n  2\r\n\r\n', 400, 'HPE_INVALID_HEADER_TOKEN'],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost : backend\r\n\r\n', 400, 'HPE_INVALID_HEADER_TOKEN'],
  ['space inside the target', 'GET /a b HTTP/1.1\r\nHost: backend\r\n\r\n', 400, 'HPE_INVALID_CONSTANT'],
  ['head over 16 KiB', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431, 'HPE_HEADER_OVERFLOW'],
  ['head over 16 KiB with no end in sight', `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17 * 1024)}`, 431, 'HPE_HEADER_OVERFLOW'],
];
for (const [name, request, status, code] of refusals) {
  test(`refused with ${status} and closed: ${name}`, async () => {
    const { text } = await exchange([request + GET('/')]);
    assert.equal(statuses(text), [status], 'one answer, then the connection closes (the request after it is not served)');
    assert.match(text, /connection: close\r\n\r\n\{"error":/);
    assert.is(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).code, code);
    assert.ok(lines.some((l) => l.event === 'request-refused' && l.status === status && l.code === code && l.client === 'apigee-client'), 'logged as request-refused');
  });
}

test('refused with 400 and closed: HTTP/1.1 without Host (logged as a request)', async () => {
  const { text } = await exchange(['GET / HTTP/1.1\r\n\r\n' + GET('/')]);
  assert.equal(statuses(text), [400]);
  assert.match(text, /connection: close\r\n(?:[^\r]+\r\n)*\r\n\{"error":"missing host header"\}$/i);
  assert.ok(lines.some((l) => l.event === 'request' && l.status === 400 && l.path === '/'));
});

test('slowloris: a client trickling header bytes is cut off by the headers timeout', async () => {
  // Its own backend, whose request and idle timeouts are far off: only the headers timeout can
  // end the trickle, so no wall-clock upper bound is needed (a loaded machine only makes it late).
  const own: Array<Record<string, unknown>> = [];
  const slow = await startBackend(
    settingsFromEnv(backendEnv(fx, { HEADERS_TIMEOUT_MS: '600', REQUEST_TIMEOUT_MS: '600000', IDLE_TIMEOUT_MS: '600000' })),
    { log: (line) => own.push(JSON.parse(line)) },
  );
  try {
    // At least 4 s of trickle (80 gaps of 50 ms), over 5 times the timeout plus its check interval.
    const trickle = ['GET / HTTP/1.1\r\n', ...Array.from({ length: 79 }, (_, i) => `X-${i}: y\r\n`)];
    const { text, ms, written } = await exchange(trickle, 50, slow.port);
    assert.is(text, '', 'no answer to an unfinished head');
    assert.ok(written < trickle.length, `closed before the trickle ended: ${written} of ${trickle.length} chunks written, after ${ms} ms`);
    assert.ok(ms >= 500, `closed after ${ms} ms (headers timeout 600 ms)`);
    assert.ok(own.some((l) => l.event === 'request-refused' && l.status === 408 && l.code === 'ERR_HTTP_REQUEST_TIMEOUT'));
  } finally {
    await slow.close();
  }
});

test('leading empty lines before a request are ignored', async () => {
  const { text } = await exchange(['\r\n\r\n' + GET('/', 'Connection: close\r\n')]);
  assert.equal(statuses(text), [200]);
});

test.run();
