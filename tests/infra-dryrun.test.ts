// DRY_RUN=1 make vm / make k8s / make teardown with no account: gcloud, kubectl and docker on
// PATH are stand-ins that record any call (there must be none), every printed command parses as
// shell, the sequence is complete and in order, nothing is written, no password is printed (not
// even as ****); docs/cloud.md holds every command as printed with the defaults. (That each
// printed program and flag is in the step's own source: tests/steps-dryrun.test.ts.) Also: the GCP overlay renders with kustomize, and the kustomization
// heredoc the k8s step prints, pasted into bash with SERVER_HOST set, renders a LoadBalancer on
// that IP with the pushed image.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { parse } from 'dotenv';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { repoRoot } from '../core/config.ts';
import { GIVEN, oneLine, printedCommands, withGiven } from './helpers/printed.ts';
import { tempDir } from './helpers/temp.ts';

const PASSWORD = 'dry-run-store-pw';
const work = tempDir('infra-dry-');
const bin = join(work, 'bin');
const calls = join(work, 'calls.log');
mkdirSync(bin);
writeFileSync(calls, '');
for (const tool of ['gcloud', 'kubectl', 'docker']) {
  writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "${calls}"\nexit 1\n`);
  chmodSync(join(bin, tool), 0o755);
}
const certs = join(work, 'certs');
const runDir = join(work, 'run');
mkdirSync(certs);

const env = {
  ...process.env, PATH: `${bin}:${process.env.PATH}`, DRY_RUN: '1', FORCE_COLOR: '0',
  GCP_PROJECT: 'demo-proj', GCP_ZONE: 'europe-west1-b', CERTS_DIR: certs, RUN_DIR: runDir, STORE_PASSWORD: PASSWORD,
  SERVER_HOST: '127.0.0.1', GCP_SOURCE_RANGES: '', K8S_IMAGE: '', LOCAL_ENV_FILE: join(work, 'local.env'),
  CLOUDSDK_CONFIG: join(work, 'gcloud-config'), KUBECONFIG: join(work, 'kubeconfig'),
};

/** `make -o deps -o certs TARGET`: the target's own recipe, without reinstalling or re-running PKI. */
async function make(target: string, settings: Record<string, string | undefined> = env) {
  const r = await execa('make', ['-s', '--no-print-directory', '-o', 'deps', '-o', 'certs', target], { cwd: repoRoot, env: settings, reject: false });
  return { code: r.exitCode ?? 1, out: `${r.stdout}\n${r.stderr}` };
}

/** The printed commands, each on one line (heredoc bodies kept on theirs). */
const commands = (out: string) => printedCommands(out).map(oneLine);

function assertInOrder(list: string[], patterns: RegExp[]) {
  let at = -1;
  for (const p of patterns) {
    const next = list.findIndex((c, i) => i > at && p.test(c));
    assert.ok(next > at, `missing or out of order: ${p}\n${list.join('\n')}`);
    at = next;
  }
}

function assertShellSyntax(out: string) {
  for (const c of printedCommands(out)) {
    const r = execFileSync('bash', ['-n', '-c', c, 'check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.is(r, '');
  }
}

function assertCommon(out: string) {
  assert.not.match(out, PASSWORD);
  assert.not.ok(printedCommands(out).some((c) => c.includes('****')), 'a masked secret inside a printed command');
  assert.not.match(out, /YOUR_|<[A-Z_]+>|XX\.XX/);
  assert.is(readFileSync(calls, 'utf8'), '', 'a cloud tool was called in a dry run');
  assert.equal(readdirSync(certs), [], 'a dry run wrote certificates');
  assert.not.ok(existsSync(runDir), 'a dry run wrote RUN_DIR');
  assert.not.ok(existsSync(env.LOCAL_ENV_FILE), 'a dry run wrote the local env file');
}

// docs/cloud.md quotes the commands as printed with the committed defaults and GCP_PROJECT=my-project
// (the environment overrides any env/local.env of this checkout).
const documented = {
  ...env, ...parse(readFileSync(join(repoRoot, 'env/defaults.env'))), GCP_PROJECT: 'my-project', DRY_RUN: '1',
  K8S_IMAGE: '', LOCAL_ENV_FILE: env.LOCAL_ENV_FILE,
};
const [vm, k8s, teardown, ...forDocs] = await Promise.all([
  make('vm'), make('k8s'), make('teardown'), make('vm', documented), make('k8s', documented), make('teardown', documented),
]);

/**
 * A printed line without the settings followUp put before the step it names, keeping the step's own
 * `SERVER_HOST="$SERVER_HOST"` (the variable the line before it set).
 */
const withoutGiven = (command: string) =>
  command.replace(new RegExp(`^${GIVEN}`), (given) => given.split(' ').filter((w) => /^([A-Za-z_]\w*)="\$\1"$/.test(w)).map((w) => `${w} `).join(''));

test('DRY_RUN=1 make vm: the complete sequence, in order, valid shell, no account used', () => {
  assert.is(vm.code, 0, vm.out);
  const list = commands(vm.out);
  assertInOrder(list, [
    /^CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token --quiet >\/dev\/null$/,
    /^gcloud compute regions describe europe-west1 --project=demo-proj --format='value\(status\)'$/,
    /^gcloud compute addresses create ms-mtls-demo-ip --region=europe-west1 --project=demo-proj$/,
    /^SERVER_HOST="\$\(gcloud compute addresses describe ms-mtls-demo-ip --region=europe-west1 --project=demo-proj --format='value\(address\)'\)"$/,
    withGiven('{given}SERVER_HOST="$SERVER_HOST" ./scripts/11-server-cert.ts'),
    withGiven('{given}SERVER_HOST="$SERVER_HOST" ./scripts/13-server-stores.ts'),
    /^gcloud compute firewall-rules create allow-mtls-8443 .*--allow=tcp:8443 --target-tags=mtls-backend --source-ranges=0\.0\.0\.0\/0/,
    /^gcloud compute instances create ms-mtls-demo --zone=europe-west1-b --project=demo-proj --machine-type=e2-small --image-family=ubuntu-2404-lts-amd64 --image-project=ubuntu-os-cloud .*--tags=mtls-backend --address=ms-mtls-demo-ip .*--metadata-from-file=startup-script=infra\/vm\/startup\.sh/,
    /^rm -rf \S+\/vm-upload$/,
    /^npx tsc -p backend\/tsconfig\.build\.json --outDir \S+\/vm-upload\/mtls-bundle\/app$/,
    /^cp infra\/vm\/app\/package\.json infra\/vm\/app\/main\.js \S+\/mtls-bundle\/app\/$/,
    /^cp \S+\/server-keystore\.p12 \S+\/server-truststore\.p12 infra\/vm\/install-bundle\.sh \S+\/mtls-bundle\/$/,
    /^gcloud compute scp --recurse --zone=europe-west1-b --project=demo-proj \S+\/mtls-bundle ms-mtls-demo:$/,
    /^gcloud compute ssh ms-mtls-demo .*--command='sudo bash mtls-bundle\/install-bundle\.sh; .*' <<<"\$STORE_PASSWORD"$/,
    /^rm -rf \S+\/vm-upload$/,
    /^SERVER_HOST="\$\(gcloud compute addresses describe ms-mtls-demo-ip /,
    /^curl --silent --show-error --max-time 5 --cert \S+apigee-client-cert\.pem --key \S+apigee-client-key\.pem --cacert \S+ca-cert\.pem https:\/\/"\$SERVER_HOST":8443\/$/,
  ]);
  // Node edits the overrides file (here LOCAL_ENV_FILE's, named as such): said in a comment, not
  // shown as a command that would do something else.
  assert.ok(vm.out.includes(`   # Node sets SERVER_HOST=$SERVER_HOST in ${env.LOCAL_ENV_FILE} (`), vm.out);
  assert.not.ok(list.map(withoutGiven).some((c) => c.includes('local.env')), 'a printed command claims to edit the overrides file');
  assertShellSyntax(vm.out);
  assert.match(vm.out, 'opens the backend port to the whole internet');
  assert.match(vm.out, '/natAddresses');
  assertCommon(vm.out);
});

test('DRY_RUN=1 make k8s: image, Secrets, kustomization, apply, rollout, load balancer address', () => {
  assert.is(k8s.code, 0, k8s.out);
  const list = commands(k8s.out);
  assertInOrder(list, [
    /^kubectl config current-context$/,
    /^gcloud compute addresses create ms-mtls-demo-ip/,
    /^gcloud artifacts repositories create mtls-demo --repository-format=docker --location=europe-west1 --project=demo-proj$/,
    /^gcloud builds submit --config=infra\/cloudbuild\.yaml --substitutions=_IMAGE=europe-west1-docker\.pkg\.dev\/demo-proj\/mtls-demo\/ms-mtls-demo:0\.1\.0 --project=demo-proj \.$/,
    withGiven('{given}./scripts/22-k8s-secrets.ts'),
    /^SERVER_HOST="\$\(gcloud compute addresses describe ms-mtls-demo-ip --region=europe-west1 --project=demo-proj --format='value\(address\)'\)"$/,
    /^mkdir -p \S+k8s-gcp && cat > \S+k8s-gcp\/kustomization\.yaml <<EOF\n/,
    /^kubectl apply --namespace=default -k \S+k8s-gcp$/,
    /^kubectl rollout status deployment\/ms-mtls-demo --namespace=default --timeout=180s$/,
    /^kubectl get service ms-mtls-demo --namespace=default -o 'jsonpath=\{\.status\.loadBalancer\.ingress\[0\]\.ip\}'$/,
  ]);
  assertShellSyntax(k8s.out);
  assertCommon(k8s.out);
});

test('DRY_RUN=1 K8S_BUILD=docker: the image is built and pushed with the local Docker engine', async () => {
  const r = await execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/36-k8s-deploy.ts')], { cwd: repoRoot, env: { ...env, K8S_BUILD: 'docker' }, reject: false });
  assert.is(r.exitCode, 0, r.stderr);
  const list = commands(r.stdout);
  assertInOrder(list, [
    /^gcloud artifacts repositories create mtls-demo /,
    /^gcloud auth configure-docker europe-west1-docker\.pkg\.dev --quiet$/,
    /^docker build -f backend\/Dockerfile -t europe-west1-docker\.pkg\.dev\/demo-proj\/mtls-demo\/ms-mtls-demo:0\.1\.0 \.$/,
    /^docker push europe-west1-docker\.pkg\.dev\/demo-proj\/mtls-demo\/ms-mtls-demo:0\.1\.0$/,
    withGiven('{given}./scripts/22-k8s-secrets.ts'),
  ]);
  assert.not.ok(list.some((c) => c.startsWith('gcloud builds')), 'Cloud Build used with K8S_BUILD=docker');
  assertCommon(r.stdout);
});

test('DRY_RUN=1 make teardown: deletes in reverse order, no question asked, no account used', () => {
  assert.is(teardown.code, 0, teardown.out);
  assertInOrder(commands(teardown.out), [
    /^kubectl delete --namespace=default -k k8s\/overlays\/gcp --ignore-not-found$/,
    /^kubectl delete --namespace=default secret ms-mtls-demo-keystore ms-mtls-demo-truststore ms-mtls-demo-store-passwords --ignore-not-found$/,
    /^gcloud compute instances delete ms-mtls-demo --zone=europe-west1-b --project=demo-proj --quiet$/,
    /^gcloud compute firewall-rules delete allow-mtls-8443 --project=demo-proj --quiet$/,
    /^gcloud compute addresses delete ms-mtls-demo-ip --region=europe-west1 --project=demo-proj --quiet$/,
  ]);
  assertShellSyntax(teardown.out);
  assertCommon(teardown.out);
});

// YAML → objects with kubectl alone: `label --local -o json` parses offline and prints JSON.
function objects(yaml: string): Array<Record<string, any>> {
  const json = execFileSync('kubectl', ['label', '--local', '--overwrite', '-f', '-', '-o', 'json', 'infra-test=1'], { input: yaml, encoding: 'utf8' });
  return json.split(/^(?=\{)/m).filter((s) => s.trim()).map((s) => JSON.parse(s));
}

test('k8s/overlays/gcp renders a valid passthrough LoadBalancer Service', () => {
  const rendered = objects(execFileSync('kubectl', ['kustomize', join(repoRoot, 'k8s/overlays/gcp')], { encoding: 'utf8' }));
  const service = rendered.find((o) => o.kind === 'Service')!;
  assert.is(service.spec.type, 'LoadBalancer');
  assert.is(service.spec.externalTrafficPolicy, 'Local');
  assert.is(service.spec.ports[0].port, 8443);
  new Service(service as never).validate();
});

test('docs/cloud.md holds every command the cloud steps print with the default settings', () => {
  const docs = readFileSync(join(repoRoot, 'docs/cloud.md'), 'utf8').replace(/\s*\\\n\s*/g, ' ');
  for (const run of forDocs) {
    assert.is(run.code, 0, run.out);
    // A line naming another step carries the settings the run was given (followUp); the docs show
    // it as a reader with the defaults sees it, without them.
    for (const command of commands(run.out).map(withoutGiven)) assert.ok(docs.includes(command), `docs/cloud.md lacks: ${command}`);
  }
});

test('the printed kustomization, pasted into bash with SERVER_HOST set, renders the static IP, source ranges and the image', () => {
  const heredoc = printedCommands(k8s.out).find((c) => c.includes('<<EOF'))!;
  execFileSync('bash', ['-euc', heredoc], { cwd: repoRoot, env: { ...env, SERVER_HOST: '198.51.100.20' } });
  const rendered = objects(execFileSync('kubectl', ['kustomize', join(runDir, 'k8s-gcp')], { encoding: 'utf8' }));
  const service = rendered.find((o) => o.kind === 'Service')!;
  const deployment = rendered.find((o) => o.kind === 'Deployment')!;
  assert.is(service.spec.type, 'LoadBalancer');
  assert.is(service.spec.loadBalancerIP, '198.51.100.20');
  assert.equal(service.spec.loadBalancerSourceRanges, ['0.0.0.0/0']);
  assert.is(deployment.spec.template.spec.containers[0].image, 'europe-west1-docker.pkg.dev/demo-proj/mtls-demo/ms-mtls-demo:0.1.0');
  new Service(service as never).validate();
  new Deployment(deployment as never).validate();
});

test.run();
