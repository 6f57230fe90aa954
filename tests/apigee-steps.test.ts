// The Apigee steps 41-49 against the real stand-in and the real backend (both in this process on
// ephemeral ports), with the stand-in's propagation delay on, as Apigee X has one: the first run
// creates everything and the gateway answers 200, a rerun changes nothing, drift is repaired, a
// changed certificate goes into a new keystore version behind the reference, a step that does not
// wait for the runtime sees the previous configuration, the failure scenarios answer 503 and put
// the good configuration back, and the clean-up removes it all.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { cpSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../core/config.ts';
import { ApigeeApiError } from '../scripts/lib/apigee/errors.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { readScenarios } from '../scripts/lib/scenarios.ts';
import { APIGEE_STEPS, callGatewayIn, gatewayUntil, runSteps, startLab, tutorialTargetServer, type Lab } from './helpers/apigee-steps.ts';
import { tempDir } from './helpers/temp.ts';
import { GIVEN } from './helpers/printed.ts';

// Longer than a curl takes to start under load, shorter than a step takes to start (see apigee-propagation.test.ts).
const PROPAGATION_MS = 1500;
let lab: Lab;
let config: Config;

const quietClient = () => apigeeClient(config, { quiet: true });
const get = async <T>(path: string) => quietClient().lookup<T>(path);
const E = '/organizations/demo-org/environments/eval';
const greeting = (a: { status: number; body: string }) => a.status === 200 && a.body.includes('Hello, secure world with mTLS!');

test.before(async () => {
  lab = await startLab({ propagationMs: PROPAGATION_MS });
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
    '✓ keystore ks-mtls-client with alias client',
    '✓ truststore ts-mtls-ca with alias ca-server',
    '✓ reference ks-mtls-client-ref → ks-mtls-client',
    '✓ target server ts-backend-mtls',
    '✓ api-mtls-test revision 1 deployed to eval',
    '✓ HTTP 200: {"message":"Hello, secure world with mTLS!"}',
  ]) assert.ok(run.output.includes(line), `missing "${line}"`);
  // Teaching output: $TOKEN is set by a printed line before the first curl that uses it.
  const tokenAt = run.output.indexOf('$ TOKEN=local-demo-token');
  assert.ok(tokenAt >= 0 && tokenAt < run.output.indexOf('"Authorization: Bearer $TOKEN"'), 'TOKEN used before it is set');
  assert.match(run.output, /\$ curl -sS -X POST 'http:\/\/127\.0\.0\.1:\d+\/v1\/organizations\/demo-org\/environments\/eval\/keystores\/ks-mtls-client\/aliases\?alias=client&format=pkcs12' -H "Authorization: Bearer \$TOKEN" -F file=@\S+client-apigee-keystore\.p12 --form-string "password=\$STORE_PASSWORD"/);
  assert.match(run.output, /# STORE_PASSWORD is read from the environment\. To paste these commands, first run this line alone[^\n]*\n {3}# {3}read -rs STORE_PASSWORD && export STORE_PASSWORD/);
  assert.match(run.output, /upload format pkcs12 \(PKCS12\/PFX\), as in the tutorial/);
  // apigeecli cannot reach the stand-in: shown for Apigee X, not as a command to paste here.
  assert.match(run.output, /# the same on Apigee X: apigeecli targetservers create -n ts-backend-mtls -s 127\.0\.0\.1/);
  assert.not.match(run.output, /\$ apigeecli/);
  assert.match(run.output, /\$ npx apigeelint -s \S+ --profile apigeex --maxWarnings 0 -f table\.js --norc/);
  // The deployment's READY poll: its GET is printed once, before the dots, so a pasting reader can repeat it.
  assert.match(run.output, /\n {3}\$ curl -sS http:\/\/127\.0\.0\.1:\d+\/v1\/organizations\/demo-org\/environments\/eval\/apis\/api-mtls-test\/revisions\/1\/deployments -H "Authorization: Bearer \$TOKEN"\n {3}# the same on Apigee X: apigeecli apis listdeploy -n api-mtls-test [^\n]*\n {3}waiting for READY \.* READY after /);
  // The gateway call is the real curl, printed as it ran.
  assert.match(run.output, /\$ curl -sS -v --max-time 60 --cacert \S+ca-cert\.pem https:\/\/localhost:\d+\/api-mtls-test/);
  assert.not.ok(run.output.includes('changeit'), 'store password printed');
  const ts = await get<{ sSLInfo: Record<string, unknown> }>(`${E}/targetservers/ts-backend-mtls`);
  // Like Apigee, the stand-in may omit false booleans.
  assert.equal({ ignoreValidationErrors: false, ...ts?.sSLInfo }, {
    enabled: true, clientAuthEnabled: true, keyStore: 'ref://ks-mtls-client-ref', keyAlias: 'client',
    trustStore: 'ref://ts-mtls-ca-ref', ignoreValidationErrors: false, enforce: true,
  });
  assert.equal(readScenarios(lab.runDir).map((r) => [r.scenario, r.ok]), [['gateway: proxy → mTLS backend', true]]);
});

test('rerun converges: nothing is created, no new revision, still one summary row', async () => {
  const run = await runSteps(APIGEE_STEPS, lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.not.match(run.output.replace('✓ HTTP 200', ''), /✓ /);
  assert.not.match(run.output, /→ (POST|PUT|DELETE)/);
  assert.ok(run.output.includes('= using existing proxy api-mtls-test revision 1 (same bundle content; no new revision)'));
  assert.not.ok(run.output.includes('apigeelint'), 'lint runs only before an import');
  assert.ok(run.output.includes('= using existing deployment of api-mtls-test revision 1 in eval (READY)'));
  assert.equal(await get<string[]>('/organizations/demo-org/apis/api-mtls-test/revisions'), ['1']);
  assert.equal([...((await get<string[]>(`${E}/keystores`)) ?? [])].sort(), ['ks-mtls-client', 'ts-mtls-ca']);
  assert.equal(readScenarios(lab.runDir).map((r) => r.scenario), ['gateway: proxy → mTLS backend']);
});

test('42, 43 and 47 without the certificates stop with one line before any call; no empty keystore is left', async () => {
  const before = await get<string[]>(`${E}/keystores`);
  const env = { ...lab.env, CERTS_DIR: tempDir('no-certs-') };
  const cases: Array<[string, RegExp]> = [
    ['42-keystore', new RegExp(String.raw`^✗ \S+apigee-client-cert\.pem, \S+apigee-client-key\.pem, \S+client-apigee-keystore\.p12 are missing; fix: ${GIVEN}make certs \(nothing was sent\)$`)],
    ['43-truststore', new RegExp(String.raw`^✗ \S+ca-cert\.pem is missing; fix: ${GIVEN}make certs \(nothing was sent\)$`)],
    // curl 77 (the CA file cannot be read) is no propagation delay: no waiting, no repeat.
    ['47-call-gateway', new RegExp(String.raw`^✗ curl 77: cannot read the CA file \S+ca-cert\.pem; fix: ${GIVEN}make certs$`)],
  ];
  for (const [step, lastLine] of cases) {
    const run = await runSteps([step], env);
    assert.is.not(run.exitCode, 0, run.output);
    assert.match(run.output.trim().split('\n').at(-1)!, lastLine, run.output);
    // The fix makes the certificates where the step looked for them.
    assert.ok(run.output.trim().split('\n').at(-1)!.split('fix: ')[1]!.includes(`CERTS_DIR=${env.CERTS_DIR} `), run.output);
    assert.not.match(run.output, /→ (POST|PUT|DELETE)|calling again/, `${step} sent a change or waited:\n${run.output}`);
  }
  assert.equal(await get<string[]>(`${E}/keystores`), before);
});

test('target server drift is put back by 45, and 47 answers once the runtime serves it', async () => {
  const client = quietClient();
  const path = `${client.envPath}/targetservers/ts-backend-mtls`;
  const current = (await client.lookup<Record<string, unknown>>(path))!;
  await client.call({ method: 'PUT', path, json: { ...current, port: 1, sSLInfo: { enabled: true } } });
  await gatewayUntil(lab, (a) => a.status === 503); // the runtime serves the drift
  const run = await runSteps(['45-target-server', '47-call-gateway'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /change port: 1 → \d+/);
  assert.match(run.output, /change sSLInfo\.clientAuthEnabled: false → true/);
  assert.ok(run.output.includes('✓ target server ts-backend-mtls (updated: 6 fields)'), run.output);
  assert.ok(run.output.includes('✓ HTTP 200'), run.output);
});

test('a changed bundle becomes a new revision, deployed over the old one; back again makes a third', async () => {
  // Apigee refuses to deploy a bundle whose target server does not exist, so make the other one first.
  await quietClient().call({ method: 'POST', path: `${E}/targetservers`, json: { ...tutorialTargetServer(config), name: 'ts-elsewhere' } });
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
  await quietClient().call({ method: 'DELETE', path: `${E}/targetservers/ts-elsewhere` });
});

/** Another client certificate from the same CA (EC, from the fixtures), uploaded as PEM key + certificate. */
function secondClientCerts(): { certs: string; env: Record<string, string> } {
  const certs = tempDir('second-client-');
  cpSync(lab.fixture.pki, certs, { recursive: true });
  copyFileSync(join(lab.fixture.bad, 'second-client-cert.pem'), join(certs, 'apigee-client-cert.pem'));
  copyFileSync(join(lab.fixture.bad, 'second-client-key.pem'), join(certs, 'apigee-client-key.pem'));
  return { certs, env: { ...lab.env, CERTS_DIR: certs, APIGEE_ALIAS_FORMAT: 'keycertfile' } };
}

test('a changed client certificate goes into a new keystore version and the reference follows; never DELETE + POST on the one in use', async () => {
  const { certs, env } = secondClientCerts();
  const run = await runSteps(['42-keystore'], env);
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('alias client in ks-mtls-client holds another certificate: the new one goes into a new keystore, ks-mtls-client-v2'), run.output);
  assert.ok(run.output.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v2 (was ks-mtls-client)'), run.output);
  assert.match(run.output, /upload format keycertfile \(APIGEE_ALIAS_FORMAT\)/);
  assert.not.match(run.output, /→ DELETE/);
  assert.equal([...((await get<string[]>(`${E}/keystores`)) ?? [])].sort(), ['ks-mtls-client', 'ks-mtls-client-v2', 'ts-mtls-ca']);
  // After the propagation delay the backend sees the second certificate through the proxy.
  const serial = new X509Certificate(readFileSync(join(certs, 'apigee-client-cert.pem'))).serialNumber;
  await gatewayUntil(lab, (a) => a.status === 200 && JSON.parse(a.body).serialNumber === serial, '/api-mtls-test/whoami');
  // A rerun keeps it; the original certificate again is a third version (files are the truth).
  const again = await runSteps(['42-keystore', '44-references'], env);
  assert.match(again.output, /= using existing alias client in ks-mtls-client-v2 \(same certificate\)/);
  assert.match(again.output, /= using existing reference ks-mtls-client-ref → ks-mtls-client-v2/);
  const back = await runSteps(['42-keystore', '47-call-gateway'], lab.env);
  assert.is(back.exitCode, 0, back.output);
  assert.ok(back.output.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v3 (was ks-mtls-client-v2)'), back.output);
  assert.ok(back.output.includes('keystore ks-mtls-client-v2 stays until the gateway serves the new certificate'), back.output);
});

test('a rerun finishes the keystore version a stopped run left (empty, or not yet pointed at) instead of making another', async () => {
  // From the test above: the reference points at ks-mtls-client-v3, which holds the original certificate.
  const second = secondClientCerts().env;
  const client = quietClient();
  // Ctrl-C right after "POST …/keystores": the next version exists without its alias.
  await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: 'ks-mtls-client-v4' } });
  const resumed = await runSteps(['42-keystore'], second);
  assert.is(resumed.exitCode, 0, resumed.output);
  assert.ok(resumed.output.includes('keystore ks-mtls-client-v4 has no alias client'), resumed.output);
  assert.not.match(resumed.output, /→ POST \S+\/keystores\n/);
  assert.ok(resumed.output.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v4 (was ks-mtls-client-v3)'), resumed.output);
  assert.equal(await get<string[]>(`${E}/keystores/ks-mtls-client-v4/aliases`), ['client']);
  // Ctrl-C after the alias POST, before the reference PUT: the next version holds the certificate.
  await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: 'ks-mtls-client-v5' } });
  await client.call({
    method: 'POST', path: `${client.envPath}/keystores/ks-mtls-client-v5/aliases`, query: { alias: 'client', format: 'keycertfile' },
    form: [{ name: 'certFile', file: join(lab.fixture.pki, 'apigee-client-cert.pem') }, { name: 'keyFile', file: join(lab.fixture.pki, 'apigee-client-key.pem') }],
  });
  const pointed = await runSteps(['42-keystore'], lab.env);
  assert.is(pointed.exitCode, 0, pointed.output);
  assert.not.match(pointed.output, /→ POST/);
  assert.ok(pointed.output.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v5 (was ks-mtls-client-v4)'), pointed.output);
  const stores = (await get<string[]>(`${E}/keystores`)) ?? [];
  assert.not.ok(stores.includes('ks-mtls-client-v6'), `a further version was made: ${stores.join(', ')}`);
  await gatewayUntil(lab, greeting);
});

test('Google error envelope: a duplicate create is one line with status and hint', async () => {
  const client = quietClient();
  try {
    await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: 'ts-mtls-ca' } });
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

test('a missing token is refused with the hint of the target (the stand-in: its APIGEE_LOCAL_TOKEN)', async () => {
  const client = apigeeClient(config, { quiet: true, token: async () => undefined });
  try {
    await client.call({ method: 'GET', path: `${client.envPath}/keystores` });
    assert.unreachable('request without a token accepted');
  } catch (error) {
    assert.instance(error, ApigeeApiError);
    assert.is((error as ApigeeApiError).httpStatus, 401);
    assert.match((error as Error).message, /hint: the stand-in was started with APIGEE_LOCAL_TOKEN: give the steps the same APIGEE_LOCAL_TOKEN/);
    assert.not.match((error as Error).message, /gcloud/);
  }
});

test('48-gateway-failures without the wait fails: the first call after a change sees the previous configuration', async () => {
  const run = await runSteps(['48-gateway-failures'], { ...lab.env, APIGEE_PROPAGATION_TIMEOUT: '0' });
  assert.is(run.exitCode, 1, run.output);
  assert.match(run.output, /not waiting \(APIGEE_PROPAGATION_TIMEOUT=0\)/);
  await gatewayUntil(lab, greeting); // the step put the good target server back before failing
});

test('48-gateway-failures: four 503s, each seen after the runtime caught up, the good target server back after each', async () => {
  const run = await runSteps(['48-gateway-failures'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('✓ 503 ServiceUnavailable'), run.output);
  assert.ok(run.output.includes('backend log: connection-refused'), 'backend refusal not reported');
  assert.match(run.output, /✓ 503 SslHandshakeFailed — SSL Handshake failed .*(self.signed|issuer|unable to (get|verify))/i);
  assert.match(run.output, /✓ 503 SslHandshakeFailed — SSL Handshake failed java\.security\.cert\.CertificateException: No subject alternative .*matching .* found/);
  assert.ok(run.output.includes('✓ 4 failure scenarios answered as expected'), run.output);
  // Every change (4 breaks, 4 restores) reached the runtime only after the delay: 8 waits.
  const waits = run.output.match(/✓ the runtime serves the change: /g) ?? [];
  assert.ok(waits.length >= 8, `expected 8 waits, saw ${waits.length}`);
  const recorded = readScenarios(lab.runDir).filter((r) => r.scenario.startsWith('gateway: ') && r.expected.startsWith('503'));
  assert.equal(recorded.map((r) => [r.scenario, r.ok]), [
    ['gateway: target server without client auth', true],
    ['gateway: truststore without the CA', true],
    ['gateway: host not in the server certificate', true],
    ['gateway: backend down', true],
  ]);
  assert.ok(greeting(await callGatewayIn(lab)), 'good configuration not restored');
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
  const answer = await callGatewayIn(lab);
  assert.is(answer.status, 503);
  assert.is(answer.errorcode, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('99-cleanup --remove-certs removes the deployment, proxy, target server, references, every store version and the certificates', async () => {
  const certs = tempDir('cleanup-certs-');
  cpSync(lab.fixture.pki, certs, { recursive: true });
  const run = await runSteps(['99-cleanup'], { ...lab.env, CERTS_DIR: certs }, ['--remove-certs']);
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('✓ deleted deployment of api-mtls-test revision 3'), run.output);
  for (const ks of ['ks-mtls-client', 'ks-mtls-client-v2', 'ks-mtls-client-v3', 'ts-mtls-ca', 'ts-mtls-ca-no-ca']) assert.ok(run.output.includes(`✓ deleted keystore ${ks}`), ks);
  assert.is(await get('/organizations/demo-org/apis/api-mtls-test'), undefined);
  assert.is(await get(`${E}/targetservers/ts-backend-mtls`), undefined);
  assert.is(await get(`${E}/references/ks-mtls-client-ref`), undefined);
  assert.equal(await get<string[]>(`${E}/keystores`), []);
  assert.match(run.output, /\$ rm -r \S+/);
  assert.not.ok(existsSync(certs), 'certificates not removed');
  assert.ok(existsSync(join(lab.fixture.pki, 'ca-cert.pem')), 'removed the wrong folder');
  // The scenarios recorded above described what is now gone: the summary no longer reports them.
  assert.match(run.output, /recorded scenarios cleared/);
  const summary = await runSteps(['90-summary'], lab.env);
  assert.is(summary.exitCode, 1, summary.output);
  assert.match(summary.output, /no scenarios recorded yet/);
  // A second clean-up finds nothing and still succeeds.
  const again = await runSteps(['99-cleanup'], lab.env);
  assert.is(again.exitCode, 0, again.output);
  assert.match(again.output, /proxy api-mtls-test: already absent/);
});

test.run();
