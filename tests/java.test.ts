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
import { repoRoot } from '../scripts/lib/config.ts';
import { pkiFixture } from './helpers/fixtures.ts';

const MESSAGE = 'Hello, secure world with mTLS!';
// curl exit codes for a client the server refuses (see the TLS facts: 35 on TLS 1.2, 56 or 52 on 1.3).
const REFUSED = [35, 52, 56];

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

const javaServer = await startUntil(
  'java',
  ['-Dsun.net.httpserver.nodelay=true', join('tests', 'java', 'MtlsServer.java'), '0',
    file('server-keystore.p12'), password, 'server', file('server-truststore.p12'), password],
  /listening (\d+)/,
);
const javaPort = Number(javaServer.match[1]);

test.after(async () => {
  javaServer.child.stdin.end();
  if (javaServer.child.exitCode === null) await once(javaServer.child, 'exit');
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
