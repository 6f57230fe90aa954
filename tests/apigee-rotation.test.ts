// make rotate against the real stand-in (propagation delay on) and the real backend (store reload
// on), on a private copy of the PKI: a new server certificate reaches the running backend, a new
// client certificate reaches the gateway through a new keystore version and the reference, the old
// keystore goes last, and the background calls made meanwhile all succeed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { loadConfig, repoRoot, type Config } from '../core/config.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { readScenarios } from '../scripts/lib/scenarios.ts';
import { configureApigee, gatewayUntil, runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { FIXTURE_PASSWORD } from './helpers/fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { GIVEN, printedCommands, shellSegments, withGivenIn } from './helpers/printed.ts';

let lab: Lab;
let config: Config;
const E = '/organizations/demo-org/environments/eval';
const serial = (file: string) => new X509Certificate(readFileSync(file)).serialNumber;
const certs = (name: string) => join(lab.fixture.pki, name);
const get = <T>(path: string) => apigeeClient(config, { quiet: true }).lookup<T>(path);

test.before(async () => {
  lab = await startLab({ propagationMs: 1500, ownCerts: true });
  config = loadConfig({ env: lab.env, argv: [] });
  await configureApigee(config);
  await gatewayUntil(lab, (a) => a.status === 200);
});
test.after(async () => {
  await lab.close();
});

test('rotation: new server certificate reloaded by the backend, new client certificate behind the reference, 0 failed calls', async () => {
  const oldClient = serial(certs('apigee-client-cert.pem'));
  const oldServer = serial(certs('server-cert.pem'));
  const run = await runSteps(['49-rotate-certs'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  const out = run.output;
  // Backend: the tutorial's steps again, then the running backend presents the new certificate.
  // Printed with the settings the step got from its environment: pasted into a fresh shell, they act on this PKI.
  const reissue = printedCommands(out).filter((c) => /\.\/scripts\/1[13]-/.test(c));
  assert.equal(reissue.map((c) => shellSegments(c)[0]!.filter((w) => !w.includes('=')).join(' ')), ['./scripts/11-server-cert.ts', './scripts/13-server-stores.ts', './scripts/13-server-stores.ts'], out);
  for (const line of reissue) assert.ok(shellSegments(line)[0]!.includes(`CERTS_DIR=${lab.fixture.pki}`), line);
  assert.ok(reissue[0]!.includes(' FORCE=1 ./scripts/11-server-cert.ts'), reissue[0]);
  const newServer = serial(certs('server-cert.pem'));
  assert.is.not(newServer, oldServer);
  assert.is(lab.backend.material().serverCert.serialNumber, newServer, 'backend did not reload its stores');
  // Apigee: new client certificate from the CA, into ks-mtls-client-v2, reference repointed, old keystore deleted last.
  assert.match(out, /\$ openssl x509 -req -in next\/client\.csr -CA ca-cert\.pem -CAkey ca-key\.pem -out next\/apigee-client-cert\.pem/);
  assert.ok(out.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v2 (was ks-mtls-client)'), out);
  const newClient = serial(certs('apigee-client-cert.pem'));
  assert.is.not(newClient, oldClient);
  // With the propagation delay, /whoami showed the old serial first: the step waited for the new one.
  assert.ok(out.includes(`✓ the runtime serves the change: /whoami showing serial ${newClient} after waiting`), out);
  assert.ok(out.indexOf('/whoami showing serial') < out.indexOf('✓ deleted keystore ks-mtls-client'), 'old keystore deleted before the gateway used the new one');
  assert.equal([...((await get<string[]>(`${E}/keystores`)) ?? [])].sort(), ['ks-mtls-client-v2', 'ts-mtls-ca']);
  assert.equal((await get<{ refers: string }>(`${E}/references/ks-mtls-client-ref`))?.refers, 'ks-mtls-client-v2');
  // The new files replaced the tutorial's, with the key still private; nothing left in next/.
  assert.not.ok(existsSync(certs('next')));
  assert.is(statSync(certs('apigee-client-key.pem')).mode & 0o777, 0o600);
  const p12 = await execa('openssl', ['pkcs12', '-in', certs('client-apigee-keystore.p12'), '-nokeys', '-passin', `pass:${FIXTURE_PASSWORD}`]);
  assert.is(new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(p12.stdout)![0]).serialNumber, newClient);
  // The calls made meanwhile.
  const report = /✓ gateway calls while rotating: (\d+) made, (\d+) failed/.exec(out);
  assert.ok(report, out);
  assert.ok(Number(report![1]) > 20, `too few calls: ${report![1]}`);
  assert.is(report![2], '0');
  const row = readScenarios(lab.runDir).find((r) => r.scenario === 'rotation: gateway calls while rotating');
  assert.equal([row?.expected, row?.ok], ['0 failed', true]);
  assert.not.ok(out.includes(FIXTURE_PASSWORD), 'store password printed');
  // The Apigee steps agree with the result: nothing to change.
  const steps = await runSteps(['42-keystore', '44-references', '47-call-gateway'], lab.env);
  assert.is(steps.exitCode, 0, steps.output);
  assert.match(steps.output, /= using existing alias client in ks-mtls-client-v2 \(same certificate\)/);
  assert.match(steps.output, /= using existing reference ks-mtls-client-ref → ks-mtls-client-v2/);
});

test('an interrupted rotation: the certificate it left in next/ is used, not a second one', async () => {
  // What a rotation stopped after issuing would leave: a client certificate from the CA, in next/.
  const next = certs('next');
  mkdirSync(next, { mode: 0o700 });
  copyFileSync(join(lab.fixture.bad, 'second-client-cert.pem'), join(next, 'apigee-client-cert.pem'));
  copyFileSync(join(lab.fixture.bad, 'second-client-key.pem'), join(next, 'apigee-client-key.pem'));
  writeFileSync(join(next, 'client.csr'), '');
  await execa('openssl', ['pkcs12', '-export', '-in', 'apigee-client-cert.pem', '-inkey', 'apigee-client-key.pem', '-name', 'client', '-out', 'client-apigee-keystore.p12', '-passout', `pass:${FIXTURE_PASSWORD}`], { cwd: next });
  const left = serial(join(next, 'apigee-client-cert.pem'));
  const run = await runSteps(['49-rotate-certs'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('= using existing next/apigee-client-cert.pem (issued by an interrupted rotation)'), run.output);
  assert.not.match(run.output, /openssl x509 -req -in next\/client\.csr/);
  assert.is(serial(certs('apigee-client-cert.pem')), left);
  assert.ok(run.output.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v3 (was ks-mtls-client-v2)'), run.output);
  assert.ok(run.output.includes('✓ deleted keystore ks-mtls-client-v2'), run.output);
  assert.match(run.output, /✓ gateway calls while rotating: \d+ made, 0 failed/);
});

test('Ctrl-C while the new client files move into certs/: the key still matches the certificate, one line, and a re-run finishes', async () => {
  // A `mv` that moves its first file and then hangs, so the Ctrl-C lands in the middle of a move
  // done with mv (the step must not depend on how fast a command finishes).
  const bin = mkdtempSync(join(tmpdir(), 'rotation-mv-'));
  writeFileSync(join(bin, 'mv'), '#!/bin/sh\n/bin/mv "$1" .\nexec sleep 30\n');
  chmodSync(join(bin, 'mv'), 0o755);
  const step = execa(process.execPath, ['--import', 'tsx', join('scripts', '49-rotate-certs.ts')],
    { cwd: repoRoot, env: { ...lab.env, PATH: `${bin}:${lab.env.PATH}` }, extendEnv: false, reject: false, all: true, detached: true });
  let output = '';
  await new Promise<void>((resolve) => step.all!.on('data', (d: Buffer) => {
    output += d;
    if (/\$ mv next\//.test(output)) resolve();
  }));
  // The move has begun once the new key left next/; then Ctrl-C reaches the whole process group.
  while (existsSync(certs('next/apigee-client-key.pem'))) await sleep(10);
  process.kill(-step.pid!, 'SIGINT');
  const run = await step;
  assert.is.not(run.exitCode, 0, String(run.all));
  const errors = String(run.all).split('\n').filter((l) => l.includes('✗'));
  assert.equal(errors.length, 1, String(run.all));
  assert.match(errors[0]!, /SIGINT: rotation interrupted/);
  const publicKey = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'pem' });
  assert.is(publicKey(readFileSync(certs('apigee-client-key.pem'), 'utf8')), publicKey(readFileSync(certs('apigee-client-cert.pem'), 'utf8')), 'new key beside the old certificate');
  assert.is(statSync(certs('apigee-client-key.pem')).mode & 0o777, 0o600);
  const again = await runSteps(['49-rotate-certs'], lab.env);
  assert.is(again.exitCode, 0, again.output);
  assert.match(again.output, /✓ gateway calls while rotating: \d+ made, 0 failed/);
  assert.not.ok(existsSync(certs('next')));
});

test('rotation refuses to start on a gateway that does not work', async () => {
  const client = apigeeClient(config, { quiet: true });
  const path = `${E}/targetservers/${config.apigee.targetServer}`;
  const good = (await client.lookup<Record<string, unknown>>(path))!;
  await client.call({ method: 'PUT', path, json: { ...good, port: 1 } });
  await gatewayUntil(lab, (a) => a.status === 503);
  const run = await runSteps(['49-rotate-certs'], { ...lab.env, APIGEE_PROPAGATION_TIMEOUT: '2' });
  assert.is(run.exitCode, 1, run.output);
  assert.match(run.output, /✗ the proxy answers 503 ServiceUnavailable, not 200: rotate a working setup/);
  assert.not.match(run.output, /FORCE=1|openssl/);
  await client.call({ method: 'PUT', path, json: good });
});

test('rotation with the backend stopped names the backend and how to start it, not "make all"', async () => {
  // The target server and BACKEND_PORT both name a port nothing listens on: a stopped backend.
  const client = apigeeClient(config, { quiet: true });
  const path = `${E}/targetservers/${config.apigee.targetServer}`;
  const good = (await client.lookup<Record<string, unknown>>(path))!;
  const port = await freePort();
  await client.call({ method: 'PUT', path, json: { ...good, port } });
  try {
    await gatewayUntil(lab, (a) => a.status === 503);
    const run = await runSteps(['49-rotate-certs'], { ...lab.env, BACKEND_PORT: String(port), APIGEE_PROPAGATION_TIMEOUT: '5' });
    assert.is(run.exitCode, 1, run.output);
    assert.match(run.output, new RegExp(`✗ the proxy answers 503 ServiceUnavailable: nothing listens on the backend's 127\\.0\\.0\\.1:${port}; start it with ${GIVEN}\\./scripts/20-backend\\.ts --detach \\(${GIVEN}make rotate starts it for you\\)$`, 'm'));
    // The backend it starts listens on the port the target server names.
    assert.match(run.output, new RegExp(`start it with (?:\\S+ )*BACKEND_PORT=${port} (?:\\S+ )*\\./scripts/20-backend\\.ts`));
    assert.not.match(run.output, /calling again until/, 'said at the first 503, not after the propagation wait');
    assert.not.match(run.output, /FORCE=1|openssl/);
  } finally {
    await client.call({ method: 'PUT', path, json: good });
  }
});

test('rotation right after the proxy was undeployed (make clean) says so at once, without waiting for the runtime', async () => {
  const client = apigeeClient(config, { quiet: true });
  const { deployments } = (await client.lookup<{ deployments: Array<{ apiProxy: string; revision: string }> }>(`${E}/deployments`))!;
  const { revision } = deployments.find((d) => d.apiProxy === config.apigee.proxyName)!;
  const path = `${E}/apis/${config.apigee.proxyName}/revisions/${revision}/deployments`;
  await client.call({ method: 'DELETE', path });
  try {
    const run = await runSteps(['49-rotate-certs'], { ...lab.env, APIGEE_PROPAGATION_TIMEOUT: '600' });
    assert.is(run.exitCode, 1, run.output);
    assert.match(run.output, withGivenIn(`✗ ${config.apigee.proxyName} is not deployed in eval; run {given}./scripts/46-deploy.ts first`), run.output);
    assert.not.match(run.output, /FORCE=1|openssl/);
    assert.not.match(run.output, /calling again until/, 'no wait for the runtime');
  } finally {
    await client.call({ method: 'POST', path });
  }
});

test.run();
