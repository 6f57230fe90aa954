// What the cloud steps print is what they run. Each step runs once for real and once with
// DRY_RUN=1 against stand-ins for gcloud, kubectl and curl that record every call (arguments and
// stdin). The dry run's printed commands, pasted in order into one bash in the repository root,
// must make exactly the calls the real run made: the same argv, the store password arriving on
// the same stdin, and the values only a real run knows (the project, the reserved IP) passed on
// through the printed NAME="$(…)" lines.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { printedCommands } from './helpers/printed.ts';
import { tempDir } from './helpers/temp.ts';

const IP = '203.0.113.77';
const PROJECT = 'paste-proj';
const work = tempDir('infra-paste-');
const bin = join(work, 'bin');
mkdirSync(bin);
// One recorder for every tool: program, arguments and stdin, fields split by \x1f, calls by \x1e.
// stdin is read first and the record written at once, so the two ends of a pipeline never mix.
writeFileSync(join(bin, 'record'), `#!/usr/bin/env bash
input=$(cat)
record=$(printf '%s' "\${0##*/}"; printf '\\x1f%s' "$@"; printf '\\x1fstdin=%s\\x1e' "$input")
printf '%s' "$record" >> "$CALLS"
case "\${0##*/} $*" in
  "gcloud config get-value project") echo ${PROJECT} ;;
  "gcloud compute addresses describe "*) echo ${IP} ;;
  "kubectl config current-context") echo paste-context ;;
  "kubectl get service "*) echo ${IP} ;;
  curl\\ *) echo 'Hello, secure world with mTLS!' ;;
esac
`, { mode: 0o755 });
for (const tool of ['gcloud', 'kubectl', 'curl']) symlinkSync(join(bin, 'record'), join(bin, tool));

const { pki } = await pkiFixture();
/** The step's CERTS_DIR, a fresh copy of the fixture PKI before each run (paths stay the same). */
const certs = (step: string) => {
  const dir = join(work, `certs-${step}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(pki, dir, { recursive: true });
  return dir;
};
const base = {
  ...process.env, ...fixtureEnv(''), PATH: `${bin}:${process.env.PATH}`, FORCE_COLOR: '0',
  GCP_PROJECT: '', GCP_ZONE: 'europe-west1-b', GCP_SOURCE_RANGES: '198.51.100.7/32,203.0.113.0/24', GCP_SSH_IAP: '1',
  RUN_DIR: join(work, 'run'), LOCAL_ENV_FILE: join(work, 'local.env'), WAIT: '1', YES: '1', K8S_IMAGE: '',
  CLOUDSDK_CONFIG: join(work, 'gcloud-config'), KUBECONFIG: join(work, 'kubeconfig'),
};

interface Call { argv: string[]; stdin: string }
function calls(file: string): Call[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\x1e').filter(Boolean).map((record) => {
    const fields = record.split('\x1f');
    return { argv: fields.slice(0, -1), stdin: fields.at(-1)!.replace(/^stdin=/, '') };
  });
}

let counter = 0;
/** Runs one step (or, with `paste`, bash on the given commands) and returns its output and calls. */
async function record(extra: Record<string, string>, step: string, args: string[], paste?: string[]) {
  const log = join(work, `calls-${++counter}.log`);
  const env = { ...base, ...extra, CALLS: log };
  const result = paste
    ? await execa('bash', ['-euo', 'pipefail', '-c', paste.join('\n')], { cwd: repoRoot, env, stdin: 'ignore', reject: false })
    : await execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', `${step}.ts`), ...args], { cwd: repoRoot, env, stdin: 'ignore', reject: false });
  return { code: result.exitCode ?? 1, out: `${result.stdout}\n${result.stderr}`, calls: calls(log) };
}

const namesIp = (certsDir: string) => new X509Certificate(readFileSync(join(certsDir, 'server-cert.pem'))).checkIP(IP) === IP;

/**
 * Real run and dry run side by side (a dry run reads and writes nothing), then the dry run's
 * printed commands pasted into bash; each from a fresh copy of the fixture PKI. `inspect` looks at
 * what the real run and the paste left behind.
 */
async function runThrice<T>(step: string, args: string[] = [], extra: Record<string, string> = {}, inspect?: (certsDir: string) => T) {
  const dir = certs(step);
  const settings = { ...extra, CERTS_DIR: dir };
  const [real, dry] = await Promise.all([record(settings, step, args), record({ ...settings, DRY_RUN: '1' }, step, args)]);
  const afterReal = inspect?.(dir);
  certs(step);
  const commands = printedCommands(dry.out);
  const pasted = await record(settings, step, args, commands);
  return { real, dry, pasted, commands, inspected: [afterReal, inspect?.(dir)] };
}

const kustomization = () => readFileSync(join(base.RUN_DIR, 'k8s-gcp', 'kustomization.yaml'), 'utf8');

// The steps are independent of one another (own CERTS_DIR and call logs), so they run at once.
const PASSWORD = `p a"s$s'w\\rd`;
const [preflight, address, firewall, vm, install, wait, deploy, teardown] = await Promise.all([
  runThrice('30-gcp-preflight', ['--k8s']), runThrice('31-gcp-address', [], {}, namesIp), runThrice('32-gcp-firewall'),
  runThrice('33-gcp-vm'), runThrice('34-gcp-install-backend', [], { STORE_PASSWORD: PASSWORD }), runThrice('35-gcp-wait-backend'),
  runThrice('36-k8s-deploy', [], {}, kustomization), runThrice('39-teardown'),
]);

/** All three runs succeeded, the dry run called nothing, and the paste made the real run's calls. */
function assertSameCalls(run: Awaited<ReturnType<typeof runThrice<unknown>>>) {
  assert.is(run.real.code, 0, run.real.out);
  assert.is(run.dry.code, 0, run.dry.out);
  assert.equal(run.dry.calls, [], 'the dry run called a tool');
  assert.is(run.pasted.code, 0, run.pasted.out);
  assert.ok(run.real.calls.length > 0, 'the real run called nothing');
  assert.equal(run.pasted.calls, run.real.calls, `pasted:\n${run.commands.join('\n')}`);
}

test('30 pre-flight --k8s: the same checks, with the project gcloud is configured with', () => {
  assertSameCalls(preflight);
  assert.equal(preflight.real.calls.map((c) => c.argv.slice(0, 3).join(' ')), [
    'gcloud auth print-access-token', 'gcloud config get-value', 'gcloud compute regions', 'kubectl config current-context',
  ]);
  assert.ok(preflight.real.calls[2]!.argv.includes(`--project=${PROJECT}`));
});

test('31 address: the reserved IP reaches the certificate steps through SERVER_HOST="$(…)"', () => {
  assertSameCalls(address);
  assert.match(address.dry.out, 'SERVER_HOST="$SERVER_HOST" ./scripts/11-server-cert.ts');
  assert.match(address.real.out, `SERVER_HOST=${IP} ./scripts/11-server-cert.ts`);
  assert.equal(address.inspected, [true, true], 'the server certificate does not name the reserved IP (after the real run, after the paste)');
});

test('32 firewall rule and 33 VM: the same create commands, comma lists and metadata included', () => {
  assertSameCalls(firewall);
  assert.ok(firewall.real.calls[1]!.argv.includes('--source-ranges=198.51.100.7/32,203.0.113.0/24'));
  assertSameCalls(vm);
  assert.ok(vm.real.calls[1]!.argv.includes('--metadata=node-version=20.20.2,backend-port=8443,health-port=8081,client-auth=need'));
});

test('34 install: scp and ssh the same way, the store password on the SSH stdin, never printed', () => {
  assertSameCalls(install);
  const ssh = install.real.calls.find((c) => c.argv[2] === 'ssh')!;
  assert.is(ssh.stdin, PASSWORD);
  assert.ok(ssh.argv.includes('--tunnel-through-iap'));
  assert.ok(install.real.calls.every((c) => !c.argv.some((a) => a.includes(PASSWORD))), 'the password on a command line');
  for (const out of [install.real.out, install.dry.out, install.pasted.out]) assert.not.match(out, PASSWORD);
});

test('36 deploy: image, Secrets (step 22), the same kustomization from Node and from the heredoc, apply, rollout', () => {
  assertSameCalls(deploy);
  const [written, pasted] = deploy.inspected as [string, string];
  assert.is(pasted, written, 'the printed heredoc writes another file than Node');
  assert.match(written, `value: "${IP}"`);
  assert.match(written, `newName: europe-west1-docker.pkg.dev/${PROJECT}/mtls-demo/ms-mtls-demo`);
  const programs = deploy.real.calls.map((c) => c.argv.slice(0, 3).join(' '));
  assert.ok(programs.includes('gcloud builds submit'), programs.join('\n'));
  assert.ok(programs.filter((p) => p === 'kubectl create secret').length === 3, programs.join('\n'));
  assert.equal(programs.slice(-3), ['kubectl apply --namespace=default', 'kubectl rollout status', 'kubectl get service']);
});

test('35 wait and 39 teardown: the same curl, and the same deletes in the same order', () => {
  assertSameCalls(wait);
  assert.ok(wait.real.calls.at(-1)!.argv.includes(`https://${IP}:8443/`));
  assertSameCalls(teardown);
  assert.equal(teardown.real.calls.map((c) => c.argv.slice(0, 4).join(' ')), [
    'gcloud config get-value project', 'kubectl config current-context', 'kubectl delete --namespace=default -k',
    'kubectl delete --namespace=default secret', 'gcloud compute instances delete', 'gcloud compute firewall-rules delete',
    'gcloud compute addresses delete',
  ]);
});

test.run();
