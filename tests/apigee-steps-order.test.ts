// A newcomer running an Apigee step before the one it needs, against the real stand-in: one line
// naming the step to run first, nothing created, and the rerun in the right order works.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { freePort } from './helpers/ports.ts';
import { readScenarios, recordScenario } from '../scripts/lib/scenarios.ts';
import { GIVEN, withGiven } from './helpers/printed.ts';

let lab: Lab;

test.before(async () => {
  lab = await startLab();
});
test.after(async () => {
  await lab.close();
});

const lastLine = (output: string) => output.trim().split('\n').at(-1)!;

test('44 before 42 or 43: one line naming the store step, no reference made; in order it works', async () => {
  const first = await runSteps(['44-references'], lab.env);
  assert.is(first.exitCode, 1, first.output);
  assert.match(lastLine(first.output), withGiven('✗ keystore ks-mtls-client does not exist yet; run {given}./scripts/42-keystore.ts first'), first.output);
  assert.not.match(first.output, /→ (POST|PUT|DELETE)/);

  // With the keystore only, the keystore's reference is not made either (no half of the step).
  assert.is((await runSteps(['42-keystore'], lab.env)).exitCode, 0);
  const second = await runSteps(['44-references'], lab.env);
  assert.is(second.exitCode, 1, second.output);
  assert.match(lastLine(second.output), withGiven('✗ truststore ts-mtls-ca does not exist yet; run {given}./scripts/43-truststore.ts first'), second.output);
  assert.not.match(second.output, /→ (POST|PUT|DELETE)/);

  const inOrder = await runSteps(['43-truststore', '44-references'], lab.env);
  assert.is(inOrder.exitCode, 0, inOrder.output);
  assert.ok(inOrder.output.includes('✓ reference ks-mtls-client-ref → ks-mtls-client'), inOrder.output);
  assert.ok(inOrder.output.includes('✓ reference ts-mtls-ca-ref → ts-mtls-ca'), inOrder.output);
});

test('47 before 46: one line naming the deploy step before any gateway call, not a wait for the propagation timeout', async () => {
  // A short timeout, so the old behaviour (calling the gateway until it runs out) fails quickly.
  const r = await runSteps(['47-call-gateway'], { ...lab.env, APIGEE_PROPAGATION_TIMEOUT: '2' });
  assert.is(r.exitCode, 1, r.output);
  assert.match(lastLine(r.output), withGiven('✗ api-mtls-test is not deployed in eval; run {given}./scripts/46-deploy.ts first'), r.output);
  assert.not.match(r.output, /\$ curl -sS -v --max-time/, 'the gateway was called');
});

test('47 with the backend stopped: after the first 503, one line naming the backend and how to start it; the summary row says FAIL', async () => {
  // The target server names a port nothing listens on, as after `make all` (which stops the backend).
  const stopped = { ...lab.env, BACKEND_PORT: String(await freePort()) };
  const setup = await runSteps(['41-proxy-bundle', '42-keystore', '43-truststore', '44-references', '45-target-server', '46-deploy'], stopped);
  assert.is(setup.exitCode, 0, setup.output);
  // A PASS left by an earlier run must not survive this one.
  recordScenario(lab.runDir, { scenario: 'gateway: proxy → mTLS backend', expected: '200', got: '200', ok: true });
  const r = await runSteps(['47-call-gateway'], { ...stopped, APIGEE_PROPAGATION_TIMEOUT: '3' });
  assert.is(r.exitCode, 1, r.output);
  assert.match(lastLine(r.output), withGiven(`✗ gateway answered 503 ServiceUnavailable: nothing listens on the backend's 127.0.0.1:${stopped.BACKEND_PORT}; start it with {given}./scripts/20-backend.ts --detach`), r.output);
  assert.not.match(r.output, /calling again until/, 'no wait for the runtime');
  const row = readScenarios(lab.runDir).find((s) => s.scenario === 'gateway: proxy → mTLS backend');
  assert.equal([row?.ok, row?.got], [false, '503 ServiceUnavailable']);
});

test('47 with a SERVER_HOST this machine cannot resolve: the 503 is blamed on the name, not on a stopped backend that starting would fix', async () => {
  const stopped = { ...lab.env, BACKEND_PORT: String(await freePort()) };
  const setup = await runSteps(['41-proxy-bundle', '42-keystore', '43-truststore', '44-references', '45-target-server', '46-deploy'], stopped);
  assert.is(setup.exitCode, 0, setup.output);
  const r = await runSteps(['47-call-gateway'], { ...stopped, SERVER_HOST: 'backend.invalid', APIGEE_PROPAGATION_TIMEOUT: '3' });
  assert.is(r.exitCode, 1, r.output);
  assert.match(lastLine(r.output), new RegExp(String.raw`^✗ gateway answered 503 ServiceUnavailable: SERVER_HOST=backend\.invalid does not resolve on this machine \((ENOTFOUND|EAI_AGAIN)\), so nothing here reaches the backend by it; for the local demo set SERVER_HOST to an address of this machine \(e\.g\. 127\.0\.0\.1\) or add the name to /etc/hosts, then ${GIVEN}make all$`), r.output);
  // The line asks for another SERVER_HOST: its make all does not carry the one that failed.
  assert.not.match(lastLine(r.output).split('then ').at(-1)!, 'SERVER_HOST=', r.output);
});

test.run();
