// The Apigee steps 41-49 against the real stand-in and the real backend (both in this process on
// ephemeral ports): first run creates everything and the gateway answers 200, a rerun changes
// nothing, drift is repaired, a changed certificate replaces its alias, the failure scenarios
// answer 503 and restore the good configuration, and the clean-up removes it all.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadConfig, type Config } from '../core/config.ts';
import { ApigeeApiError } from '../scripts/lib/apigee/errors.ts';
import { deleteIfPresent, desiredTargetServer, ensureAlias, ensureKeystore, ensureTargetServer, fingerprint } from '../scripts/lib/apigee/resources.ts';
import { apigeeClient, resolveGateway } from '../scripts/lib/apigee/target.ts';
import { callGateway } from '../scripts/lib/apigee/gateway.ts';
import { readScenarios } from '../scripts/lib/scenarios.ts';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { APIGEE_STEPS, runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { tempDir } from './helpers/temp.ts';

let lab: Lab;
let config: Config;

const quietClient = () => apigeeClient(config, { quiet: true });
const get = async <T>(path: string) => quietClient().lookup<T>(path);

test.before(async () => {
  lab = await startLab();
  config = loadConfig({ env: lab.env, argv: [] });
});
test.after(async () => {
  await lab.close();
});

test('first run: every step succeeds and the gateway answers 200 with the greeting', async () => {
  const run = await runSteps(APIGEE_STEPS, lab.env);
  assert.is(run.exitCode, 0, run.output);
  for (const line of [
    '✓ proxy api-mtls-test revision 1 (first import)',
    '✓ keystore ks-mtls-client',
    '✓ alias client in ks-mtls-client',
    '✓ truststore ts-mtls-ca',
    '✓ alias ca-server in ts-mtls-ca',
    '✓ reference ks-mtls-client-ref → ks-mtls-client',
    '✓ target server ts-backend-mtls',
    '✓ api-mtls-test revision 1 deployed to eval',
    '✓ HTTP 200: {"message":"Hello, secure world with mTLS!"}',
  ]) assert.ok(run.output.includes(line), `missing "${line}"`);
  // Teaching output: the curl and apigeecli forms, never the store password.
  assert.match(run.output, /\$ curl -sS -X POST 'http:\/\/127\.0\.0\.1:\d+\/v1\/organizations\/demo-org\/environments\/eval\/keystores\/ks-mtls-client\/aliases\?alias=client&format=pkcs12'/);
  assert.match(run.output, /\$ apigeecli targetservers create -n ts-backend-mtls -s 127\.0\.0\.1/);
  assert.match(run.output, /npx apigeelint -s .* --profile apigeex --maxWarnings 0/);
  assert.not.ok(run.output.includes('changeit'), 'store password printed');
  const ts = await get<{ sSLInfo: Record<string, unknown> }>(`/organizations/demo-org/environments/eval/targetservers/ts-backend-mtls`);
  // Like Apigee, the stand-in may omit false booleans.
  assert.equal({ ignoreValidationErrors: false, ...ts?.sSLInfo }, {
    enabled: true, clientAuthEnabled: true, keyStore: 'ref://ks-mtls-client-ref', keyAlias: 'client',
    trustStore: 'ref://ts-mtls-ca-ref', ignoreValidationErrors: false, enforce: true,
  });
  const recorded = readScenarios(lab.runDir);
  assert.equal(recorded.map((r) => [r.scenario, r.ok]), [['gateway: proxy → mTLS backend', true]]);
});

test('rerun converges: nothing is created, no new revision', async () => {
  const run = await runSteps(APIGEE_STEPS, lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.not.match(run.output.replace('✓ HTTP 200', ''), /✓ /);
  assert.ok(run.output.includes('= using existing proxy api-mtls-test revision 1 (same bundle content; no new revision)'));
  assert.not.ok(run.output.includes('apigeelint'), 'lint runs only before an import');
  assert.ok(run.output.includes('= using existing deployment of api-mtls-test revision 1 in eval (READY)'));
  const revisions = await get<string[]>('/organizations/demo-org/apis/api-mtls-test/revisions');
  assert.equal(revisions, ['1']);
  const stores = await get<string[]>('/organizations/demo-org/environments/eval/keystores');
  assert.equal([...(stores ?? [])].sort(), ['ks-mtls-client', 'ts-mtls-ca']);
});

test('target server drift is put back by 45-target-server', async () => {
  const client = quietClient();
  const path = `${client.envPath}/targetservers/ts-backend-mtls`;
  const current = (await client.lookup<Record<string, unknown>>(path))!;
  await client.call({ method: 'PUT', path, json: { ...current, port: 1, sSLInfo: { enabled: true } } });
  const run = await runSteps(['45-target-server'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /change port: 1 → \d+/);
  assert.match(run.output, /change sSLInfo\.clientAuthEnabled: false → true/);
  assert.ok(run.output.includes('✓ target server ts-backend-mtls (updated: 6 fields)'), run.output);
  const fixed = await client.lookup<{ port: number }>(path);
  assert.is(fixed?.port, lab.backend.port);
});

test('a changed bundle becomes a new revision, deployed over the old one; back again makes a third', async () => {
  // Apigee refuses to deploy a bundle whose target server does not exist, so make the other one first.
  await ensureTargetServer(quietClient(), { ...desiredTargetServer(config), name: 'ts-elsewhere' });
  const other = await runSteps(['41-proxy-bundle', '46-deploy'], { ...lab.env, APIGEE_TARGET_SERVER: 'ts-elsewhere' });
  assert.is(other.exitCode, 0, other.output);
  assert.ok(other.output.includes('✓ proxy api-mtls-test revision 2 (bundle changed since revision 1)'), other.output);
  assert.match(other.output, /npx apigeelint -s /);
  assert.ok(other.output.includes('revision 1 is deployed now; override=true replaces it'), other.output);
  assert.ok(other.output.includes('✓ api-mtls-test revision 2 deployed to eval'), other.output);
  const back = await runSteps(['41-proxy-bundle', '46-deploy', '47-call-gateway'], lab.env);
  assert.is(back.exitCode, 0, back.output);
  assert.ok(back.output.includes('✓ proxy api-mtls-test revision 3 (bundle changed since revision 2)'), back.output);
  assert.ok(back.output.includes('✓ HTTP 200'), back.output);
  assert.equal(await get<string[]>('/organizations/demo-org/apis/api-mtls-test/revisions'), ['1', '2', '3']);
  await quietClient().call({ method: 'DELETE', path: '/organizations/demo-org/environments/eval/targetservers/ts-elsewhere' });
});

test('an alias is replaced only when its certificate changed', async () => {
  const client = quietClient();
  const ca = join(lab.fixture.pki, 'ca-cert.pem');
  const other = join(lab.fixture.bad, 'other-ca-cert.pem');
  await ensureKeystore(client, 'scratch-store', 'truststore');
  const certOnly = (file: string) => ({ keystore: 'scratch-store', alias: 'a', certFile: file, upload: { format: 'keycertfile' as const, certFile: file } });
  assert.is(await ensureAlias(client, certOnly(ca)), 'created');
  assert.is(await ensureAlias(client, certOnly(ca)), 'unchanged');
  assert.is(await ensureAlias(client, certOnly(other)), 'updated');
  const held = await client.call({ method: 'GET', path: `${client.envPath}/keystores/scratch-store/aliases/a/certificate` });
  assert.is(fingerprint(held!.text()), fingerprint(readFileSync(other, 'utf8')));
  // A key + certificate alias cannot be updated in place: delete and upload again.
  const keyPair = (name: string) => ({
    keystore: 'scratch-store', alias: 'k', certFile: join(lab.fixture.bad, `${name}-cert.pem`),
    upload: { format: 'keycertfile' as const, certFile: join(lab.fixture.bad, `${name}-cert.pem`), keyFile: join(lab.fixture.bad, `${name}-key.pem`) },
  });
  assert.is(await ensureAlias(client, keyPair('second-client')), 'created');
  assert.is(await ensureAlias(client, keyPair('other-client')), 'updated');
  assert.is(await ensureAlias(client, keyPair('other-client')), 'unchanged');
  await client.call({ method: 'DELETE', path: `${client.envPath}/keystores/scratch-store` });
});

test('Google error envelope: a duplicate create is one line with status and hint', async () => {
  const client = quietClient();
  try {
    await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: 'ks-mtls-client' } });
    assert.unreachable('duplicate keystore accepted');
  } catch (error) {
    assert.instance(error, ApigeeApiError);
    const e = error as ApigeeApiError;
    assert.is(e.httpStatus, 409);
    assert.is(e.status, 'ALREADY_EXISTS');
    assert.match(e.message, /^POST \/keystores → 409 ALREADY_EXISTS: .*\(hint: it already exists/);
    assert.not.match(e.message, /\n/);
  }
});

test('a missing token is refused with the gcloud hint', async () => {
  const client = apigeeClient(config, { quiet: true, token: async () => undefined });
  try {
    await client.call({ method: 'GET', path: `${client.envPath}/keystores` });
    assert.unreachable('request without a token accepted');
  } catch (error) {
    assert.instance(error, ApigeeApiError);
    assert.is((error as ApigeeApiError).httpStatus, 401);
    assert.match((error as Error).message, /hint: token expired or missing: run gcloud auth login/);
  }
});

test('48-gateway-failures: four 503s, the backend logs the refusal, the good target server comes back', async () => {
  const run = await runSteps(['48-gateway-failures'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('✓ 503 ServiceUnavailable'), run.output);
  assert.ok(run.output.includes('backend log: connection-refused'), 'backend refusal not reported');
  assert.match(run.output, /✓ 503 SslHandshakeFailed — SSL Handshake failed .*(self.signed|issuer|unable to (get|verify))/i);
  assert.match(run.output, /✓ 503 SslHandshakeFailed — .*(altname|does not match|not in the cert)/i);
  assert.ok(run.output.includes('✓ 4 failure scenarios answered as expected'), run.output);
  const recorded = readScenarios(lab.runDir).filter((r) => r.scenario.startsWith('gateway: ') && r.expected.startsWith('503'));
  assert.equal(recorded.map((r) => [r.scenario, r.ok]), [
    ['gateway: target server without client auth', true],
    ['gateway: truststore without the CA', true],
    ['gateway: host not in the server certificate', true],
    ['gateway: backend down', true],
  ]);
  const answer = await callGateway(await resolveGateway(config, quietClient()), '/api-mtls-test');
  assert.is(answer.status, 200, 'good configuration not restored');
});

test('90-summary prints the table and fails when a scenario did not match', async () => {
  const { recordScenario } = await import('../scripts/lib/scenarios.ts');
  recordScenario(lab.runDir, { scenario: 'made-up', expected: '200', got: '503', ok: false });
  const run = await runSteps(['90-summary'], lab.env);
  assert.is(run.exitCode, 1, run.output);
  assert.match(run.output, /PASS {2}gateway: proxy → mTLS backend +200 Hello, secure world with mTLS!/);
  assert.match(run.output, /FAIL {2}made-up/);
  assert.match(run.output, /1 of \d+ scenarios did not match/);
});

test('backend actually stopped: the gateway answers 503 ServiceUnavailable', async () => {
  await lab.backend.close();
  const answer = await callGateway(await resolveGateway(config, quietClient()), '/api-mtls-test');
  assert.is(answer.status, 503);
  assert.is(answer.errorcode, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('49-cleanup --remove-certs removes the deployment, proxy, target server, references, stores and the certificates', async () => {
  const certs = tempDir('cleanup-certs-');
  cpSync(lab.fixture.pki, certs, { recursive: true });
  const run = await runSteps(['49-cleanup'], { ...lab.env, CERTS_DIR: certs }, ['--remove-certs']);
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('✓ deleted deployment of api-mtls-test revision 3'), run.output);
  assert.is(await get(`/organizations/demo-org/apis/api-mtls-test`), undefined);
  assert.is(await get(`/organizations/demo-org/environments/eval/targetservers/ts-backend-mtls`), undefined);
  assert.is(await get(`/organizations/demo-org/environments/eval/references/ks-mtls-client-ref`), undefined);
  assert.equal(await get<string[]>(`/organizations/demo-org/environments/eval/keystores`), []);
  assert.not.ok(existsSync(certs), 'certificates not removed');
  assert.ok(existsSync(join(lab.fixture.pki, 'ca-cert.pem')), 'removed the wrong folder');
  // A second clean-up finds nothing and still succeeds.
  const client = quietClient();
  assert.is(await deleteIfPresent(client, `${client.orgPath}/apis/api-mtls-test`, 'proxy', []), 'absent');
});

test.run();
