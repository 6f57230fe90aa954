// The backend as a process and over time: one-line start errors with exit 1, hot reload when the
// stores are rotated Kubernetes-style (..data symlink swap) or only the truststore is replaced,
// and a SIGTERM drain that finishes the request in flight and exits 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { execa } from 'execa';
import { buildTrustStore } from '../lib/pkcs12.ts';
import { pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { startBackend, StoreError } from '../backend/server.ts';
import { settingsFromEnv, SettingsError } from '../backend/settings.ts';
import { repoRoot } from '../core/config.ts';
import { tempDir } from './helpers/temp.ts';
import { closeOf } from './helpers/sockets.ts';

let fx: PkiFixture;
const work = tempDir('backend-life-');
const pem = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    CERTS_DIR: fx.pki,
    SERVER_SSL_KEYSTOREPASSWORD: fx.password,
    SERVER_SSL_TRUSTSTOREPASSWORD: fx.password,
    SERVER_ADDRESS: '127.0.0.1',
    PORT: '0',
    HEALTH_PORT: '0',
    ...extra,
  };
}

function spawnBackend(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'backend', 'main.ts')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnBackend(env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function keystore(name: string, cert: string, key: string, extra: string[] = []): string {
  const out = join(work, name);
  openssl(['pkcs12', '-export', '-in', cert, '-inkey', key, '-name', 'server', '-out', out, '-passout', `pass:${fx.password}`, ...extra]);
  return out;
}

test.before(async () => {
  fx = await pkiFixture();
});

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('start errors: one clear line naming the problem, never the password', async () => {
  const mismatched = join(work, 'mismatched.p12');
  openssl(['pkcs12', '-export', '-nocerts', '-inkey', join(fx.bad, 'second-client-key.pem'), '-certfile', join(fx.pki, 'server-cert.pem'),
    '-name', 'server', '-out', mismatched, '-passout', `pass:${fx.password}`]);
  const expired = keystore('expired.p12', join(fx.bad, 'expired-server-cert.pem'), join(fx.bad, 'expired-server-key.pem'));
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['missing keystore', { SERVER_SSL_KEYSTORE: join(work, 'nope.p12') }, /^server keystore .*nope\.p12: not found/],
    ['wrong keystore password', { SERVER_SSL_KEYSTOREPASSWORD: 'wrong-pass' }, /^server keystore .*: wrong password \(SERVER_SSL_KEYSTOREPASSWORD\)/],
    ['wrong truststore password', { SERVER_SSL_TRUSTSTOREPASSWORD: 'wrong-pass' }, /^server truststore .*: wrong password \(SERVER_SSL_TRUSTSTOREPASSWORD\)/],
    ['unknown alias', { SERVER_SSL_KEYALIAS: 'nosuch' }, /^server keystore .*: no private key with alias "nosuch".*\(SERVER_SSL_KEYALIAS\)/],
    ['key not matching the certificate', { SERVER_SSL_KEYSTORE: mismatched }, /^server keystore .*: .*(does not match|no matching certificate)/],
    ['expired server certificate', { SERVER_SSL_KEYSTORE: expired }, /^server certificate "127\.0\.0\.1" in .* expired on \d{4}-/],
    ['bad client-auth value', { SERVER_SSL_CLIENTAUTH: 'maybe' }, /^SERVER_SSL_CLIENTAUTH: must be need, want or none/],
    ['no keystore password', { SERVER_SSL_KEYSTOREPASSWORD: '' }, /^SERVER_SSL_KEYSTOREPASSWORD: is not set/],
    ['a folder as the keystore', { SERVER_SSL_KEYSTORE: work }, /^server keystore .*: not a regular file \(a folder; SERVER_SSL_KEYSTORE\)$/],
    // A device has no size to check first: reading it whole would never end (nor stop growing).
    ['an endless device as the truststore', { SERVER_SSL_TRUSTSTORE: '/dev/zero' }, /^server truststore \/dev\/zero: not a regular file \(a device, FIFO or socket; SERVER_SSL_TRUSTSTORE\)$/],
    ['truststore without trusted entries', { SERVER_SSL_TRUSTSTORE: join(fx.pki, 'server-keystore.p12') }, /^server truststore .*: holds certificates but no trusted entries/],
  ];
  for (const [name, env, pattern] of cases) {
    try {
      const backend = await startBackend(settingsFromEnv(baseEnv({ RELOAD_STORES: 'false', ...env })), { log: () => undefined });
      await backend.close();
      assert.unreachable(`${name}: started`);
    } catch (error) {
      if ((error as Error).name === 'Assertion') throw error;
      assert.instance(error, (error as Error).name === 'SettingsError' ? SettingsError : StoreError, name);
      assert.match((error as Error).message, pattern, name);
      assert.not.match((error as Error).message, /\n/, `${name}: one line`);
      assert.not.ok((error as Error).message.includes(fx.password), `${name}: password in the message`);
    }
  }
});

test('a port in use is named with the variable that set it (the health port too)', async () => {
  const taken = createNetServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const { port } = taken.address() as AddressInfo;
  try {
    for (const [env, pattern] of [
      [{ PORT: String(port) }, /^TLS port \(SERVER_PORT or PORT\): 127\.0\.0\.1:\d+ is already in use$/],
      [{ HEALTH_PORT: String(port) }, /^health port \(HEALTH_PORT\): 127\.0\.0\.1:\d+ is already in use$/],
    ] as const) {
      const error = await startBackend(settingsFromEnv(baseEnv({ RELOAD_STORES: 'false', ...env })), { log: () => undefined }).then(
        (b) => (void b.close(), undefined), (e: Error) => e);
      assert.instance(error, StoreError);
      assert.match(error!.message, pattern);
    }
  } finally {
    taken.close();
  }
});

test('the command line reports a start error as one line on stderr and exits 1', async () => {
  const r = await runToExit(baseEnv({ SERVER_SSL_KEYSTOREPASSWORD: 'wrong-pass' }));
  assert.is(r.code, 1);
  assert.match(r.stderr, /^backend: server keystore .*: wrong password \(SERVER_SSL_KEYSTOREPASSWORD\)\n$/);
  assert.not.ok((r.stderr + r.stdout).includes('wrong-pass'));
});

/** A Kubernetes-style secret folder: <dir>/..data → ..<version>/, the stores are symlinks via ..data. */
function secretDir(): { dir: string; publish: (version: string, files: Record<string, Buffer>) => void } {
  const dir = mkdtempSync(join(work, 'secret-'));
  const publish = (version: string, files: Record<string, Buffer>) => {
    mkdirSync(join(dir, `..${version}`));
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, `..${version}`, name), data, { mode: 0o600 });
    symlinkSync(`..${version}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap the kubelet does
    for (const name of Object.keys(files)) {
      try {
        symlinkSync(join('..data', name), join(dir, name));
      } catch {
        // already linked from the first version
      }
    }
  };
  return { dir, publish };
}

/** Handshake (TLS 1.3) and close; returns the session ticket and whether `session` was resumed. */
async function sessionFrom(port: number, session?: Buffer): Promise<{ ticket: Buffer | undefined; reused: boolean }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, session, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') });
  let ticket: Buffer | undefined;
  socket.on('session', (t: Buffer) => (ticket = t));
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused(); // only answerable while the connection is open
  socket.end('GET / HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n');
  socket.resume();
  await closeOf(socket);
  return { ticket, reused };
}

test('reload on rotation: new connections see the new certificate, a kept-alive one survives; bad files are refused', async () => {
  // A second server certificate for 127.0.0.1 from the same CA.
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'rotated-key.pem', '-subj', '/CN=rotated-server', '-out', 'rotated.csr']);
  writeFileSync(join(work, 'rotated.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', 'rotated.csr', '-CA', join(fx.pki, 'ca-cert.pem'), '-CAkey', join(fx.pki, 'ca-key.pem'), '-days', '2', '-extfile', 'rotated.ext', '-out', 'rotated-cert.pem']);
  const rotated = keystore('rotated.p12', join(work, 'rotated-cert.pem'), join(work, 'rotated-key.pem'));

  const secret = secretDir();
  const trust = readFileSync(join(fx.pki, 'server-truststore.p12'));
  secret.publish('v1', { 'server-keystore.p12': readFileSync(join(fx.pki, 'server-keystore.p12')), 'server-truststore.p12': trust });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<[string, () => void]> = [];
  const waitEvent = (event: string) => new Promise<void>((resolve) => waiters.push([event, resolve]));
  const backend = await startBackend(
    { ...settingsFromEnv(baseEnv({ CERTS_DIR: secret.dir, RELOAD_DEBOUNCE_MS: '100' })) },
    {
      log: (line) => {
        const entry = JSON.parse(line);
        lines.push(entry);
        for (const [i, [event, resolve]] of waiters.entries()) if (entry.event === event) (waiters.splice(i, 1), resolve());
      },
    },
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') });
  const call = (viaAgent: boolean) =>
    new Promise<{ status: number; cn: string; reused: boolean }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: backend.port, path: '/', ...(viaAgent ? { agent } : { agent: false, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') }) },
        (res) => {
          const cn = (res.socket as TLSSocket).getPeerCertificate().subject.CN as string;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, cn, reused: req.reusedSocket }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  try {
    const before = await call(true);
    assert.equal([before.status, before.cn], [200, '127.0.0.1']);
    const { ticket } = await sessionFrom(backend.port);
    assert.ok((await sessionFrom(backend.port, ticket)).reused, 'resumption works before the rotation');

    const reloaded = waitEvent('stores-reloaded');
    secret.publish('v2', { 'server-keystore.p12': readFileSync(rotated), 'server-truststore.p12': trust });
    await reloaded;
    assert.not.ok((await sessionFrom(backend.port, ticket)).reused, 'a ticket from before the rotation is not accepted');
    const fresh = await call(false);
    assert.equal([fresh.status, fresh.cn], [200, 'rotated-server'], 'a new connection sees the rotated certificate');
    const kept = await call(true);
    assert.ok(kept.reused, 'the kept-alive connection was not dropped');
    assert.equal([kept.status, kept.cn], [200, '127.0.0.1'], 'the existing connection keeps its session');

    const failed = waitEvent('reload-failed');
    secret.publish('v3', { 'server-keystore.p12': Buffer.from('not a keystore'), 'server-truststore.p12': trust });
    await failed;
    const after = await call(false);
    assert.equal([after.status, after.cn], [200, 'rotated-server'], 'bad files leave the last good stores in place');
    const failure = lines.find((l) => l.event === 'reload-failed')!;
    assert.match(String(failure.reason), /server keystore .*server-keystore\.p12: not a valid PKCS#12 file/);
  } finally {
    agent.destroy();
    await backend.close();
  }
});

test('reload covers the truststore: replacing only server-truststore.p12 with another CA refuses the tutorial client on its next connection', async () => {
  // Plain files this time (no ..data symlinks), replaced the way an editor or `cp` over a
  // rename would: a new file moved into place.
  const dir = mkdtempSync(join(work, 'stores-'));
  writeFileSync(join(dir, 'server-keystore.p12'), readFileSync(join(fx.pki, 'server-keystore.p12')), { mode: 0o600 });
  writeFileSync(join(dir, 'server-truststore.p12'), readFileSync(join(fx.pki, 'server-truststore.p12')));
  const lines: Array<Record<string, unknown>> = [];
  let onLine = (_l: Record<string, unknown>) => {};
  const backend = await startBackend(settingsFromEnv(baseEnv({ CERTS_DIR: dir, RELOAD_DEBOUNCE_MS: '100' })), {
    log: (line) => {
      lines.push(JSON.parse(line));
      onLine(lines.at(-1)!);
    },
  });
  const reloaded = () => new Promise<Record<string, unknown>>((resolve) => (onLine = (l) => l.event === 'stores-reloaded' && resolve(l)));
  const curl = (client: string) => execa('curl', ['-sS', '--max-time', '10', '--cert', client === 'tutorial' ? join(fx.pki, 'apigee-client-cert.pem') : join(fx.bad, 'other-client-cert.pem'),
    '--key', client === 'tutorial' ? join(fx.pki, 'apigee-client-key.pem') : join(fx.bad, 'other-client-key.pem'), '--cacert', join(fx.pki, 'ca-cert.pem'),
    `https://127.0.0.1:${backend.port}/`], { reject: false });
  try {
    assert.is((await curl('tutorial')).exitCode, 0, 'the tutorial client is served before');
    assert.ok([35, 52, 56].includes((await curl('other')).exitCode ?? 0), 'a client of the other CA is refused before');

    const next = reloaded();
    const trustOtherCa = buildTrustStore([{ alias: 'other-ca', pem: pem(fx.bad, 'other-ca-cert.pem') }], fx.password);
    writeFileSync(join(dir, 'server-truststore.p12.tmp'), trustOtherCa);
    renameSync(join(dir, 'server-truststore.p12.tmp'), join(dir, 'server-truststore.p12'));
    const event = await next;
    assert.is(event.trustedCerts, 1);

    const tutorial = await curl('tutorial');
    assert.ok([35, 52, 56].includes(tutorial.exitCode ?? 0), `the tutorial client is refused on its next connection (curl ${tutorial.exitCode}: ${tutorial.stderr.trim()})`);
    assert.ok(lines.some((l) => l.event === 'connection-refused' && l.reason === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'logged: its CA is no longer trusted');
    const other = await curl('other');
    assert.is(other.exitCode, 0, 'and the other CA\'s client is served');
    assert.match(other.stdout, 'Hello, secure world with mTLS!');
  } finally {
    await backend.close();
  }
});

test('timeouts: silent TCP client (handshake), silent TLS client (idle), idle after an answer (keep-alive), slow headers', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const backend = await startBackend(
    settingsFromEnv(baseEnv({ RELOAD_STORES: 'false', HANDSHAKE_TIMEOUT_MS: '500', HEADERS_TIMEOUT_MS: '700', REQUEST_TIMEOUT_MS: '1000', IDLE_TIMEOUT_MS: '800' })),
    { log: (line) => lines.push(JSON.parse(line)) },
  );
  // Closed by the backend, not by the test. A setting that does not reach node:https leaves its
  // default (handshake 120 s, headers 60 s): the test gives up at 20 s, far from both and from the
  // settings below, so a loaded machine's slow close is not mistaken for a missing timer.
  const givenUpOn: string[] = [];
  const closedAfter = async (socket: import('node:net').Socket, what: string) => {
    const t0 = Date.now();
    socket.on('error', () => undefined);
    const cap = setTimeout(() => (givenUpOn.push(what), socket.destroy()), 20 * 1000);
    await closeOf(socket);
    clearTimeout(cap);
    return Date.now() - t0;
  };
  const tlsOptions = { host: '127.0.0.1', port: backend.port, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') };
  try {
    const [handshake, idle, keptAlive, headers] = await Promise.all([
      closedAfter(netConnect({ host: '127.0.0.1', port: backend.port }), 'silent TCP client'),
      closedAfter(tlsConnect(tlsOptions), 'silent TLS client'),
      (async () => {
        // Closed by the idle sweep (connections.ts) or node:http's keep-alive timer, whichever is first.
        const s = tlsConnect(tlsOptions);
        await once(s, 'secureConnect');
        s.write('GET / HTTP/1.1\r\nHost: backend\r\n\r\n');
        let text = '';
        await new Promise<void>((answered) => s.on('data', (chunk) => (text += chunk).includes('mTLS!') && answered()));
        return closedAfter(s, 'idle after an answer');
      })(),
      (async () => {
        const s = tlsConnect(tlsOptions);
        await once(s, 'secureConnect');
        s.write('GET / HTTP/1.1\r\nHost: backend\r\n'); // and never the blank line
        return closedAfter(s, 'slow headers');
      })(),
    ]);
    assert.equal(givenUpOn, [], 'the backend never closed these connections');
    // Timers never fire early: a close before its timeout is the wrong timer (or none).
    assert.ok(handshake >= 400, `handshake timeout after ${handshake} ms`);
    assert.ok(idle >= 600, `idle timeout after ${idle} ms`);
    assert.ok(keptAlive >= 600, `idle timeout after an answer after ${keptAlive} ms`);
    assert.ok(headers >= 500, `headers timeout after ${headers} ms`);
    assert.ok(lines.some((l) => l.event === 'connection-refused' && l.reason === 'ERR_TLS_HANDSHAKE_TIMEOUT'));
  } finally {
    await backend.close();
  }
});

test('SIGTERM: stops accepting, finishes the request in flight, exits 0', async () => {
  const child = spawnBackend(baseEnv({ SHUTDOWN_TIMEOUT_MS: '10000' }));
  let out = '';
  const events: string[] = [];
  let onEvent: ((event: string) => void) | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    for (const line of out.split('\n').slice(events.length).filter((l) => l.endsWith('}'))) {
      const event = JSON.parse(line).event as string;
      events.push(event);
      onEvent?.(event);
    }
  });
  const seen = (event: string) => new Promise<void>((resolve) => {
    if (events.includes(event)) return resolve();
    const previous = onEvent;
    onEvent = (e) => (previous?.(e), e === event && resolve());
  });
  const exited = once(child, 'exit');
  try {
    await seen('started');
    const started = JSON.parse(out.split('\n')[0]!);
    // One write holds a complete request and the start of a second: once the first answer is
    // back, the server has begun parsing the second, which is then "in flight".
    const socket = tlsConnect({ host: '127.0.0.1', port: started.port, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') });
    await once(socket, 'secureConnect');
    let received = '';
    socket.setEncoding('utf8');
    const answers = (n: number) => new Promise<void>((resolve) => {
      const check = () => (received.split('Hello, secure world').length - 1 >= n ? resolve() : socket.once('data', (d) => ((received += d), check())));
      check();
    });
    socket.write('GET / HTTP/1.1\r\nHost: backend\r\n\r\nGET / HTTP/1.1\r\nHost: backend\r\n');
    await answers(1);

    child.kill('SIGTERM');
    await seen('draining');
    const ready = await new Promise<number>((resolve, reject) =>
      httpRequest({ host: '127.0.0.1', port: started.healthPort, path: '/readyz', agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject).end());
    assert.is(ready, 503, 'readiness reports draining');
    const refused = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: started.port, rejectUnauthorized: false });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('secureConnect', () => (s.destroy(), resolve('accepted')));
    });
    assert.is(refused, 'ECONNREFUSED', 'no new connections while draining');

    socket.write('\r\n');
    await answers(2);
    assert.match(received.slice(received.lastIndexOf('HTTP/1.1 ')), /^HTTP\/1\.1 200 [\s\S]*connection: close/i);
    const [code] = await exited;
    assert.is(code, 0);
    assert.ok(events.includes('stopped'));
  } finally {
    child.kill('SIGKILL');
  }
});

test('a drain under keep-alive load loses no request: each connection gets "connection: close" on its next answer instead of a reset', async () => {
  const backend = await startBackend(settingsFromEnv(baseEnv({ RELOAD_STORES: 'false', SHUTDOWN_TIMEOUT_MS: '5000' })), { log: () => undefined });
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: pem(fx.pki, 'ca-cert.pem'), cert: pem(fx.pki, 'apigee-client-cert.pem'), key: pem(fx.pki, 'apigee-client-key.pem') });
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  let stop = false;
  let answered = 0;
  let wake = () => {};
  const get = () => new Promise<void>((resolve) => {
    httpsRequest({ host: '127.0.0.1', port: backend.port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => (count(String(res.statusCode)), answered++, wake(), resolve()));
    }).on('error', (e: NodeJS.ErrnoException) => (count(e.code ?? e.message), (stop = true), resolve())).end();
  });
  // Eight clients, each sending its next request as soon as the last answer is in.
  const clients = Array.from({ length: 8 }, async () => {
    while (!stop) await get();
  });
  while (answered < 200) await new Promise<void>((r) => (wake = r));
  await backend.close();
  stop = true;
  await Promise.all(clients);
  agent.destroy();
  const failures = [...outcomes].filter(([what]) => what !== '200' && what !== 'ECONNREFUSED');
  assert.equal(failures, [], `requests lost to the drain (a refused new connection is fine: it was never sent): ${JSON.stringify([...outcomes])}`);
});

test('SIGHUP drains and exits 0 like SIGTERM (Node alone would die at once, without a "stopped" line)', async () => {
  const child = spawnBackend(baseEnv());
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    if (out.includes('"event":"started"')) child.kill('SIGHUP');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal([code, signal], [0, null]);
  assert.equal(out.trim().split('\n').map((l) => JSON.parse(l).event), ['started', 'draining', 'stopped']);
});

test.run();
