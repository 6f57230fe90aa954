// The Apigee steps after a deploy that failed and after renamed resources, against the real
// stand-in and backend: steps 47, 48 and 49 must not judge a deployment that is not the configured
// one (one line and the step to run, nothing recorded, no target server touched, no gateway call,
// nothing rotated), step 46 names the proxy
// that holds the base path with a curl that frees it, and the clean-up with new names says what
// it leaves under the old ones without deleting it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { loadConfig, type Config } from '../core/config.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { readScenarios, recordScenario } from '../scripts/lib/scenarios.ts';
import { configureApigee, runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { freePort } from './helpers/ports.ts';
import { withGiven } from './helpers/printed.ts';

let lab: Lab;
let config: Config;
const E = '/organizations/demo-org/environments/eval';
const get = async <T>(path: string) => apigeeClient(config, { quiet: true }).lookup<T>(path);
const errorLines = (output: string) => output.split('\n').filter((l) => l.startsWith('✗'));
const STALE = { scenario: 'gateway: backend down', expected: '503 ServiceUnavailable', got: '503 ServiceUnavailable', ok: true };

test.before(async () => {
  // Its own certificates: a step 49 that did not stop would rotate them.
  lab = await startLab({ ownCerts: true });
  config = loadConfig({ env: lab.env, argv: [] });
  // What a full `make all` leaves with the default names: revision 1 deployed and answering.
  await configureApigee(config);
});
test.after(async () => {
  await lab.close();
});

/** Step 48 stopped before any scenario: one ✗ line, no target server changed, no row of it left. */
/** `line`: the error line, `{given}` where the settings go before the step it names (withGiven). */
function assertStoppedBefore48Scenarios(run: { exitCode: number; output: string }, line: string) {
  assert.is(run.exitCode, 1, run.output);
  const errors = errorLines(run.output);
  assert.is(errors.length, 1, run.output);
  assert.match(errors[0]!, withGiven(`✗ ${line}`), run.output);
  assert.not.match(run.output, /→ (PUT|POST|DELETE)/);
  assert.not.match(run.output, /\$ curl -sS -v/);
  assert.equal(readScenarios(lab.runDir).filter((r) => r.scenario === STALE.scenario), [], 'a row of an earlier run stayed in the summary');
}

const GATEWAY_ROWS = { '47-call-gateway': 'gateway: proxy → mTLS backend', '49-rotate-certs': 'rotation: gateway calls while rotating' };

/** Steps 47 and 49 stop with the line 48 gives, before any gateway call, change or new certificate; their rows of an earlier run leave the summary. */
/** `line` as for assertStoppedBefore48Scenarios. */
async function assertGatewayStepsStop(env: Record<string, string>, line: string) {
  const keystores = await get<string[]>(`${E}/keystores`);
  for (const [step, scenario] of Object.entries(GATEWAY_ROWS)) {
    recordScenario(lab.runDir, { ...STALE, scenario });
    const run = await runSteps([step], env);
    assert.is(run.exitCode, 1, run.output);
    const errors = errorLines(run.output);
    assert.is(errors.length, 1, run.output);
    assert.match(errors[0]!, withGiven(`✗ ${line}`), run.output);
    assert.not.match(run.output, /→ (PUT|POST|DELETE)|\$ curl -sS -v|openssl|FORCE=1/, run.output);
    assert.equal(readScenarios(lab.runDir).filter((r) => r.scenario === scenario), [], `${step} left a row of an earlier run in the summary`);
  }
  assert.equal(await get<string[]>(`${E}/keystores`), keystores, 'a keystore was made or deleted');
}

test('target server renamed, bundle not re-imported: 48, 47 and 49 say the deployed revision is another bundle and which steps to run', async () => {
  const env = { ...lab.env, APIGEE_TARGET_SERVER: 'ts-renamed' };
  assert.is((await runSteps(['45-target-server'], env)).exitCode, 0);
  recordScenario(lab.runDir, STALE);
  const run = await runSteps(['48-gateway-failures'], env);
  const line = 'api-mtls-test revision 1 in eval is not the bundle the kit renders now (its target server: ts-backend-mtls; APIGEE_TARGET_SERVER: ts-renamed); run {given}./scripts/41-proxy-bundle.ts, then {given}./scripts/46-deploy.ts';
  assertStoppedBefore48Scenarios(run, line);
  // The old revision still answers 200 through ts-backend-mtls: 47 would pass, 49 would rotate against it.
  await assertGatewayStepsStop(env, line);
});

test('the new revision imported but its deploy failed (stand-in stopped meanwhile): 48, 47 and 49 name the revision deployed, the latest one and step 46; after 46 47 and 48 run', async () => {
  const env = { ...lab.env, APIGEE_TARGET_SERVER: 'ts-renamed' };
  assert.is((await runSteps(['41-proxy-bundle'], env)).exitCode, 0);
  // `make all` stops the stand-in it started: a deploy run then finds nothing listening.
  const deploy = await runSteps(['46-deploy'], { ...env, APIGEE_LOCAL_API_PORT: String(await freePort()) });
  assert.is(deploy.exitCode, 1, deploy.output);
  recordScenario(lab.runDir, STALE);
  const run = await runSteps(['48-gateway-failures'], env);
  const line = 'api-mtls-test revision 1 is deployed in eval, not its latest revision 2 (the deploy of step 46 failed or did not finish); run {given}./scripts/46-deploy.ts first';
  assertStoppedBefore48Scenarios(run, line);
  await assertGatewayStepsStop(env, line);
  // What the line says works: deployed as configured, the call and the scenarios run and pass.
  assert.is((await runSteps(['46-deploy'], env)).exitCode, 0);
  const after = await runSteps(['47-call-gateway', '48-gateway-failures'], env);
  assert.is(after.exitCode, 0, after.output);
});

test('a deployment that ended in ERROR: 48 says so with the error and step 46', async () => {
  const env = { ...lab.env, APIGEE_TARGET_SERVER: 'ts-missing' };
  assert.is((await runSteps(['41-proxy-bundle'], env)).exitCode, 0);
  assert.is((await runSteps(['46-deploy'], env)).exitCode, 1);
  const run = await runSteps(['48-gateway-failures'], env);
  assertStoppedBefore48Scenarios(run, 'the deployment of api-mtls-test revision 3 in eval is ERROR (TargetEndpoint "default" references target server "ts-missing", which does not exist in environment eval), not READY; run {given}./scripts/46-deploy.ts first');
  // Back to the default names for the tests below.
  assert.is((await runSteps(['41-proxy-bundle', '46-deploy'], lab.env)).exitCode, 0);
});

const renamed = () => ({ ...lab.env, APIGEE_PROXY_NAME: 'api-renamed', APIGEE_TARGET_SERVER: 'ts-renamed' });

test('proxy renamed: 46 names the proxy holding the base path and a curl that frees it; 48, 47 and 49 name it too; the curl works', async () => {
  assert.is((await runSteps(['41-proxy-bundle'], renamed())).exitCode, 0);
  const deploy = await runSteps(['46-deploy'], renamed());
  assert.is(deploy.exitCode, 1, deploy.output);
  const curl = `curl -sS -X DELETE http://127.0.0.1:${lab.local.apiPort}/v1/organizations/demo-org/environments/eval/apis/api-mtls-test/revisions/4/deployments -H "Authorization: Bearer $TOKEN"`;
  assert.equal(errorLines(deploy.output).length, 1, deploy.output);
  assert.match(errorLines(deploy.output)[0]!, withGiven(`✗ base path /api-mtls-test is held by proxy api-mtls-test revision 4, deployed in eval (APIGEE_PROXY_NAME is api-renamed: a name from before a rename?); undeploy it, then run {given}./scripts/46-deploy.ts again: ${curl}`), deploy.output);

  recordScenario(lab.runDir, STALE);
  const failures = await runSteps(['48-gateway-failures'], renamed());
  const line = 'api-renamed is not deployed in eval and /api-mtls-test is served by proxy api-mtls-test revision 4, which the gateway calls would test; run {given}./scripts/46-deploy.ts first';
  assertStoppedBefore48Scenarios(failures, line);
  await assertGatewayStepsStop(renamed(), line);

  // The printed command, pasted into bash with the $TOKEN line the steps print first.
  const pasted = await execa('bash', ['-c', `TOKEN=local-demo-token; ${curl}`], { reject: false });
  assert.is(pasted.exitCode, 0, pasted.stderr);
  const again = await runSteps(['46-deploy'], renamed());
  assert.is(again.exitCode, 0, again.output);
  assert.ok(again.output.includes('✓ api-renamed revision 1 deployed to eval'), again.output);
});

test('99-cleanup with the new names: deletes those, says which resources it leaves under other names, leaves them', async () => {
  const run = await runSteps(['99-cleanup'], renamed());
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('✓ deleted proxy api-renamed'), run.output);
  const left = run.output.split('\n').find((l) => l.includes('! left in place'))!;
  assert.match(left, withGiven("   ! left in place, under names your settings do not give (from before a rename, or not the kit's): proxies: api-mtls-test; target servers: ts-backend-mtls. To delete the kit's ones too, run {given}make clean again with those names set (APIGEE_PROXY_NAME, APIGEE_TARGET_SERVER, APIGEE_KEYSTORE, APIGEE_TRUSTSTORE, APIGEE_KEYSTORE_REF, APIGEE_TRUSTSTORE_REF)"), run.output);
  // The line asks for other names: its make clean does not carry the renamed ones it was given.
  assert.not.match(left, /APIGEE_(PROXY_NAME|TARGET_SERVER|KEYSTORE|TRUSTSTORE)\w*=/, left);
  assert.ok(await get('/organizations/demo-org/apis/api-mtls-test'), 'deleted a proxy it was not told to delete');
  assert.ok(await get(`${E}/targetservers/ts-backend-mtls`), 'deleted a target server it was not told to delete');
});

test.run();
