// What a newcomer sees when the cloud is not ready: the real gcloud and kubectl, run by the steps,
// with no account, an API host that refuses connections, a server that answers 401/403 in
// Google's error envelope, one that never answers, and a cluster that is missing or unreachable.
// Each failure must be one line that says what to do, exit ≠ 0, no token in the output, and a
// step that failed half-way must converge when run again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { startFakeCompute } from './helpers/fake-compute.ts';
import { tempDir } from './helpers/temp.ts';
import { withGivenIn } from './helpers/printed.ts';

const TOKEN = 'ya29.token-that-must-not-leak';
const work = tempDir('infra-cli-errors-');
const certs = join(work, 'certs');
cpSync((await pkiFixture()).pki, certs, { recursive: true });
writeFileSync(join(work, 'token'), TOKEN);
writeFileSync(join(work, 'empty-kubeconfig'), '');
writeFileSync(join(work, 'unreachable-kubeconfig'), `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: kube-token-that-must-not-leak}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`);

// /401/… and /403/… answer in Google's envelope; /silent/… never answers.
const hung: ServerResponse[] = [];
const errors = createServer((req, res) => {
  const mode = (req.url ?? '').split('/')[1];
  if (mode === 'silent') return void hung.push(res);
  const status = mode === '401' ? 401 : 403;
  const message = status === 401
    ? 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'
    : "Required 'compute.firewalls.create' permission for 'projects/demo-proj/global/firewalls/allow-mtls-8443'";
  const body = JSON.stringify({ error: { code: status, message, status: status === 401 ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED', errors: [{ message, domain: 'global', reason: 'forbidden' }] } });
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(body);
});
await new Promise<void>((resolve) => errors.listen(0, '127.0.0.1', resolve));
const errorsBase = `http://127.0.0.1:${(errors.address() as AddressInfo).port}`;
const fake = await startFakeCompute();

const signedIn = { CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: join(work, 'token') };
let configs = 0;
async function step(name: string, extra: Record<string, string>) {
  const config = join(work, `gcloud-${++configs}`); // a fresh gcloud config: no account, no project
  mkdirSync(config);
  const result = await execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', `${name}.ts`)], {
    cwd: repoRoot, reject: false, input: '',
    env: {
      ...fixtureEnv(certs), RUN_DIR: join(work, 'run'), LOCAL_ENV_FILE: join(work, 'local.env'), GCP_PROJECT: 'demo-proj',
      GCP_SOURCE_RANGES: '198.51.100.7/32', CLOUDSDK_CONFIG: config, CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      KUBECONFIG: join(work, 'empty-kubeconfig'), ...extra,
    },
  });
  const out = `${result.stdout}\n${result.stderr}`;
  assert.not.match(out, TOKEN);
  assert.not.match(out, 'token-that-must-not-leak');
  return { code: result.exitCode ?? 1, out, error: result.stderr.trim() };
}

// The independent failures run side by side (gcloud takes seconds to start); the tests read them.
const silent = `${errorsBase}/silent/compute/v1/`;
const [noAccount, refused, unauthorized, timedOut, noCluster, unreachableCluster] = await Promise.all([
  step('31-gcp-address', {}),
  step('31-gcp-address', { ...signedIn, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: 'https://127.0.0.1:1/compute/v1/' }),
  step('30-gcp-preflight', { ...signedIn, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: `${errorsBase}/401/compute/v1/` }),
  step('31-gcp-address', { ...signedIn, CLOUDSDK_CORE_HTTP_TIMEOUT: '2', CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: silent }),
  step('22-k8s-secrets', {}),
  step('22-k8s-secrets', { KUBECONFIG: join(work, 'unreachable-kubeconfig') }),
]);

/** The step's error: one line, starting with ✗, that contains every expected piece. */
function oneLineError(r: { code: number; error: string; out: string }, ...pieces: Array<string | RegExp>) {
  assert.is.not(r.code, 0, r.out);
  const lines = r.error.split('\n').filter((line) => line.startsWith('✗'));
  assert.is(lines.length, 1, r.out);
  assert.not.match(r.error, '\n', `the error spans lines: ${r.error}`);
  for (const piece of pieces) assert.match(lines[0]!, piece);
  return lines[0]!;
}

test('no gcloud account: the address step says to run gcloud auth login (not gcloud\'s last line)', async () => {
  const line = oneLineError(noAccount, 'gcloud compute addresses create ms-mtls-demo-ip', 'gcloud has no signed-in account', 'run `gcloud auth login`');
  assert.not.match(line, 'to select an already authenticated account');
});

test('an API host that refuses connections: where, why and what to check, not "gcloud info --run-diagnostics" alone', async () => {
  oneLineError(refused, 'cannot reach 127.0.0.1:1 (Connection refused)', 'CLOUDSDK_API_ENDPOINT_OVERRIDES_');
});

test('a refused token (401 in Google\'s envelope): pre-flight names the cause and gcloud auth login', async () => {
  assert.is.not(unauthorized.code, 0);
  assert.match(unauthorized.out, /! Compute Engine API check failed: the API refused gcloud's credentials \(.*invalid authentication credentials.*\); run `gcloud auth login`/);
});

test('a server that never answers: gcloud\'s read timeout becomes one line naming the host and the wait', async () => {
  oneLineError(timedOut, `${errorsBase.slice('http://'.length)} did not answer within 2 s`, 'check the network');
});

test('403 on the firewall rule: the permission, one line (the multi-line command is named on one), then a re-run converges', async () => {
  const denied = await step('32-gcp-firewall', { ...signedIn, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: `${errorsBase}/403/compute/v1/` });
  oneLineError(denied, 'gcloud compute firewall-rules create allow-mtls-8443 --project=demo-proj --network=default --direction=INGRESS --allow=tcp:',
    'your account lacks the permission compute.firewalls.create', 'roles/compute.admin', 'run this step again after the fix', withGivenIn('`{given}make teardown`'));
  assert.is(fake.requests.length, 0);
  const created = await step('32-gcp-firewall', { ...signedIn, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: fake.endpoint });
  assert.is(created.code, 0, created.out);
  const again = await step('32-gcp-firewall', { ...signedIn, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE: fake.endpoint });
  assert.is(again.code, 0, again.out);
  assert.match(again.out, 'firewall rule allow-mtls-8443');
  assert.match(again.out, 'It already allows tcp:8443');
  assert.is(fake.requests.filter((q) => q.method === 'PATCH').length, 0);
  assert.is([...fake.resources.keys()].filter((k) => k.includes('/firewalls/')).length, 1);
});

test('kubectl without a cluster: the Secrets step says there is no context, not "turn validation off"', async () => {
  const line = oneLineError(noCluster, 'kubectl has no cluster to talk to', 'gcloud container clusters get-credentials');
  assert.not.match(line, '--validate=false');
});

test('kubectl with an unreachable cluster: the API address and the cause, no credentials', async () => {
  oneLineError(unreachableCluster, 'cannot reach the Kubernetes API at https://127.0.0.1:1 (connection refused)', 'kubectl config current-context');
  assert.not.match(unreachableCluster.out, 'kube-token-that-must-not-leak');
});

test.after(async () => {
  for (const res of hung) res.destroy();
  await new Promise<void>((resolve) => errors.close(() => resolve()));
  await fake.close();
});
test.run();
