// The VM path against the real gcloud and a local fake of the Compute API: pre-flight, address
// (with the certificate re-issued for it), firewall rule, VM, the WAIT=0 curl line, and teardown
// in reverse order. gcloud takes one to several seconds per call, so each step runs once (ten
// gcloud calls in all) and the tests read the request bodies the fake recorded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { X509Certificate } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { startFakeCompute, type RecordedRequest } from './helpers/fake-compute.ts';
import { tempDir } from './helpers/temp.ts';
import { GIVEN, printedCommands, withGiven, withGivenIn } from './helpers/printed.ts';

const IP = '203.0.113.10';
const PROJECT = 'demo-proj';
const work = tempDir('infra-gcloud-');
const certs = join(work, 'certs');
cpSync((await pkiFixture()).pki, certs, { recursive: true });
const fake = await startFakeCompute({ address: IP });
const localEnv = join(work, 'local.env');
writeFileSync(localEnv, 'APIGEE_TARGET=local\nSERVER_HOST=127.0.0.1\n');
writeFileSync(join(work, 'token'), 'fake-token-value');
writeFileSync(join(work, 'kubeconfig'), '');

const env: Record<string, string> = {
  ...fixtureEnv(certs),
  RUN_DIR: join(work, 'run'),
  LOCAL_ENV_FILE: localEnv,
  GCP_PROJECT: PROJECT,
  GCP_ZONE: 'us-central1-a',
  GCP_SOURCE_RANGES: '198.51.100.7/32,203.0.113.0/24',
  CLOUDSDK_CONFIG: join(work, 'gcloud'),
  CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: join(work, 'token'),
  CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: fake.endpoint,
  CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
  KUBECONFIG: join(work, 'kubeconfig'),
  WAIT: '0',
};

async function step(name: string, extra: Record<string, string> = {}, args: string[] = []) {
  const result = await execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', `${name}.ts`), ...args], {
    cwd: repoRoot, env: { ...env, ...extra }, reject: false, input: '',
  });
  return { code: result.exitCode ?? 1, out: `${result.stdout}\n${result.stderr}` };
}

const posts = (collection: string) => fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/${collection}`));
const body = (r: RecordedRequest | undefined) => (r?.body ?? {}) as Record<string, any>;

test('pre-flight: token, project and Compute API pass; a missing kubectl context is one line with the fix', async () => {
  const r = await step('30-gcp-preflight', {}, ['--k8s']);
  assert.is.not(r.code, 0);
  assert.match(r.out, 'gcloud is authenticated');
  assert.match(r.out, `project ${PROJECT}`);
  assert.match(r.out, 'Compute Engine API answers');
  assert.match(r.out, 'kubectl has no current context: run `gcloud container clusters get-credentials');
  assert.match(r.out, '1 check(s) failed');
  assert.not.match(r.out, 'fake-token-value');
  assert.ok(fake.requests.some((q) => q.path.endsWith(`/projects/${PROJECT}/regions/us-central1`)));
});

test('VM and install before the address and VM exist (33, 34 before 31): one line naming the step to run first', async () => {
  const vm = await step('33-gcp-vm');
  assert.is(vm.code, 1, vm.out);
  assert.match(vm.out, new RegExp(String.raw`✗ gcloud compute instances create .* the static address ms-mtls-demo-ip does not exist; run ${GIVEN}\./scripts/31-gcp-address\.ts first`));
  assert.is(posts('instances').length, 0);
  const install = await step('34-gcp-install-backend');
  assert.is(install.code, 1, install.out);
  assert.match(install.out, new RegExp(String.raw`✗ gcloud compute scp .* the VM ms-mtls-demo does not exist; run ${GIVEN}\./scripts/33-gcp-vm\.ts first`));
  assert.is(install.out.trim().split('\n').filter((line) => line.startsWith('✗')).length, 1);
});

test('address: reserved, certificate re-issued for its IP, SERVER_HOST written to the local env file', async () => {
  const r = await step('31-gcp-address');
  assert.is(r.code, 0, r.out);
  const [create] = posts('addresses');
  assert.ok(create, 'no address insert');
  assert.ok(create.path.endsWith(`/projects/${PROJECT}/regions/us-central1/addresses`), create.path);
  assert.is(body(create).name, 'ms-mtls-demo-ip');
  const cert = new X509Certificate(readFileSync(join(certs, 'server-cert.pem')));
  assert.is(cert.checkIP(IP), IP, 'server certificate does not name the reserved IP');
  assert.match(r.out, `SERVER_HOST changes from 127.0.0.1 to ${IP}`);
  // What ran is what was printed: the IP gcloud answered, then the certificate steps with it.
  assert.match(r.out, `$ gcloud compute addresses describe ms-mtls-demo-ip --region=us-central1 --project=${PROJECT} --format='value(address)'`);
  // With the settings the step was given (its CERTS_DIR, LOCAL_ENV_FILE), SERVER_HOST only once: the IP.
  const certSteps = printedCommands(r.out).filter((c) => c.includes('./scripts/1'));
  assert.is(certSteps.length, 2, r.out);
  assert.match(certSteps[0]!, withGiven(`{given}SERVER_HOST=${IP} ./scripts/11-server-cert.ts`));
  assert.match(certSteps[1]!, withGiven(`{given}SERVER_HOST=${IP} ./scripts/13-server-stores.ts`));
  for (const c of certSteps) {
    assert.is(c.split('SERVER_HOST=').length, 2, c);
    assert.ok(c.includes(`CERTS_DIR=${certs} `) && c.includes(`LOCAL_ENV_FILE=${localEnv} `), c);
  }
  // The file LOCAL_ENV_FILE names is the one edited, and the one the lines name.
  assert.ok(r.out.includes(`# Node sets SERVER_HOST=${IP} in ${localEnv} (`), r.out);
  assert.ok(r.out.includes(`✓ SERVER_HOST=${IP} written to ${localEnv}\n`), r.out);
  const lines = readFileSync(localEnv, 'utf8').split('\n');
  assert.ok(lines.includes(`SERVER_HOST=${IP}`), lines.join('|'));
  assert.not.ok(lines.includes('SERVER_HOST=127.0.0.1'), 'old line kept');
  assert.ok(lines.includes('APIGEE_TARGET=local'), 'other lines lost');
});

test('firewall rule: tcp 8443 only, to the network tag, from the configured ranges', async () => {
  const r = await step('32-gcp-firewall');
  assert.is(r.code, 0, r.out);
  const b = body(posts('firewalls')[0]);
  assert.is(b.name, 'allow-mtls-8443');
  assert.equal(b.allowed, [{ IPProtocol: 'tcp', ports: ['8443'] }]);
  assert.is(b.direction, 'INGRESS');
  assert.equal(b.targetTags, ['mtls-backend']);
  assert.equal(b.sourceRanges, ['198.51.100.7/32', '203.0.113.0/24']);
  assert.match(String(b.network), /\/global\/networks\/default$/);
  assert.not.match(r.out, 'whole internet');
});

const patches = () => fake.requests.filter((q) => q.method === 'PATCH');

test('firewall rule kept from an earlier run: BACKEND_PORT changed → the kit\'s rule is updated; a rerun then changes nothing', async () => {
  const moved = await step('32-gcp-firewall', { BACKEND_PORT: '9445' });
  assert.is(moved.code, 0, moved.out);
  assert.match(moved.out, `gcloud compute firewall-rules describe allow-mtls-8443 --project=${PROJECT} --format=json`);
  assert.match(moved.out, `gcloud compute firewall-rules update allow-mtls-8443 --project=${PROJECT} --allow=tcp:9445 --target-tags=mtls-backend --source-ranges=198.51.100.7/32,203.0.113.0/24 --no-disabled`);
  assert.match(moved.out, 'updated: allow tcp:8443 → tcp:9445');
  assert.is(patches().length, 1);
  const stored = [...fake.resources.entries()].find(([k]) => k.endsWith('/firewalls/allow-mtls-8443'))?.[1] as Record<string, any>;
  assert.equal(stored.allowed, [{ IPProtocol: 'tcp', ports: ['9445'] }]);

  const again = await step('32-gcp-firewall', { BACKEND_PORT: '9445' });
  assert.is(again.code, 0, again.out);
  assert.match(again.out, 'It already allows tcp:9445 to tag mtls-backend');
  assert.is(patches().length, 1, 'a matching rule was updated again');
});

test('firewall rule with that name made by someone else: one line, the rule is not touched', async () => {
  const path = `projects/${PROJECT}/global/firewalls/team-rule`;
  fake.resources.set(path, { kind: 'compute#firewall', name: 'team-rule', description: 'ops team, do not edit', direction: 'INGRESS',
    network: `${fake.endpoint}projects/${PROJECT}/global/networks/default`, allowed: [{ IPProtocol: 'tcp', ports: ['22'] }],
    targetTags: ['mtls-backend'], sourceRanges: ['10.0.0.0/8'], disabled: false });
  const r = await step('32-gcp-firewall', { GCP_FIREWALL_RULE: 'team-rule' }).finally(() => fake.resources.delete(path));
  assert.is.not(r.code, 0);
  assert.match(r.out, /firewall rule team-rule exists, was not made by this kit and differs \(allow tcp:22 → tcp:8443; source ranges 10\.0\.0\.0\/8 → 198\.51\.100\.7\/32,203\.0\.113\.0\/24\): set GCP_FIREWALL_RULE in .*local\.env to another name/);
  assert.is(patches().length, 1, 'someone else\'s rule was patched');
});

test('VM: machine type, Ubuntu LTS image family, tag, the reserved address, startup script, no secrets', async () => {
  const r = await step('33-gcp-vm');
  assert.is(r.code, 0, r.out);
  const create = posts('instances')[0];
  assert.ok(create, 'no instance insert');
  assert.ok(create.path.endsWith(`/projects/${PROJECT}/zones/us-central1-a/instances`), create.path);
  const b = body(create);
  assert.is(b.name, 'ms-mtls-demo');
  assert.match(b.machineType, /\/zones\/us-central1-a\/machineTypes\/e2-small$/);
  const boot = b.disks.find((d: any) => d.boot);
  assert.match(boot.initializeParams.sourceImage, /\/projects\/ubuntu-os-cloud\/.*ubuntu-2404-lts-amd64$/);
  assert.equal(b.tags.items, ['mtls-backend']);
  assert.is(b.networkInterfaces[0].accessConfigs[0].natIP, IP);
  const metadata = Object.fromEntries(b.metadata.items.map((i: any) => [i.key, i.value]));
  assert.is(metadata['startup-script'], readFileSync(join(repoRoot, 'infra/vm/startup.sh'), 'utf8'));
  assert.is(metadata['node-version'], '20.20.2');
  assert.is(metadata['backend-port'], '8443');
  assert.is(metadata['client-auth'], 'need');
  const all = JSON.stringify(b);
  assert.not.match(all, 'changeit');
  assert.not.match(all, 'PRIVATE KEY');
});

test('VM kept from an earlier run: same settings → reused; BACKEND_PORT changed → one line with what differs and how to apply it, nothing changed', async () => {
  const same = await step('33-gcp-vm');
  assert.is(same.code, 0, same.out);
  assert.match(same.out, `gcloud compute instances describe ms-mtls-demo --zone=us-central1-a --project=${PROJECT} --format=json`);
  assert.match(same.out, 'Its metadata and network tag match these settings.');
  const before = fake.requests.length;
  const moved = await step('33-gcp-vm', { BACKEND_PORT: '9445' });
  assert.is.not(moved.code, 0);
  const line = moved.out.split('\n').find((l) => l.includes('✗')) ?? '';
  assert.match(line, 'VM ms-mtls-demo exists with other settings (backend-port 8443 → 9445)');
  assert.match(line, `gcloud compute instances add-metadata ms-mtls-demo --zone=us-central1-a --project=${PROJECT} --metadata=node-version=20.20.2,backend-port=9445,health-port=8081,client-auth=need && gcloud compute instances reset`);
  assert.match(line, withGivenIn('then {given}make vm again, or `{given}make teardown` and {given}make vm'));
  // make vm again runs with the BACKEND_PORT the fix applies.
  assert.match(line, /then (?:\S+ )*BACKEND_PORT=9445 (?:\S+ )*make vm again/);
  assert.ok(fake.requests.slice(before).every((q) => q.method === 'GET' || q.path.endsWith('/instances')), 'the step changed the VM');
});

test('WAIT=0: no polling, but the curl check for the reserved IP is printed', async () => {
  const r = await step('35-gcp-wait-backend');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, 'WAIT=0');
  assert.match(r.out, `check later with: curl --silent --show-error --max-time 5 --cert ${join(certs, 'apigee-client-cert.pem')}`);
  assert.match(r.out, `--cacert ${join(certs, 'ca-cert.pem')} https://${IP}:8443/`);
});

test('teardown without YES and without a terminal refuses and deletes nothing', async () => {
  const r = await step('39-teardown');
  assert.is.not(r.code, 0);
  assert.match(r.out, 'YES=1');
  assert.is(fake.requests.filter((q) => q.method === 'DELETE').length, 0);
});

test('teardown YES=1 deletes VM, firewall rule, address in that order; already-missing ones are fine', async () => {
  // As if an earlier teardown had stopped half-way: the firewall rule is gone already.
  const rule = [...fake.resources.keys()].find((k) => k.endsWith('/firewalls/allow-mtls-8443'));
  assert.ok(rule, 'firewall rule was not created');
  fake.resources.delete(rule);
  const r = await step('39-teardown', { YES: '1' });
  assert.is(r.code, 0, r.out);
  const deletes = fake.requests.filter((q) => q.method === 'DELETE').map((q) => q.path.split('/').slice(-2).join('/'));
  assert.equal(deletes, ['instances/ms-mtls-demo', 'firewalls/allow-mtls-8443', 'addresses/ms-mtls-demo-ip']);
  assert.match(r.out, 'firewall rule allow-mtls-8443: already gone');
  assert.match(r.out, 'deleted VM ms-mtls-demo');
  assert.match(r.out, 'deleted address ms-mtls-demo-ip');
  assert.match(r.out, 'kubectl has no current context');
  assert.not.ok([...fake.resources.keys()].some((k) => /\/(instances|firewalls|addresses)\//.test(k)), 'resources left');
});

test.after(() => fake.close());
test.run();
