// The gateway and the management API against what curl and a hostile page send: `Expect:
// 100-continue` on a large body (curl adds it by itself), dot segments that try to climb out of a
// base path, and Host names other than loopback (DNS rebinding) on the management API.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { startBackend, settingsFromEnv, type Backend } from '../../backend/server.ts';
import { startApigeeLocal, type ApigeeLocal } from '../../apigee-local/server.ts';
import { backendEnv } from '../helpers/fixtures.ts';
import { E, assertError, form, importAndDeploy, pem, startStandIn, waitFor, type StandIn } from '../helpers/apigee-local.ts';
import { tempDir } from '../helpers/temp.ts';

let s: StandIn;
let backend: Backend;
const requests: string[] = [];
const work = tempDir('hostile-gateway-');

const curl = (args: string[]) => execa('curl', ['-sS', '--max-time', '20', ...args], { reject: false });
/** Splits curl's output made with -w '\n%{http_code}' into the body and the status. */
const bodyAndStatus = (stdout: string): [string, string] => {
  const cut = stdout.lastIndexOf('\n');
  return [stdout.slice(0, cut), stdout.slice(cut + 1)];
};
const gateway = (path: string) => `https://localhost:${s.local.runtimePort}${path}`;
const cacert = () => ['--cacert', join(s.fx.pki, 'ca-cert.pem')];

test.before(async () => {
  s = await startStandIn();
  const { fx } = s;
  backend = await startBackend(settingsFromEnv(backendEnv(fx)), { log: (line) => { const m = /"path":"([^"]*)"/.exec(line); if (m) requests.push(m[1]!); } });
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
  await s.ok('POST', `${E}/keystores/ks/aliases?alias=client&format=keycertfile`,
    form({ certFile: pem(fx.pki, 'apigee-client-cert.pem'), keyFile: pem(fx.pki, 'apigee-client-key.pem') }));
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ts' }));
  await s.ok('POST', `${E}/keystores/ts/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(fx.pki, 'ca-cert.pem') }));
  await s.ok('POST', `${E}/targetservers`, JSON.stringify({ name: 'backend', host: '127.0.0.1', port: backend.port,
    sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ks', keyAlias: 'client', trustStore: 'ts', enforce: true } }));
  await importAndDeploy(s, 'api-mtls-test', '/api-mtls-test', '<LoadBalancer><Server name="backend"/></LoadBalancer>');
});

test.after(async () => {
  await s.close();
  await backend.close();
});

test('curl with its defaults posts 2 MB through the gateway (Expect: 100-continue) and gets the backend\'s answer', async () => {
  const file = join(work, 'two-megabytes.bin');
  writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 'x'));
  const r = await curl([...cacert(), '-v', '-o', join(work, 'answer.json'), '-w', '%{http_code}', '--data-binary', `@${file}`, gateway('/api-mtls-test')]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stderr, /> Expect: 100-continue/i, 'curl sent Expect by itself');
  assert.match(r.stderr, /< HTTP\/1\.1 100 Continue/);
  // The backend serves GET and HEAD only: its own 405 comes back (with Allow), not a 503 from the gateway.
  assert.is(r.stdout, '405', r.stderr.split('\n').filter((l) => l.startsWith('<')).join('\n'));
  assert.match(r.stderr, /< allow: GET, HEAD/i);
  assert.equal(JSON.parse(readFileSync(join(work, 'answer.json'), 'utf8')), { error: 'method not allowed', allow: 'GET, HEAD' });
});

test('dot segments are resolved before routing: /api-mtls-test/../whoami never reaches the backend as /../whoami', async () => {
  const before = requests.length;
  for (const path of ['/api-mtls-test/../whoami', '/api-mtls-test/%2e%2e/whoami', '/api-mtls-test/%2E%2E/%2e%2e/whoami']) {
    const r = await curl([...cacert(), '--path-as-is', '-w', '\n%{http_code}', gateway(path)]);
    assert.is(r.exitCode, 0, r.stderr);
    const [body, status] = bodyAndStatus(r.stdout);
    assert.is(status, '404', `${path}: ${r.stdout}`);
    const fault = JSON.parse(body).fault;
    assert.ok(fault, `${path}: ${body}`);
    assert.is(fault.detail.errorcode, 'messaging.adaptors.http.flow.ApplicationNotFound', path);
    assert.match(fault.faultstring, /and url: \/whoami$/);
  }
  const inside = await curl([...cacert(), '--path-as-is', '-w', '\n%{http_code}', gateway('/api-mtls-test/x/../whoami')]);
  assert.match(inside.stdout, /apigee-client[\s\S]*\n200$/, inside.stdout);
  await waitFor('the backend log line', async () => (requests.length > before ? true : undefined));
  assert.equal(requests.slice(before), ['/whoami'], 'the one request that reached the backend, normalised');
});

test('the management API answers only Host names that are loopback (or configured): others → 403 in the envelope', async () => {
  const url = `http://127.0.0.1:${s.local.apiPort}/v1/organizations/demo-org/environments/eval/keystores`;
  const call = (host: string) => curl(['-H', 'Authorization: Bearer t', '-H', `Host: ${host}`, '-w', '\n%{http_code}', url]);
  for (const host of ['evil.example', 'evil.example:9080', '127.0.0.1.nip.io', 'localhost.evil.example']) {
    const r = await call(host);
    const [body, status] = bodyAndStatus(r.stdout);
    assertError({ status: Number(status), json: JSON.parse(body!), text: body!, headers: {} }, 403, 'PERMISSION_DENIED', /Host ".*" is not served/);
  }
  for (const host of ['127.0.0.1', `127.0.0.1:${s.local.apiPort}`, 'localhost', `LOCALHOST:${s.local.apiPort}`, '[::1]:9080']) {
    const r = await call(host);
    assert.match(r.stdout, /\n200$/, `${host}: ${r.stdout}`);
  }
  // A configured name is served too.
  let other: ApigeeLocal | undefined;
  try {
    other = await startApigeeLocal({ ...s.options, dir: tempDir('apigee-local-hosts-'), apiPort: 0, runtimePort: 0, allowedHosts: ['apigee.internal'] });
    const r = await curl(['-H', 'Authorization: Bearer t', '-H', 'Host: apigee.internal:9080', '-w', '\n%{http_code}', `${other.apiUrl}/environments/eval/keystores`]);
    assert.match(r.stdout, /\n200$/, r.stdout);
  } finally {
    await other?.close();
  }
});

test.run();
