// Step 46 (deploy) and step 41 (bundle import) at their edges, against the real stand-in: a
// deployment that stays PROGRESSING (the stand-in's settle time set long) so a Ctrl-C or SIGTERM
// lands in the READY poll.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { request } from 'undici';
import { repoRoot } from '../core/config.ts';
import { runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { withGiven } from './helpers/printed.ts';

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
  assert.is(errors.length, 1, out);
  assert.match(errors[0]!, withGiven('✗ SIGINT: stopped waiting for READY; the deployment of api-mtls-test revision 1 goes on in Apigee (last state PROGRESSING); re-run {given}./scripts/46-deploy.ts to wait for it'));
  assert.match(out, /\n {3}waiting for READY \.+\n✗ SIGINT/);
  assert.match(out, /curl .*-X POST .*\/deployments\?override=true/);

  // The re-run finds the deployment PROGRESSING and only waits (no second POST).
  const again = await interruptedDeploy('SIGTERM');
  const out2 = String(again.all);
  assert.is(again.exitCode, 143, `${again.signal ?? ''} ${out2}`);
  assert.match(out2, /\n✗ SIGTERM: stopped waiting for READY; .*\(last state PROGRESSING\)/);
  assert.not.match(out2, /-X POST/);
});

/**
 * A pass-through to the stand-in's management API that holds the bundle imports until `imports`
 * of them arrived, then lets them through one after another: every run looked the proxy up before
 * any import landed, as when two runs overlap.
 */
async function importBarrier(apiPort: number, imports: number) {
  const held: Array<() => Promise<void>> = [];
  const forward = async (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const answer = await request(`http://127.0.0.1:${apiPort}${req.url}`, {
      method: req.method as 'GET', headers: req.headers as Record<string, string>, body: body.length > 0 ? body : undefined,
    });
    res.writeHead(answer.statusCode, answer.headers as Record<string, string>);
    res.end(Buffer.from(await answer.body.arrayBuffer()));
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST' || !/\/apis\?.*action=import/.test(req.url ?? '')) return forward(req, body, res);
    held.push(() => forward(req, body, res));
    if (held.length === imports) for (const release of held) await release();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('two step-41 runs at once: both import (Apigee has no conditional import), and only the run whose revision is the first says "first import"; the other names the same-content revision', async () => {
  const barrier = await importBarrier(lab.local.apiPort, 2);
  try {
    const env = { ...lab.env, APIGEE_PROXY_NAME: 'twice', APIGEE_LOCAL_API_PORT: String(barrier.port) };
    const runs = await Promise.all([runSteps(['41-proxy-bundle'], env), runSteps(['41-proxy-bundle'], env)]);
    for (const run of runs) assert.is(run.exitCode, 0, run.output);
    const notes = runs.map((run) => /✓ proxy twice revision (\d+) (.*)/.exec(run.output)?.slice(1)).sort();
    assert.equal(notes, [['1', '(first import)'], ['2', '(same content as revision 1, which another run imported meanwhile)']], runs.map((r) => r.output).join('\n'));
  } finally {
    await barrier.close();
  }
  // Run again alone: same content as the latest, no third revision.
  const again = await runSteps(['41-proxy-bundle'], { ...lab.env, APIGEE_PROXY_NAME: 'twice' });
  assert.match(again.output, '= using existing proxy twice revision 2 (same bundle content; no new revision)');
});

test.run();
