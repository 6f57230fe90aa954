// Retries only where they are safe, against the real stand-in behind a fault-injecting proxy
// (tests/helpers/fault-proxy.ts): GET, PUT and DELETE are sent again after 503s and dropped
// connections; a POST whose answer was lost is looked up before it is sent again, so an import
// never makes a second revision and a create never ends in a spurious 409.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadConfig, type Config } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { ApigeeClient } from '../scripts/lib/apigee/client.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.ts';

let lab: Lab;
let proxy: FaultProxy;
let config: Config;
let env: Record<string, string>;
const E = '/organizations/demo-org/environments/eval';

/** Reads the stand-in directly, past the proxy. */
const direct = () => apigeeClient(config, { quiet: true });
const revisions = async () => (await direct().lookup<string[]>('/organizations/demo-org/apis/api-mtls-test/revisions')) ?? [];
const sent = (method: string, path: RegExp) => proxy.log.filter((l) => l.method === method && path.test(l.url));

test.before(async () => {
  lab = await startLab();
  config = loadConfig({ env: lab.env, argv: [] });
  proxy = await startFaultProxy(lab.local.apiPort);
  env = { ...lab.env, APIGEE_API_BASE: proxy.baseUrl };
});
test.after(async () => {
  await proxy.close();
  await lab.close();
});

test('import whose answer is lost after the stand-in made the revision: looked up, not sent again (one revision)', async () => {
  proxy.inject('POST', /\/apis\?name=api-mtls-test&action=import/, 'drop-after');
  const run = await runSteps(['41-proxy-bundle'], env);
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /UND_ERR_SOCKET from POST \/apis: looking it up before sending it again/);
  assert.match(run.output, /it is there: the POST took effect, not sending it again/);
  assert.ok(run.output.includes('✓ proxy api-mtls-test revision 1 (first import)'), run.output);
  assert.equal(await revisions(), ['1']);
  assert.is(sent('POST', /action=import/).length, 1);
});

test('import answered 503 after it took effect: still one new revision', async () => {
  proxy.inject('POST', /action=import/, '503-after');
  const run = await runSteps(['41-proxy-bundle'], { ...env, APIGEE_TARGET_SERVER: 'ts-changed' });
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /503 from POST .*looking it up/);
  assert.ok(run.output.includes('✓ proxy api-mtls-test revision 2 (bundle changed since revision 1)'), run.output);
  assert.equal(await revisions(), ['1', '2']);
});

test('import refused before it reached the stand-in (503, dropped): looked up, not there, sent again once', async () => {
  const before = sent('POST', /action=import/).length;
  proxy.inject('POST', /action=import/, '503-before', 'drop-before');
  const run = await runSteps(['41-proxy-bundle'], env);
  assert.is(run.exitCode, 0, run.output);
  assert.is((run.output.match(/looking it up before sending it again/g) ?? []).length, 2, run.output);
  assert.match(run.output, /sending it again \(2\/3\)/);
  assert.ok(run.output.includes('✓ proxy api-mtls-test revision 3 (bundle changed since revision 2)'), run.output);
  assert.equal(await revisions(), ['1', '2', '3']);
  assert.is(sent('POST', /action=import/).length - before, 3);
});

test('keystore and alias creates whose answers are lost: no 409, each created once', async () => {
  proxy.inject('POST', /\/keystores$/, 'drop-after');
  proxy.inject('POST', /\/keystores\/ks-mtls-client\/aliases\?/, '503-after');
  const run = await runSteps(['42-keystore'], env);
  assert.is(run.exitCode, 0, run.output);
  assert.not.match(run.output, /409|ALREADY_EXISTS/);
  assert.is((run.output.match(/it is there: the POST took effect/g) ?? []).length, 2, run.output);
  assert.equal(await direct().lookup<string[]>(`${E}/keystores`), ['ks-mtls-client']);
  assert.equal(await direct().lookup<string[]>(`${E}/keystores/ks-mtls-client/aliases`), ['client']);
  assert.is(sent('POST', /\/keystores$/).length, 1);
  assert.is(sent('POST', /\/aliases\?/).length, 1);
});

test('GET, PUT and DELETE are sent again after 503s and dropped connections, with bounded backoff', async () => {
  const client = new ApigeeClient({ baseUrl: proxy.baseUrl, org: 'demo-org', env: 'eval', dryRun: false, token: async () => 't', quiet: true, retry: { attempts: 4, baseMs: 10, maxMs: 40 } });
  proxy.inject('GET', /\/keystores$/, '503-before', 'drop-before', '503-after');
  assert.equal(await client.lookup<string[]>(`${E}/keystores`), ['ks-mtls-client']);
  await client.call({ method: 'POST', path: `${E}/references`, json: { name: 'r', resourceType: 'KeyStore', refers: 'ks-mtls-client' } });
  proxy.inject('PUT', /\/references\/r$/, 'drop-after', '503-after');
  await client.call({ method: 'PUT', path: `${E}/references/r`, json: { name: 'r', resourceType: 'KeyStore', refers: 'ks-mtls-client' } });
  assert.is(sent('PUT', /\/references\/r$/).length, 3);
  // The first DELETE took effect and its answer was lost: the 404 of the repeat means "done".
  proxy.inject('DELETE', /\/references\/r$/, 'drop-after');
  await client.call({ method: 'DELETE', path: `${E}/references/r` });
  assert.is(await direct().lookup(`${E}/references/r`), undefined);
  // Bounded: four attempts, then one line. The first backoff uncapped would be a minute, capped
  // 20 ms: the bounds below separate the two whatever the machine's load, and show each wait ran.
  const capped = new ApigeeClient({ baseUrl: proxy.baseUrl, org: 'demo-org', env: 'eval', dryRun: false, token: async () => 't', quiet: true, retry: { attempts: 4, baseMs: 60_000, maxMs: 20 } });
  proxy.inject('GET', /\/targetservers$/, '503-before', '503-before', '503-before', '503-before', '503-before');
  const started = Date.now();
  await capped.call({ method: 'GET', path: `${E}/targetservers` }).then(() => assert.unreachable('503s accepted'), (e: unknown) => {
    assert.match((e as Error).message, /^GET \/targetservers → 503 UNAVAILABLE: .*\(hint: Apigee had a server error/);
  });
  const ms = Date.now() - started;
  assert.ok(ms >= 3 * 20 - 3 && ms < 30_000, `four attempts took ${ms} ms: 3 waits of maxMs 20 ms each, not of baseMs 60 s`);
  assert.is(sent('GET', /\/targetservers$/).length, 4);
});

test('a POST with no way to look its result up is not sent again blindly', async () => {
  const client = new ApigeeClient({ baseUrl: proxy.baseUrl, org: 'demo-org', env: 'eval', dryRun: false, token: async () => 't', quiet: true, retry: { attempts: 4, baseMs: 10, maxMs: 40 } });
  const before = sent('POST', /\/apis\?name=other/).length;
  proxy.inject('POST', /\/apis\?name=other/, '503-after');
  const zip = join(lab.runDir, 'api-mtls-test.zip');
  await client.call({ method: 'POST', path: '/organizations/demo-org/apis', query: { name: 'other', action: 'import' }, form: [{ name: 'file', file: zip }] })
    .then(() => assert.unreachable('ambiguous POST reported as done'), (e: unknown) => {
      assert.instance(e, StepError);
      assert.match((e as Error).message, /failed with 503; it may have taken effect, so it is not sent again blindly/);
    });
  assert.is(sent('POST', /\/apis\?name=other/).length - before, 1);
  assert.equal(await direct().lookup<string[]>('/organizations/demo-org/apis/other/revisions'), ['1']);
});

test('429 means "not processed": a POST is sent again without a look-up; a 503 first looks', async () => {
  const client = new ApigeeClient({ baseUrl: proxy.baseUrl, org: 'demo-org', env: 'eval', dryRun: false, token: async () => 't', quiet: true, retry: { attempts: 3, baseMs: 10, maxMs: 40 } });
  proxy.inject('POST', /\/keystores$/, '429-before');
  await client.call({ method: 'POST', path: `${E}/keystores`, json: { name: 'ks-quota' } });
  assert.ok(await direct().lookup(`${E}/keystores/ks-quota`));
  assert.is(sent('GET', /\/keystores\/ks-quota$/).length, 0, 'no look-up after a 429');
  proxy.inject('POST', /\/keystores$/, '503-before');
  await client.call({ method: 'POST', path: `${E}/keystores`, json: { name: 'ks-busy' } });
  assert.ok(await direct().lookup(`${E}/keystores/ks-busy`));
  assert.is(sent('GET', /\/keystores\/ks-busy$/).length, 1, 'one look-up after the 503');
});

test.run();
