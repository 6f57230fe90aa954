// A management API that accepts the connection and then says nothing (a stuck proxy, a firewall
// that drops replies, an overloaded front end): every call gives up within its timeout
// (APIGEE_API_TIMEOUT, lowered here to a fraction of a second), is sent at most once more and only
// when a repeat is safe, and fails with one line naming the call and what timed out — never the
// token. Real loopback servers: a TCP server that never writes a byte (plain HTTP: no answer; HTTPS:
// no TLS handshake) and an HTTP server that sends headers and then stalls the body.
// Calls through the gateway are bounded the same way by APIGEE_GATEWAY_TIMEOUT: the steps' curl
// (--max-time) and the rotation's load (undici), against the silent server and an HTTPS server
// that completes the handshake and never answers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadConfig } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { ApigeeClient, DEFAULT_TIMEOUT_MS, type ClientOptions } from '../scripts/lib/apigee/client.ts';
import { startLoad } from '../scripts/lib/apigee/gateway.ts';
import { isolated } from './helpers/isolation.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { configureApigee, runSteps, startLab, type StepRun } from './helpers/apigee-steps.ts';
import { FIXTURE_PASSWORD } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';

const TOKEN = 'ya29.never-print-this-token';
/** Request lines the silent server received ("GET /v1/…"), one per connection that sent one. */
const received: string[] = [];
const sockets = new Set<Socket>();
let silent: Server;
let stalling: HttpServer;
let silentPort: number;
let stallingPort: number;

test.before(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', (chunk) => received.push(chunk.toString('latin1').split('\r\n')[0]!.replace(/ HTTP\/1\.1$/, '')));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as AddressInfo).port;
  stalling = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('["ks-mtls');
  });
  await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', r));
  stallingPort = (stalling.address() as AddressInfo).port;
});
test.after(async () => {
  for (const socket of sockets) socket.destroy();
  stalling.closeAllConnections();
  await Promise.all([new Promise((r) => silent.close(r)), new Promise((r) => stalling.close(r))]);
});

const client = (baseUrl: string, extra: Partial<ClientOptions> = {}) =>
  new ApigeeClient({ baseUrl, org: 'o', env: 'e', dryRun: false, token: async () => TOKEN, quiet: true, timeoutMs: 300, retry: { attempts: 4, baseMs: 10, maxMs: 40 }, ...extra });

/** The call's error, which must be one StepError line without the token. */
async function failure(call: Promise<unknown>): Promise<string> {
  return call.then(() => assert.unreachable('a silent API answered'), (e: unknown) => {
    assert.instance(e, StepError);
    const message = (e as Error).message;
    assert.not.ok(message.includes('\n'), message);
    assert.not.ok(message.includes(TOKEN), 'the token is in the message');
    return message;
  }) as Promise<string>;
}

test('a GET to an API that accepts and never answers: no answer within the timeout, sent once more, one line naming the call', async () => {
  received.length = 0;
  const started = Date.now();
  const message = await failure(client(`http://127.0.0.1:${silentPort}/v1`).call({ method: 'GET', path: '/organizations/o/environments/e/keystores' }));
  assert.match(message, new RegExp(`^GET http://127\\.0\\.0\\.1:${silentPort}/v1/organizations/o/environments/e/keystores failed: connected, but got no answer within 0\\.3 s \\(UND_ERR_HEADERS_TIMEOUT\\), 2 attempts \\(hint: the Apigee management API accepted the connection but did not answer: .*APIGEE_API_TIMEOUT \\(now 0\\.3 s\\)`));
  assert.equal(received, ['GET /v1/organizations/o/environments/e/keystores', 'GET /v1/organizations/o/environments/e/keystores'], 'two attempts, not four');
  // The 0.3 s timeout fired, not the default one: a single attempt would then take DEFAULT_TIMEOUT_MS.
  assert.ok(Date.now() - started < DEFAULT_TIMEOUT_MS / 2, `took ${Date.now() - started} ms`);
});

test('a create whose answer never comes is not sent again blindly: its look-up runs out of time too, and the line names the POST', async () => {
  received.length = 0;
  const message = await failure(client(`http://127.0.0.1:${silentPort}/v1`).call({ method: 'POST', path: '/organizations/o/environments/e/keystores', json: { name: 'ks' } }));
  // The step was creating a keystore: the POST is what failed, the GET only how it was checked.
  assert.match(message, new RegExp(`^POST http://127\\.0\\.0\\.1:${silentPort}/v1/organizations/o/environments/e/keystores failed: connected, but got no answer within 0\\.3 s \\(UND_ERR_HEADERS_TIMEOUT\\); `
    + `looking it up \\(GET /keystores/ks\\) timed out too after 2 attempts, so it is not sent again: it may have taken effect \\(hint: rerun the step, it looks up first; .*APIGEE_API_TIMEOUT \\(now 0\\.3 s\\)`));
  assert.equal(received.filter((l) => l.startsWith('GET')), ['GET /v1/organizations/o/environments/e/keystores/ks', 'GET /v1/organizations/o/environments/e/keystores/ks'], 'the look-up went twice');
  assert.equal(received.filter((l) => l.startsWith('POST')), ['POST /v1/organizations/o/environments/e/keystores'], 'the POST went once');
});

test('an upload waits twice the timeout; without a way to look it up it is not sent again', async () => {
  received.length = 0;
  const zip = join(tempDir('timeout-'), 'p.zip');
  writeFileSync(zip, 'zip bytes');
  const started = Date.now();
  const message = await failure(client(`http://127.0.0.1:${silentPort}/v1`).call({ method: 'POST', path: '/organizations/o/apis', query: { name: 'p', action: 'import' }, form: [{ name: 'file', file: zip }] }));
  assert.match(message, /^POST \/apis failed with connected, but got no answer within 0\.6 s \(UND_ERR_HEADERS_TIMEOUT\); it may have taken effect, so it is not sent again blindly/);
  assert.ok(Date.now() - started >= 550, 'the upload timeout is twice the call timeout');
  assert.is(received.length, 1);
});

test('HTTPS to a server that never completes the TLS handshake: could not connect within the timeout (TCP or TLS), sent once more', async () => {
  received.length = 0;
  const started = Date.now();
  const message = await failure(client(`https://127.0.0.1:${silentPort}/v1`).call({ method: 'DELETE', path: '/organizations/o/environments/e/references/r' }));
  assert.match(message, /^DELETE https:\/\/127\.0\.0\.1:\d+\/v1\/organizations\/o\/environments\/e\/references\/r failed: could not connect \(TCP or TLS\) within 0\.3 s \(UND_ERR_CONNECT_TIMEOUT\), 2 attempts \(hint: check the network and the Apigee base URL/);
  // The 0.3 s connect timeout fired, not the 10 s one it is capped by: two attempts of that take 20 s.
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test('an answer whose body stops arriving: the body timeout, named as such', async () => {
  const message = await failure(client(`http://127.0.0.1:${stallingPort}/v1`).call({ method: 'GET', path: '/organizations/o/environments/e/keystores' }));
  assert.match(message, /^GET http:\/\/127\.0\.0\.1:\d+\/v1\/organizations\/o\/environments\/e\/keystores failed: the answer stopped arriving within 0\.3 s \(UND_ERR_BODY_TIMEOUT\), 2 attempts/);
});

test('APIGEE_API_TIMEOUT: 30 s by default, whole seconds from 1 to 600', () => {
  const c = (value: string) => loadConfig({ env: isolated({ APIGEE_API_TIMEOUT: value }), argv: [] }).apigee.apiTimeoutMs;
  assert.is(c(''), 30_000);
  assert.is(c('5'), 5_000);
  assert.throws(() => c('0'), /APIGEE_API_TIMEOUT: must be a whole number from 1 to 600/);
  assert.throws(() => c('1.5'), /APIGEE_API_TIMEOUT: must be a whole number/);
});

test('step 42 against a silent Apigee X API: exit code 1 within seconds, one error line, no token, nothing left in RUN_DIR', async () => {
  const fixture = await pkiFixture();
  const runDir = tempDir('timeout-run-');
  const started = Date.now();
  const run = await runSteps(['42-keystore'], {
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0', CERTS_DIR: fixture.pki, RUN_DIR: runDir, STORE_PASSWORD: FIXTURE_PASSWORD,
    APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'e', APIGEE_HOST: 'api.example.com', APIGEE_TOKEN: TOKEN,
    APIGEE_API_BASE: `http://127.0.0.1:${silentPort}/v1`, APIGEE_API_TIMEOUT: '1', SERVER_HOST: '127.0.0.1', DRY_RUN: '0',
  });
  assert.is.not(run.exitCode, 0, run.output);
  // APIGEE_API_TIMEOUT=1 applied: two attempts at the 30 s default would take a minute (the step's
  // own start, tsx included, is what a loaded machine makes slow).
  assert.ok(Date.now() - started < DEFAULT_TIMEOUT_MS, `took ${Date.now() - started} ms`);
  assert.not.ok(run.output.includes(TOKEN), 'the token is in the output');
  const errors = run.output.split('\n').filter((l) => /got no answer within 1 s \(UND_ERR_HEADERS_TIMEOUT\), 2 attempts \(hint: /.test(l));
  assert.is(errors.length, 1, run.output);
  assert.match(errors[0]!, /GET http:\/\/127\.0\.0\.1:\d+\/v1\/organizations\/o\/environments\/e\/keystores\S* failed: /);
  assert.equal(readdirSync(runDir).filter((f) => !f.endsWith('.log')), [], 'nothing written');
});

test('step 47 through a gateway that accepts and never answers: exit code 1 after APIGEE_GATEWAY_TIMEOUT, one line naming the URL and the setting', async () => {
  // The step asks the management API first whether the configured proxy is deployed: a real
  // stand-in says it is, and only its runtime port is replaced by the silent server.
  const lab = await startLab();
  let run: StepRun;
  let tookMs: number;
  try {
    await configureApigee(loadConfig({ env: lab.env, argv: [] }));
    const started = Date.now();
    run = await runSteps(['47-call-gateway'], { ...lab.env, APIGEE_LOCAL_RUNTIME_PORT: String(silentPort), APIGEE_GATEWAY_TIMEOUT: '1' });
    tookMs = Date.now() - started;
  } finally {
    await lab.close();
  }
  assert.is.not(run.exitCode, 0, run.output);
  // APIGEE_GATEWAY_TIMEOUT=1 applied: curl would otherwise wait the 60 s default.
  assert.ok(tookMs < 30_000, `took ${tookMs} ms`);
  assert.match(run.output, new RegExp(`\\$ curl -sS -v --max-time 1 --cacert \\S+ca-cert\\.pem https://localhost:${silentPort}/api-mtls-test`), 'the printed curl carries the limit');
  const errors = run.output.split('\n').filter((l) => l.includes('no answer within'));
  assert.is(errors.length, 1, run.output);
  assert.match(errors[0]!, new RegExp(`GET https://localhost:${silentPort}/api-mtls-test failed: no answer within 1 s \\(curl 28: [^)]*\\) \\(hint: .*APIGEE_GATEWAY_TIMEOUT \\(now 1 s\\)`));
});

test('the rotation\'s load through a gateway that never answers: each call gives up after the gateway timeout and counts as failed', async () => {
  const fixture = await pkiFixture();
  // When each request arrived: the mute server never answers, so a second request on the load's two
  // connections means a call gave up (undici's own headers timeout is 300 s).
  const arrivals: number[] = [];
  let arrived = () => undefined as void;
  const mute: HttpsServer = createHttpsServer({ cert: readFileSync(join(fixture.pki, 'server-cert.pem')), key: readFileSync(join(fixture.pki, 'server-key.pem')) }, () => {
    arrivals.push(Date.now());
    arrived();
  });
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  try {
    const port = (mute.address() as AddressInfo).port;
    const load = startLoad({ host: 'localhost', port, caFile: join(fixture.pki, 'ca-cert.pem'), connectAddress: '127.0.0.1', resolve: undefined, timeoutMs: 300 },
      '/api-mtls-test', { connections: 2, pauseMs: 10 });
    let gaveUp = false;
    const giveUp = setTimeout(() => ((gaveUp = true), arrived()), 30_000);
    while (arrivals.length < 4 && !gaveUp) await new Promise<void>((r) => (arrived = r));
    clearTimeout(giveUp);
    assert.ok(arrivals.length >= 4, `${arrivals.length} requests in 30 s: the calls did not give up after the 300 ms gateway timeout`);
    // Stop waits for the calls in flight, which give up like the ones before: about one call. A call
    // is timed by this run's requests (two connections: a request and the one two later), not in ms.
    const slowestCall = Math.max(...arrivals.slice(2).map((t, i) => t - arrivals[i]!));
    const started = Date.now();
    const report = await load.stop();
    const stopMs = Date.now() - started;
    assert.ok(stopMs < 3 * slowestCall, `stop waited ${stopMs} ms for calls in flight (slowest call in this run ${slowestCall} ms)`);
    assert.ok(report.made >= 2 && report.failed === report.made, JSON.stringify(report));
    for (const f of report.failures) assert.match(f, /UND_ERR_HEADERS_TIMEOUT$/);
  } finally {
    mute.closeAllConnections();
    await new Promise((r) => mute.close(r));
  }
});

test('APIGEE_GATEWAY_TIMEOUT: 60 s by default (over Apigee\'s 55 s target timeout), whole seconds from 1 to 600', () => {
  const c = (value: string) => loadConfig({ env: isolated({ APIGEE_GATEWAY_TIMEOUT: value }), argv: [] }).apigee.gatewayTimeoutMs;
  assert.is(c(''), 60_000);
  assert.is(c('2'), 2_000);
  assert.throws(() => c('0'), /APIGEE_GATEWAY_TIMEOUT: must be a whole number from 1 to 600/);
});

test.run();
