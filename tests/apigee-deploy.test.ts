// Step 46 (deploy) and step 41 (bundle import) at their edges, against the real stand-in: a
// deployment that stays PROGRESSING (the stand-in's settle time set long) so a Ctrl-C or SIGTERM
// lands in the READY poll.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';

let lab: Lab;

test.before(async () => {
  lab = await startLab({ standIn: { deploySettleMs: 120_000 } });
});
test.after(async () => {
  await lab.close();
});

/** Starts step 46 in its own process group, sends `signal` to the group (a terminal's Ctrl-C) once a poll dot is out. */
async function interruptedDeploy(signal: 'SIGINT' | 'SIGTERM') {
  const step = execa(process.execPath, ['--import', 'tsx', join('scripts', '46-deploy.ts')],
    { cwd: repoRoot, env: lab.env, extendEnv: false, reject: false, all: true, detached: true });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    step.all!.on('data', (d: Buffer) => {
      output += d;
      if (/waiting for READY \./.test(output)) resolve();
    });
    void step.then(() => reject(new Error(`46-deploy ended before its poll:\n${output}`)));
  });
  process.kill(-step.pid!, signal);
  return step;
}

test('Ctrl-C or SIGTERM during the READY poll: the dots end, one line of its own with the state left and the step to re-run, exit 130 / 143; the re-run does not deploy again', async () => {
  assert.is((await runSteps(['41-proxy-bundle'], lab.env)).exitCode, 0);
  const first = await interruptedDeploy('SIGINT');
  const out = String(first.all);
  assert.is(first.exitCode, 130, `${first.signal ?? ''} ${out}`);
  const errors = out.split('\n').filter((l) => l.includes('✗'));
  assert.equal(errors, ['✗ SIGINT: stopped waiting for READY; the deployment of api-mtls-test revision 1 goes on in Apigee (last state PROGRESSING); re-run ./scripts/46-deploy.ts to wait for it'], out);
  assert.match(out, /\n {3}waiting for READY \.+\n✗ SIGINT/);
  assert.match(out, /curl .*-X POST .*\/deployments\?override=true/);

  // The re-run finds the deployment PROGRESSING and only waits (no second POST).
  const again = await interruptedDeploy('SIGTERM');
  const out2 = String(again.all);
  assert.is(again.exitCode, 143, `${again.signal ?? ''} ${out2}`);
  assert.match(out2, /\n✗ SIGTERM: stopped waiting for READY; .*\(last state PROGRESSING\)/);
  assert.not.match(out2, /-X POST/);
});

test.run();
