// The wait for the runtime, shown with a stand-in whose changes take 10 s to reach its runtime
// (longer than a step takes to start, even on a loaded machine): step 47 without the wait sees the previous configuration
// and fails; with the wait it calls again until the runtime serves the change, and says how long
// that took.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, type Config } from '../core/config.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { readScenarios } from '../scripts/lib/scenarios.ts';
import { configureApigee, gatewayUntil, runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';

let lab: Lab;
let config: Config;

test.before(async () => {
  lab = await startLab({ propagationMs: 10_000 });
  config = loadConfig({ env: lab.env, argv: [] });
  await configureApigee(config);
});
test.after(async () => {
  await lab.close();
});

test('right after the Apigee calls, 47 without the wait fails on the previous configuration', async () => {
  const run = await runSteps(['47-call-gateway'], { ...lab.env, APIGEE_PROPAGATION_TIMEOUT: '0' });
  assert.is(run.exitCode, 1, run.output);
  assert.match(run.output, /not HTTP 200 with the greeting; not waiting \(APIGEE_PROPAGATION_TIMEOUT=0\)/);
  assert.match(run.output, /✗ gateway answered 5\d\d /);
  assert.equal(readScenarios(lab.runDir).map((r) => [r.scenario, r.ok]), [['gateway: proxy → mTLS backend', false]]);
});

test('after a change, 47 without the wait judges the stale configuration; with the wait it calls again until the change is served', async () => {
  await gatewayUntil(lab, (a) => a.status === 200, undefined, 30_000); // the set-up has reached the runtime
  const client = apigeeClient(config, { quiet: true });
  const path = `${client.envPath}/targetservers/${config.apigee.targetServer}`;
  const good = (await client.lookup<Record<string, unknown>>(path))!;
  await client.call({ method: 'PUT', path, json: { ...good, port: 1 } });
  // Without waiting: the runtime still serves the good target server, so 47 "passes" on stale state…
  const stale = await runSteps(['47-call-gateway'], { ...lab.env, APIGEE_PROPAGATION_TIMEOUT: '0' });
  assert.is(stale.exitCode, 0, stale.output);
  // …and a few seconds later the same call fails: the change had not reached the runtime yet.
  const broken = await gatewayUntil(lab, (a) => a.status === 503, undefined, 30_000);
  assert.is(broken.errorcode, 'messaging.adaptors.http.flow.ServiceUnavailable');
  // Fixed again: now 47 first sees the broken state, and waits until the fix is served.
  await client.call({ method: 'PUT', path, json: good });
  const fixed = await runSteps(['47-call-gateway'], lab.env);
  assert.is(fixed.exitCode, 0, fixed.output);
  assert.match(fixed.output, /503 ServiceUnavailable: the runtime may still serve the previous configuration; calling again until HTTP 200 with the greeting, for up to 20\.0 s/);
  assert.match(fixed.output, /waited \d+\.\d s: 503 ServiceUnavailable; next call in \d+\.\d s/);
  assert.match(fixed.output, /✓ the runtime serves the change: HTTP 200 with the greeting after waiting \d+\.\d s \(\d+ calls\)/);
  assert.equal(readScenarios(lab.runDir).map((r) => [r.scenario, r.ok]), [['gateway: proxy → mTLS backend', true]], 'a rerun replaces the row');
});

test.run();
