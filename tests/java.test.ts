// Java interoperability with the JDK alone, proof that the tutorial's stores serve the Spring Boot
// service and a Java gateway:
//  - a JSSE server (tests/java/MtlsServer.java) loaded with server-keystore.p12 (alias "server") and
//    server-truststore.p12 with need-client-auth accepts the tutorial's curl client and refuses others;
//  - a JSSE client (tests/java/MtlsClient.java) with client-apigee-keystore.p12 reaches our Node backend.
// Two JVM starts in all (each costs about a second).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { requireCommand } from './helpers/tools.ts';
import { settingsFromEnv, startBackend } from '../backend/server.ts';
import { GREETING as MESSAGE } from '../backend/routes.ts';

// curl exit codes for a client the server refuses (see the TLS facts: 35 on TLS 1.2, 56 or 52 on 1.3).
const REFUSED = [35, 52, 56];

// Every test here needs the JVMs started below: without java the file fails with the reason alone.
try {
  requireCommand('java');
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}

const { pki, bad, password } = await pkiFixture();
const file = (name: string) => join(pki, name);

/** Starts a process and resolves with the first stdout line matching `ready`. */
async function startUntil(command: string, args: string[], ready: RegExp, env = process.env) {
  const child: ChildProcessWithoutNullStreams = spawn(command, args, { cwd: repoRoot, env, stdio: 'pipe' });
  let output = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      const m = output.match(ready);
      if (m) {
        child.stdout.off('data', onData);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code} before it was ready:\n${output}`)));
  });
  return { child, match, output: () => output };
}

const curl = (port: number, args: string[]) =>
  execa('curl', ['-sS', '--max-time', '10', ...args, `https://127.0.0.1:${port}/`], { reject: false });

const backend = await startBackend(
  settingsFromEnv({
    PORT: '0', HEALTH_PORT: '0', SERVER_ADDRESS: '127.0.0.1',
    SERVER_SSL_KEYSTORE: file('server-keystore.p12'), SERVER_SSL_KEYSTOREPASSWORD: password, SERVER_SSL_KEYALIAS: 'server',
    SERVER_SSL_TRUSTSTORE: file('server-truststore.p12'), SERVER_SSL_TRUSTSTOREPASSWORD: password, RELOAD_STORES: 'false',
  }),
  { log: () => {} },
);

// Both JVMs start at once (the client only needs the Node backend), so their start-up overlaps.
const javaClientRun = execa('java', [join('tests', 'java', 'MtlsClient.java'), `https://127.0.0.1:${backend.port}/`,
  file('client-apigee-keystore.p12'), password, file('ca-cert.pem')], { cwd: repoRoot, reject: false });
const javaServer = await startUntil(
  'java',
  ['-Dsun.net.httpserver.nodelay=true', join('tests', 'java', 'MtlsServer.java'), '0',
    file('server-keystore.p12'), password, 'server', file('server-truststore.p12'), password],
  /listening (\d+)/,
);
const javaPort = Number(javaServer.match[1]);

test.after(async () => {
  javaServer.child.stdin.end();
  await backend.close();
  if (javaServer.child.exitCode === null) await once(javaServer.child, 'exit');
});

test('JSSE client with client-apigee-keystore.p12 reaches the Node backend on TLS 1.3 and 1.2; without a key it is refused', async () => {
  const r = await javaClientRun;
  assert.is(r.exitCode, 0, r.stderr);
  const lines = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.split(' ')[0], l]));
  for (const tls of ['tls1.3', 'tls1.2']) {
    assert.match(lines[tls] ?? '', /status=200 /, `${tls}: ${lines[tls]}`);
    assert.match(lines[tls] ?? '', `protocol=TLSv1.${tls.slice(-1)}`);
    assert.is(JSON.parse((lines[tls] ?? '').split(' body=')[1] ?? '{}').message, MESSAGE);
  }
  // The JSSE client sees the refusal as an I/O or handshake exception, never an HTTP answer.
  assert.match(lines['no-client-cert'] ?? '', /error=(SSLHandshakeException|SSLException|SocketException|IOException)/, lines['no-client-cert']);
});

for (const tls of ['1.3', '1.2']) {
  test(`JSSE server (need-client-auth) accepts the tutorial's curl client on TLS ${tls}`, async () => {
    const tlsArgs = tls === '1.2' ? ['--tls-max', '1.2'] : ['--tlsv1.3'];
    const r = await curl(javaPort, [...tlsArgs, '--cert', file('apigee-client-cert.pem'), '--key', file('apigee-client-key.pem'), '--cacert', file('ca-cert.pem')]);
    assert.is(r.exitCode, 0, r.stderr);
    const body = JSON.parse(r.stdout);
    assert.is(body.message, MESSAGE);
    assert.match(body.client, /CN=apigee-client/);
  });

  test(`JSSE server refuses curl without a client certificate on TLS ${tls} (handshake failure class)`, async () => {
    const tlsArgs = tls === '1.2' ? ['--tls-max', '1.2'] : ['--tlsv1.3'];
    const r = await curl(javaPort, [...tlsArgs, '--cacert', file('ca-cert.pem')]);
    assert.ok(REFUSED.includes(r.exitCode ?? -1), `curl exit ${r.exitCode}: ${r.stderr}`);
    assert.is.not(r.stdout.includes(MESSAGE), true);
  });
}

test('JSSE server refuses a client certificate from another CA', async () => {
  const r = await curl(javaPort, ['--cert', join(bad, 'other-client-cert.pem'), '--key', join(bad, 'other-client-key.pem'), '--cacert', file('ca-cert.pem')]);
  assert.ok(REFUSED.includes(r.exitCode ?? -1), `curl exit ${r.exitCode}: ${r.stderr}`);
});

test('curl without the CA does not trust the JSSE server either (curl 60)', async () => {
  const r = await curl(javaPort, ['--cert', file('apigee-client-cert.pem'), '--key', file('apigee-client-key.pem')]);
  assert.is(r.exitCode, 60, r.stderr);
});

test.run();
