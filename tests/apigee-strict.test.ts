// One pass of the Apigee steps and the rotation against the stand-in in strict mode
// (APIGEE_LOCAL_STRICT=1), which refuses uploads Apigee X is not known to accept, such as the AES
// PKCS#12 that OpenSSL 3 writes by default: the steps upload a 3DES/SHA-1 copy made for the
// upload, and the tutorial's p12 on disk stays as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../core/config.ts';
import { ApigeeApiError } from '../scripts/lib/apigee/errors.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { APIGEE_STEPS, runSteps, startLab, type Lab } from './helpers/apigee-steps.ts';

let lab: Lab;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test.before(async () => {
  lab = await startLab({ ownCerts: true, propagationMs: 300, standIn: { strict: true } });
});
test.after(async () => {
  await lab.close();
});

test('strict stand-in: the tutorial\'s AES p12 is refused as it is', async () => {
  const config = loadConfig({ env: lab.env, argv: [] });
  const client = apigeeClient(config, { quiet: true });
  await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: 'ks-probe' } });
  await client.call({
    method: 'POST', path: `${client.envPath}/keystores/ks-probe/aliases`, query: { alias: 'client', format: 'pkcs12' },
    form: [{ name: 'file', file: join(lab.fixture.pki, 'client-apigee-keystore.p12') }, { name: 'password', value: config.pki.storePassword }],
  }).then(() => assert.unreachable('AES PKCS#12 accepted in strict mode'), (e: unknown) => {
    assert.instance(e, ApigeeApiError);
    assert.is((e as ApigeeApiError).httpStatus, 400);
  });
  await client.call({ method: 'DELETE', path: `${client.envPath}/keystores/ks-probe` });
});

test('strict stand-in: the Apigee steps upload a legacy copy, the gateway answers, the p12 on disk is untouched', async () => {
  const p12 = join(lab.fixture.pki, 'client-apigee-keystore.p12');
  const before = sha(p12);
  const run = await runSteps(APIGEE_STEPS, lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /a 3DES\/SHA-1 copy is made for the upload in a private temporary folder and deleted after/);
  const dir = /\$ mkdir -m 700 (\S+apigee-upload-[0-9a-f]{12})/.exec(run.output)?.[1];
  assert.ok(dir, run.output);
  assert.match(run.output, /-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out \S+\/client-apigee-keystore\.p12 -password env:STORE_PASSWORD/);
  assert.ok(run.output.includes(`$ rm -r ${dir}`), run.output);
  assert.not.ok(existsSync(dir!), 'temporary copy left behind');
  assert.ok(run.output.includes('✓ keystore ks-mtls-client with alias client'), run.output);
  assert.ok(run.output.includes('✓ HTTP 200'), run.output);
  assert.is(sha(p12), before, 'the tutorial\'s p12 was changed');
});

test('strict stand-in: the rotation uploads its new certificate the same way, 0 failed calls', async () => {
  const run = await runSteps(['49-rotate-certs'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out \S+\/client-apigee-keystore\.p12/);
  assert.ok(run.output.includes('✓ reference ks-mtls-client-ref now → ks-mtls-client-v2 (was ks-mtls-client)'), run.output);
  assert.match(run.output, /✓ gateway calls while rotating: \d+ made, 0 failed/);
});

test('strict stand-in: the clean-up deletes in an order it accepts (users of a store before the store)', async () => {
  const run = await runSteps(['99-cleanup'], lab.env);
  assert.is(run.exitCode, 0, run.output);
  const config = loadConfig({ env: lab.env, argv: [] });
  const client = apigeeClient(config, { quiet: true });
  assert.equal(await client.lookup<string[]>(`${client.envPath}/keystores`), []);
});

test.run();
