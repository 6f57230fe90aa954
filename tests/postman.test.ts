// The Postman collection run by newman against the real backend and the real stand-in: the direct
// mTLS call and the call through the gateway both pass; without the client certificate the direct
// call fails, so the certificate settings are what makes it pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadConfig, repoRoot } from '../core/config.ts';
import { configureApigee, startLab, type Lab } from './helpers/apigee-steps.ts';

let lab: Lab;
test.before(async () => {
  lab = await startLab();
  await configureApigee(loadConfig({ env: lab.env, argv: [] }));
});
test.after(async () => {
  await lab.close();
});

const collection = join(repoRoot, 'postman', 'apigee-mtls-demo.postman_collection.json');
const environment = join(repoRoot, 'postman', 'local.postman_environment.json');

test('collection and environment are valid Postman v2.1 files with the tutorial URLs', () => {
  const c = JSON.parse(readFileSync(collection, 'utf8'));
  assert.match(c.info.schema, /collection\/v2\.1\.0/);
  assert.equal(c.item.map((i: { request: { url: { raw: string } } }) => i.request.url.raw), [
    'https://{{backend_host}}:{{backend_port}}/', 'https://{{gateway_host}}:{{gateway_port}}/api-mtls-test',
  ]);
  const e = JSON.parse(readFileSync(environment, 'utf8'));
  assert.equal(Object.fromEntries(e.values.map((v: { key: string; value: string }) => [v.key, v.value])),
    { backend_host: '127.0.0.1', backend_port: '8443', gateway_host: 'localhost', gateway_port: '9443' });
});

test('npm run postman: newman passes the direct mTLS call and the gateway call', async () => {
  const result = await execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'postman', 'run.ts')], { cwd: repoRoot, env: lab.env, extendEnv: false, reject: false, all: true });
  const out = String(result.all);
  assert.is(result.exitCode, 0, out);
  assert.match(out, /GET https:\/\/127\.0\.0\.1:\d+\/ \[200 OK/);
  assert.match(out, /GET https:\/\/localhost:\d+\/api-mtls-test \[200 OK/);
  assert.match(out, /assertions \|\s+4 \|\s+0 \|/);
  assert.match(out, /--ssl-client-cert \S+apigee-client-cert\.pem --ssl-client-key \S+apigee-client-key\.pem --ssl-extra-ca-certs \S+ca-cert\.pem/);
});

test('without the client certificate the backend refuses the direct call', async () => {
  const newman = join(repoRoot, 'node_modules', '.bin', 'newman');
  const result = await execa(newman, ['run', collection, '-e', environment,
    '--env-var', `backend_port=${lab.backend.port}`, '--env-var', `gateway_port=${lab.local.runtimePort}`,
    '--ssl-extra-ca-certs', join(lab.fixture.pki, 'ca-cert.pem'), '--color', 'off', '--disable-unicode'], { env: lab.env, extendEnv: false, reject: false, all: true });
  const out = String(result.all);
  assert.is(result.exitCode, 1, out);
  // The direct request dies in the TLS handshake (no HTTP status); the gateway call still passes.
  assert.match(out, /Direct call to the backend[\s\S]*?(ECONNRESET|socket hang up|certificate required|EPROTO)/i);
  assert.match(out, /GET https:\/\/localhost:\d+\/api-mtls-test \[200 OK/);
});

test.run();
