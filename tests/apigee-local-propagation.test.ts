// Configuration reaches the stand-in's runtime the way it reaches Apigee X's: asynchronously.
// With APIGEE_LOCAL_PROPAGATION_MS set, a change to a target server, keystore or reference is saved
// at once but served only after the delay, as a numbered revision that `GET …/deployedConfig`
// shows; and a proxy called while its deployment is PROGRESSING is served once it is READY.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend, settingsFromEnv, type Backend } from '../backend/server.ts';
import { backendEnv } from './helpers/fixtures.ts';
import { E, assertFault, bundle, form, importAndDeploy, pem, startStandIn, waitFor, type StandIn } from './helpers/apigee-local.ts';

const PROPAGATION_MS = 700;
const SETTLE_MS = 300;
let s: StandIn;
let backend: Backend;

const deployedConfig = async () => s.ok('GET', `${E}/deployedConfig`);
/** Waits until the runtime serves a revision newer than `after`; returns it. */
const nextRevision = (after: number) =>
  waitFor(`a deployed configuration newer than revision ${after}`, async () => {
    const c = await deployedConfig();
    return Number(c.revisionId) > after ? c : undefined;
  });
const servedRevision = async () => Number((await deployedConfig()).revisionId);
/** Waits until every saved change is served (nothing saved → the served revision stays). */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, PROPAGATION_MS + 50));
}

const whoami = async (path: string) => {
  const a = await s.call(`${path}/whoami`);
  assert.is(a.status, 200, a.text);
  return a.text;
};

test.before(async () => {
  s = await startStandIn({ deploySettleMs: SETTLE_MS, propagationMs: PROPAGATION_MS });
  const { fx } = s;
  backend = await startBackend(settingsFromEnv(backendEnv(fx)), { log: () => undefined });
  const p12 = readFileSync(join(fx.pki, 'client-apigee-keystore.p12'));
  for (const name of ['ks', 'ks2', 'ks3', 'ts']) await s.ok('POST', `${E}/keystores`, JSON.stringify({ name }));
  await s.ok('POST', `${E}/keystores/ks/aliases?alias=client&format=pkcs12`, form({ file: p12, password: fx.password }));
  await s.ok('POST', `${E}/keystores/ks3/aliases?alias=client&format=pkcs12`, form({ file: p12, password: fx.password }));
  await s.ok('POST', `${E}/keystores/ks2/aliases?alias=client&format=keycertfile`,
    form({ certFile: pem(fx.bad, 'second-client-cert.pem'), keyFile: pem(fx.bad, 'second-client-key.pem') }));
  await s.ok('POST', `${E}/keystores/ts/aliases?alias=ca&format=keycertfile`, form({ certFile: pem(fx.pki, 'ca-cert.pem') }));
  await s.ok('POST', `${E}/references`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks' }));
  await s.ok('POST', `${E}/references`, JSON.stringify({ name: 'ts-ref', resourceType: 'TrustStore', refers: 'ts' }));
  const ssl = { enabled: true, clientAuthEnabled: true, keyStore: 'ref://ks-ref', keyAlias: 'client', trustStore: 'ref://ts-ref', enforce: true };
  await s.ok('POST', `${E}/targetservers`, JSON.stringify({ name: 'tsrv', host: '127.0.0.1', port: backend.port, sSLInfo: ssl }));
  await s.ok('POST', `${E}/targetservers`, JSON.stringify({ name: 'direct3', host: '127.0.0.1', port: backend.port, sSLInfo: { ...ssl, keyStore: 'ks3' } }));
  await importAndDeploy(s, 'main', '/main', '<LoadBalancer><Server name="tsrv"/></LoadBalancer>');
  await importAndDeploy(s, 'k3', '/k3', '<LoadBalancer><Server name="direct3"/></LoadBalancer>');
  await settle();
});

test.after(async () => {
  await s.close();
  await backend.close();
});

test('a proxy called while its deployment is PROGRESSING is served once it is READY', async () => {
  const rev = await importAndDeploy(s, 'early', '/early', '<LoadBalancer><Server name="tsrv"/></LoadBalancer>');
  assertFault(await s.call('/early'), 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
  const status = `${E}/apis/early/revisions/${rev}/deployments`;
  assert.is((await s.ok('GET', status)).state, 'PROGRESSING');
  await waitFor('state READY', async () => ((await s.ok('GET', status)).state === 'READY' ? true : undefined));
  const after = await s.call('/early');
  assert.is(after.status, 200, after.text);
  assert.match(after.text, /Hello/);
});

test('deployedConfig: the served revision in Apigee\'s EnvironmentConfig shape', async () => {
  const c = await deployedConfig();
  const envPath = 'organizations/demo-org/environments/eval';
  assert.match(c.revisionId, /^\d+$/);
  assert.is(c.name, `${envPath}/configs/${c.revisionId}`);
  assert.ok(!Number.isNaN(Date.parse(c.createTime)), c.createTime);
  const target = c.targets.find((t: any) => t.name === `${envPath}/targetservers/tsrv`);
  assert.equal(target, {
    name: `${envPath}/targetservers/tsrv`, host: '127.0.0.1', port: backend.port, protocol: 'HTTP', enabled: true,
    tlsInfo: { enabled: true, clientAuthEnabled: true, keyAliasReference: { aliasId: 'client', reference: `${envPath}/references/ks-ref` },
      trustStore: `${envPath}/references/ts-ref`, enforce: true },
  });
  const direct = c.targets.find((t: any) => t.name.endsWith('/direct3'));
  assert.is(direct.tlsInfo.keyAlias, `${envPath}/keystores/ks3/aliases/client`);
  assert.equal(c.keystores.find((k: any) => k.name.endsWith('/keystores/ks')), {
    name: `${envPath}/keystores/ks`, aliases: [{ name: `${envPath}/keystores/ks/aliases/client`, type: 'KEY_CERT' }],
  });
  assert.equal(c.resourceReferences.find((r: any) => r.name.endsWith('/ks-ref')), { name: `${envPath}/references/ks-ref`, resourceName: `${envPath}/keystores/ks` });
});

test('a target server change is saved at once but served only after the delay', async () => {
  const before = await servedRevision();
  const started = Date.now();
  await s.ok('PUT', `${E}/targetservers/tsrv`, JSON.stringify({ name: 'tsrv', host: '127.0.0.1', port: backend.port, isEnabled: false,
    sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ref://ks-ref', keyAlias: 'client', trustStore: 'ref://ts-ref', enforce: true } }));
  // The management API already answers with the new resource…
  assert.is((await s.ok('GET', `${E}/targetservers/tsrv`)).isEnabled, false);
  // …while the runtime still serves the previous revision.
  const early = await s.call('/main');
  const elapsedAtEarlyCall = Date.now() - started;
  if (elapsedAtEarlyCall < PROPAGATION_MS) {
    assert.is(early.status, 200, early.text);
    assert.is(await servedRevision(), before);
  }
  const next = await nextRevision(before);
  assert.ok(Date.now() - started >= PROPAGATION_MS, `served after ${Date.now() - started} ms`);
  assert.is(next.targets.find((t: any) => t.name.endsWith('/tsrv')).enabled, false);
  assertFault(await s.call('/main'), 503, 'messaging.adaptors.http.flow.NoActiveTargets');

  await s.ok('PUT', `${E}/targetservers/tsrv`, JSON.stringify({ name: 'tsrv', host: '127.0.0.1', port: backend.port,
    sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ref://ks-ref', keyAlias: 'client', trustStore: 'ref://ts-ref', enforce: true } }));
  await nextRevision(Number(next.revisionId));
  assert.is((await s.call('/main')).status, 200);
});

test('repointing a reference: the old certificate until the new revision is served, then the new one', async () => {
  assert.match(await whoami('/main'), /apigee-client/);
  const before = await servedRevision();
  const started = Date.now();
  await s.ok('PUT', `${E}/references/ks-ref`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks2' }));
  const early = await whoami('/main');
  if (Date.now() - started < PROPAGATION_MS) assert.match(early, /apigee-client/);
  await nextRevision(before);
  assert.match(await whoami('/main'), /second-client/);
  await s.ok('PUT', `${E}/references/ks-ref`, JSON.stringify({ name: 'ks-ref', resourceType: 'KeyStore', refers: 'ks' }));
  await nextRevision(before + 1);
  assert.match(await whoami('/main'), /apigee-client/);
});

test('a deleted keystore is served from the previous revision until the delay has passed', async () => {
  assert.is((await s.call('/k3')).status, 200);
  const before = await servedRevision();
  const started = Date.now();
  await s.ok('DELETE', `${E}/keystores/ks3`);
  // The key's file is gone from disk at once; the served revision still holds the key.
  const early = await s.call('/k3');
  if (Date.now() - started < PROPAGATION_MS) assert.is(early.status, 200, early.text);
  await nextRevision(before);
  assertFault(await s.call('/k3'), 503, 'messaging.adaptors.http.flow.ServiceUnavailable');
});

test('changes outside the environment configuration (a proxy import) make no new revision', async () => {
  const before = await servedRevision();
  await s.ok('POST', '/apis?name=unrelated&action=import', bundle('/unrelated', '<URL>https://127.0.0.1:1</URL>'), 'application/octet-stream');
  await settle();
  assert.is(await servedRevision(), before);
});

test.run();
