// What the cloud steps print is what they run. Each step runs once for real and once with
// DRY_RUN=1 against stand-ins for gcloud, kubectl and curl that record every call (arguments and
// stdin). The dry run's printed commands, pasted in order into one bash in the repository root,
// must make exactly the calls the real run made: the same argv, the store password arriving on
// the same stdin, and the values only a real run knows (the project, the reserved IP) passed on
// through the printed NAME="$(…)" lines. The local steps' by-hand lines (pid file, log, zip, the
// gateway call) are pasted too, with CERTS_DIR and RUN_DIR in a folder named with a space and a ñ.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { printedCommands, printedCommandsIn, shellSegments } from './helpers/printed.ts';
import { requireCommand } from './helpers/tools.ts';
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

// The lines a step prints beside its `$ ` commands for a reader to type (the pid file of a detached
// service, its log, the zip of the bundle, the gateway call of step 48) name RUN_DIR and CERTS_DIR
// too; in a folder like this one they pasted as several words before they were quoted.
const local = join(tempDir('paste-local-'), 'dir con ñ');
const localEnv = { ...base, CERTS_DIR: join(local, 'pki'), RUN_DIR: join(local, 'run'), DRY_RUN: '1', APIGEE_TARGET: 'local' };
cpSync(pki, localEnv.CERTS_DIR, { recursive: true });
/** A dry run (or, given settings, a real run) of a local step from `work` (its paths print in full), its output. */
async function runLocal(step: string, args: string[] = [], real?: Record<string, string>): Promise<string> {
  // The script itself (its first line finds the repository's tsx), as a reader starts it from elsewhere.
  const run = await execa(join(repoRoot, 'scripts', `${step}.ts`), args, { cwd: work, env: real ? { ...localEnv, ...real, DRY_RUN: '0' } : localEnv, stdin: 'ignore', reject: false });
  assert.is(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
  return String(run.stdout);
}
/** The text after `label` on a printed line, e.g. the by-hand command in a comment. */
const after = (out: string, label: RegExp) => {
  const m = label.exec(out);
  assert.ok(m, `${label} not printed:\n${out}`);
  return m![1]!;
};
const freePort = () => new Promise<number>((done) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as AddressInfo;
    probe.close(() => done(port));
  });
});
const pasteIn = (cwd: string, script: string) => execa('bash', ['-euo', 'pipefail', '-c', script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: work }, extendEnv: false, reject: false });

test('20 --detach: the by-hand pid line, pasted where the command runs, writes RUN_DIR/backend.pid; tail -f names RUN_DIR/backend.log', async () => {
  const out = await runLocal('20-backend', ['--detach']);
  const byHand = after(out, /\(by hand: (echo \$! > .+)\)$/m);
  const started = printedCommandsIn(out).find((c) => c.command.includes('backend/main.ts'))!;
  mkdirSync(localEnv.RUN_DIR, { recursive: true });
  const shell = await pasteIn(resolve(work, started.dir ?? '.'), `sleep 0 & ${byHand}`);
  assert.is(shell.exitCode, 0, String(shell.stderr));
  assert.ok(existsSync(join(localEnv.RUN_DIR, 'backend.pid')), `no pid file from: ${byHand}`);
  rmSync(join(localEnv.RUN_DIR, 'backend.pid'));
  // The log line comes after a real start only: one on free ports, stopped at once.
  const ports = { BACKEND_PORT: String(await freePort()), BACKEND_HEALTH_PORT: String(await freePort()) };
  const real = await runLocal('20-backend', ['--detach'], ports);
  await runLocal('20-backend', ['--stop'], ports);
  const [tail] = shellSegments(after(real, /follow its JSON log: (tail -f .+)$/m));
  assert.equal(tail!.slice(0, 2), ['tail', '-f']);
  assert.equal(tail!.slice(2).map((p) => resolve(work, p)), [join(localEnv.RUN_DIR, 'backend.log')]);
});

test('41: the by-hand zip line makes RUN_DIR/api-mtls-test.zip from the rendered bundle', async () => {
  requireCommand('zip');
  const out = await runLocal('41-proxy-bundle');
  const byHand = after(out, /\(by hand: (\(cd .+ apiproxy\))\)$/m);
  const rendered = join(localEnv.RUN_DIR, 'bundle', 'apiproxy');
  mkdirSync(rendered, { recursive: true });
  writeFileSync(join(rendered, 'api-mtls-test.xml'), '<APIProxy name="api-mtls-test"/>\n');
  const shell = await pasteIn(work, byHand);
  assert.is(shell.exitCode, 0, String(shell.stderr));
  assert.ok(existsSync(join(localEnv.RUN_DIR, 'api-mtls-test.zip')), `no zip from: ${byHand}`);
});

test('48: the curl after each change is, word for word, the gateway call step 47 runs', async () => {
  const [out, call] = await Promise.all([runLocal('48-gateway-failures'), runLocal('47-call-gateway')]);
  const explained = shellSegments(after(out, /after each change: (curl .+)$/m));
  const run = printedCommands(call).find((c) => c.startsWith('curl -sS -v'));
  assert.ok(run, call);
  assert.equal(explained, shellSegments(run!));
  assert.ok(explained[0]!.includes(join(localEnv.CERTS_DIR, 'ca-cert.pem')), explained.join(' '));
});

test.run();
