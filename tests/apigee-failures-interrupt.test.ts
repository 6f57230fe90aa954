// Step 48 stopped part way, against the real stand-in and backend: the stand-in's propagation delay
// keeps the step waiting with the target server broken, where a Ctrl-C lands. The step says what
// it left and what to run; a re-run does not take the broken target server for the good one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadConfig, repoRoot } from '../core/config.ts';
import { configureApigee, gatewayUntil, runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { withGiven } from './helpers/printed.ts';

let lab: Lab;
const greeting = (a: { status: number; body: string }) => a.status === 200 && a.body.includes('Hello, secure world with mTLS!');

test.before(async () => {
  lab = await startLab({ propagationMs: 1500 });
  await configureApigee(loadConfig({ env: lab.env, argv: [] }));
  await gatewayUntil(lab, greeting);
});
test.after(async () => {
  await lab.close();
});

/** Waits until the runtime's target server uses `trustStore` (the stand-in's deployedConfig, in full resource names). */
async function servedTrustStore(trustStore: string): Promise<void> {
  const want = trustStore.replace(/^ref:\/\//, '/references/');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`${lab.local.apiUrl}/environments/eval/deployedConfig`, { headers: { authorization: 'Bearer t' } });
    const body = (await res.json()) as { targets?: Array<{ name: string; tlsInfo?: { trustStore?: string } }> };
    const served = body.targets?.find((t) => t.name.endsWith('/targetservers/ts-backend-mtls'))?.tlsInfo?.trustStore;
    if (served?.endsWith(want)) return;
    if (Date.now() > deadline) throw new Error(`the runtime still serves trustStore ${served}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts step 48 in its own process group and sends SIGINT to the group (a terminal's Ctrl-C) once `at` is in its output. */
async function interruptedFailures(at: RegExp) {
  const step = execa(process.execPath, ['--import', 'tsx', join('scripts', '48-gateway-failures.ts')],
    { cwd: repoRoot, env: lab.env, extendEnv: false, reject: false, all: true, detached: true });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    step.all!.on('data', (d: Buffer) => {
      output += d;
      if (at.test(output)) resolve();
    });
    void step.then(() => reject(new Error(`48-gateway-failures ended before ${at}:\n${output}`)));
  });
  process.kill(-step.pid!, 'SIGINT');
  return step;
}

test('Ctrl-C while a scenario has the target server broken: one line naming step 45, exit 130; a re-run does not take the broken target server for the good one; after 45 it passes', async () => {
  const stopped = await interruptedFailures(/▸ gateway: truststore without the CA[\s\S]*calling again until 503/);
  const out = String(stopped.all);
  assert.is(stopped.exitCode, 130, out);
  const errors = out.split('\n').filter((l) => l.includes('✗'));
  assert.is(errors.length, 1, out);
  assert.match(errors[0]!, withGiven('✗ SIGINT: stopped during "gateway: truststore without the CA"; target server ts-backend-mtls may still hold its change: run {given}./scripts/45-target-server.ts to put the good one back'));

  // The broken target server is not taken for the good one, though the lagging runtime may still
  // answer 200: nothing is changed, one line names the fix.
  const again = await runSteps(['48-gateway-failures'], lab.env);
  assert.is(again.exitCode, 1, again.output);
  assert.match(again.output.trim().split('\n').at(-1)!,
    withGiven('✗ target server ts-backend-mtls is not the good one (trustStore ts-mtls-ca-no-ca); put it back with {given}./scripts/45-target-server.ts, then run this step again'), again.output);
  assert.not.match(again.output, /→ (POST|PUT|DELETE)/);

  // The stopped run's change is still on its way to the runtime, behind it step 45's restore: a
  // 200 right now may be the configuration from before both. Step 48 cannot tell (Apigee exposes no
  // runtime revision to the gateway's caller), so the test waits until the stand-in's deployed
  // configuration (GET …/deployedConfig, what its runtime serves) holds the good truststore again.
  const restore = await runSteps(['45-target-server'], lab.env);
  assert.is(restore.exitCode, 0, restore.output);
  await servedTrustStore('ref://ts-mtls-ca-ref');
  const fixed = await runSteps(['48-gateway-failures'], lab.env);
  assert.is(fixed.exitCode, 0, fixed.output);
  assert.ok(fixed.output.includes('✓ 4 failure scenarios answered as expected'), fixed.output);
  assert.ok(greeting(await gatewayUntil(lab, greeting)));
});

test.run();
