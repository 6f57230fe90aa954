// The gateway as an HTTP proxy, seen from both ends: a raw client on one side and a plain HTTP
// backend that records what reaches it on the other. Headers a sender names in Connection stay on
// that hop, a path starting with "//" is a path, a second Host is refused, and a client that goes
// away (while the backend thinks, mid-upload, mid-download) ends the backend call at once instead
// of holding it until the target timeout. A client that offers only http/1.0 by ALPN
// (curl --http1.0) is served, and CONNECT gets a fault, not a connection dropped without a word.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import { $ } from 'zx';
import { importAndDeploy, startStandIn, within, type StandIn } from './helpers/apigee-local.ts';

let s: StandIn;
let backend: Server;
let ca: string;
/** Every request the backend saw, and per path a promise that settles when it arrives and one when its connection ends. */
const seen: IncomingMessage[] = [];
type Signal = { done: Promise<void>; resolve: () => void };
const arrived = new Map<string, Signal>();
const ended = new Map<string, Signal>();

function signalOf(signals: Map<string, Signal>, path: string): Signal {
  let entry = signals.get(path);
  if (!entry) {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    entry = { done, resolve };
    signals.set(path, entry);
  }
  return entry;
}
const arrivedOf = (path: string) => signalOf(arrived, path);
const endedOf = (path: string) => signalOf(ended, path);

test.before(async () => {
  s = await startStandIn();
  ca = readFileSync(join(s.fx.pki, 'ca-cert.pem'), 'utf8');
  backend = createServer((req, res) => {
    seen.push(req);
    const path = req.url ?? '/';
    arrivedOf(path).resolve();
    // The response closes before it was sent only when the gateway dropped the connection.
    res.on('close', () => { if (!res.writableEnded) endedOf(path).resolve(); });
    req.resume();
    if (path.startsWith('/hang')) return; // never answers
    if (path.startsWith('/stall')) {
      // Answers a body the gateway streams (over 64 KiB), sends its first part and never the rest.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(8 * 1024 * 1024) });
      res.write(Buffer.alloc(256 * 1024, 'd'));
      return;
    }
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive, X-Backend-Hop', 'x-backend-hop': 'internal', 'x-backend-kept': 'yes' });
      res.end(`seen ${path}`);
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = (backend.address() as AddressInfo).port;
  // A target timeout far above the test's bounds: only the client's disconnection can end a call early.
  await importAndDeploy(s, 'plain', '/plain', `<Properties><Property name="io.timeout.millis">60000</Property></Properties><URL>http://127.0.0.1:${port}</URL>`);
});

test.after(async () => {
  await s.close();
  backend.closeAllConnections();
  backend.close();
});

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One request with exactly these headers and path (node:https sends both as given). */
function send(path: string, headers: Record<string, string | string[]> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: s.local.runtimePort, servername: 'localhost', ca, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `head` (and `body`) on a raw TLS connection, then drops the connection once the request to `path` reached the backend. */
function sendAndDrop(path: string, head: string, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: s.local.runtimePort, servername: 'localhost', ca }, () => {
      socket.write(head);
      if (body) socket.write(body);
      void arrivedOf(path).done.then(() => { socket.destroy(); resolve(); });
    });
    socket.on('error', reject);
  });
}

const lastSeen = () => seen.at(-1)!;

test('headers named in Connection stay on their hop: neither the client\'s nor the backend\'s cross the gateway', async () => {
  const a = await send('/plain/hop', { connection: 'keep-alive, X-Client-Hop', 'x-client-hop': 'secret', 'x-client-kept': 'yes' });
  assert.is(a.status, 200, a.body);
  assert.is(a.body, 'seen /hop');
  const south = lastSeen().headers;
  assert.is(south['x-client-hop'], undefined, 'a header the client named in Connection reached the backend');
  assert.is(south['x-client-kept'], 'yes');
  assert.is(a.headers['x-backend-hop'], undefined, 'a header the backend named in Connection reached the client');
  assert.is(a.headers['x-backend-kept'], 'yes');
});

test('a path starting with "//" is a path: //other/plain/x is not served as /plain/x (404 ApplicationNotFound naming the path)', async () => {
  const before = seen.length;
  const a = await send('//other/plain/x');
  assert.is(a.status, 404, a.body);
  const fault = JSON.parse(a.body).fault;
  assert.is(fault.detail.errorcode, 'messaging.adaptors.http.flow.ApplicationNotFound');
  assert.match(fault.faultstring, /and url: \/\/other\/plain\/x$/);
  assert.is(seen.length, before, 'the backend was called');
  // The first segment is kept also when the base path follows it.
  const b = await send('//plain/x');
  assert.is(b.status, 404, b.body);
});

test('a request with two Host headers → 400 protocol.http.DuplicateHeader, no backend call', async () => {
  const before = seen.length;
  const a = await send('/plain/two-hosts', { host: ['localhost', 'other.example'] });
  assert.is(a.status, 400, a.body);
  assert.equal(JSON.parse(a.body), { fault: { faultstring: 'Duplicate Header "Host"', detail: { errorcode: 'protocol.http.DuplicateHeader' } } });
  assert.is(seen.length, before);
});

/**
 * Runs `leave` (a client that goes away during its call to `path`) while a control client, whose
 * call to the hanging backend started first, stays connected; asserts that the leaving client's
 * backend call ended first. Both calls have the same 60 s target timeout, so a gateway that held
 * calls until it would end the control's first: the order, not a wall-clock bound, is the check.
 * The client leaves 2 s after the control's call began: undici's timeouts tick at about 1 s, so
 * two calls that began closer together could time out in the same tick, in either order, and a
 * gateway that held them would pass by chance.
 */
async function endsBeforeTheControl(path: string, leave: () => Promise<void>): Promise<void> {
  const controlPath = `${path}-control`;
  const control = connect({ host: '127.0.0.1', port: s.local.runtimePort, servername: 'localhost', ca }, () => {
    control.write(`GET /plain${controlPath} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
  control.on('error', () => {});
  try {
    await within(30_000, 'the control call to reach the backend', arrivedOf(controlPath).done);
    await setTimeout(2_000);
    await leave();
    // The hang guard lies past the target timeout: a gateway that waits for it fails on the order.
    const first = await within(90_000, `the backend calls of ${path} and of its control to end`,
      Promise.race([endedOf(path).done.then(() => 'client'), endedOf(controlPath).done.then(() => 'control')]));
    assert.is(first, 'client', `the call of the client that stayed (same 60 s target timeout, started earlier) ended before the one of the client that left: the gateway held it until the target timeout`);
  } finally {
    control.destroy();
  }
}

test('a client that disconnects while the backend has not answered ends the backend call at once', async () => {
  const path = '/hang/waiting';
  await endsBeforeTheControl(path, () => sendAndDrop(path, `GET /plain${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
});

// Mid-upload it is the client's body, not the client-gone abort, that ends the backend call: the
// unfinished request stream fails ("aborted") and undici drops the backend connection on its body's
// error. These two pin that path for both kinds of body (a declared length is passed on as the
// request stream, a chunked one through the limit counter), with or without the abort.
test('a client that disconnects mid-upload (Content-Length) ends the backend call at once', async () => {
  const path = '/hang/upload';
  await endsBeforeTheControl(path, () => sendAndDrop(path, `POST /plain${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`, Buffer.alloc(1024 * 1024, 'u')));
});

test('a client that disconnects mid-upload (chunked) ends the backend call at once', async () => {
  const path = '/hang/upload-chunked';
  const chunk = Buffer.alloc(64 * 1024, 'u');
  await endsBeforeTheControl(path, () => sendAndDrop(path, `POST /plain${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n`,
    Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])));
});

test('a client that disconnects mid-download (a streamed answer) ends the backend call at once', async () => {
  const path = '/stall/download';
  await endsBeforeTheControl(path, () => new Promise<void>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: s.local.runtimePort, servername: 'localhost', ca }, () => {
      socket.write(`GET /plain${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    });
    // Gone once the answer has begun: the gateway is streaming it, the rest never comes.
    socket.once('data', () => { socket.destroy(); resolve(); });
    socket.on('error', reject);
  }));
});

test('after those disconnections the gateway still answers', async () => {
  const a = await send('/plain/after');
  assert.is(a.status, 200, a.body);
  assert.is(a.body, 'seen /after');
});

test('a client offering only http/1.0 by ALPN (curl --http1.0) is served, not refused with "no application protocol"', async () => {
  const socket = connect({ host: '127.0.0.1', port: s.local.runtimePort, servername: 'localhost', ca, ALPNProtocols: ['http/1.0'] });
  await once(socket, 'secureConnect');
  assert.is(socket.alpnProtocol, 'http/1.0');
  socket.destroy();
  const r = await $({ nothrow: true })`curl -sS --http1.0 --cacert ${join(s.fx.pki, 'ca-cert.pem')} -w ${'\n%{http_code}'} https://localhost:${s.local.runtimePort}/plain/http10`;
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.stdout, 'seen /http10\n200');
});

/** Writes `text` on a raw TLS connection and reads until the gateway closes it. */
function exchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: s.local.runtimePort, servername: 'localhost', ca }, () => socket.write(text));
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (got += d));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

test('CONNECT → 404 ApplicationNotFound and close, after the answers pipelined before it; no backend call', async () => {
  const before = seen.length;
  // Hang guards only: the check is the answer and the close that exchange() waits for.
  const text = await within(30_000, 'the answer to CONNECT and the close', exchange('CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n'));
  assert.match(text, /^HTTP\/1\.1 404 /);
  assert.match(text, /\r\nconnection: close\r\n/i);
  assert.equal(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)), {
    fault: { faultstring: 'Unable to identify proxy for host: localhost and url: localhost:443', detail: { errorcode: 'messaging.adaptors.http.flow.ApplicationNotFound' } },
  });
  assert.is(seen.length, before);
  const piped = await within(30_000, 'the answers to GET then CONNECT and the close', exchange('GET /plain/first HTTP/1.1\r\nHost: localhost\r\n\r\nCONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n'));
  assert.equal([...piped.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]), ['200', '404']);
  assert.ok(piped.indexOf('seen /first') < piped.indexOf('HTTP/1.1 404'), piped);
  const after = await send('/plain/after-connect');
  assert.is(after.body, 'seen /after-connect');
});

test.run();
