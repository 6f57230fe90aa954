// infra/vm/startup.sh and install-bundle.sh: shellcheck-clean, and run for real in a temporary
// root (ROOT=…) with stand-ins on PATH for the commands that would change the machine (apt-get,
// useradd, chown, systemctl, sudo) or reach the network (curl: metadata server, nodejs.org). Then
// scripts/34 runs for real against a stand-in gcloud whose `compute scp` copies into a folder
// playing the VM user's home and whose `compute ssh` runs --command there with stdin passed on:
// the bundle it builds is installed into that root, and the compiled backend is started from that
// layout and answers an mTLS request.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { fixtureEnv, pkiFixture } from './helpers/fixtures.ts';
import { requireCommand } from './helpers/tools.ts';
import { freePort } from './helpers/ports.ts';
import { tempDir } from './helpers/temp.ts';

const STARTUP = join(repoRoot, 'infra/vm/startup.sh');
const INSTALL = join(repoRoot, 'infra/vm/install-bundle.sh');
const NODE_VERSION = '20.20.2';
const work = tempDir('infra-vm-');
const { pki } = await pkiFixture();

// --- stand-ins -------------------------------------------------------------------------------
const bin = join(work, 'bin');
mkdirSync(bin);
const shim = (name: string, body: string) => {
  writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
};
shim('apt-get', 'echo "apt-get $*" >> "$SHIM_LOG"');
shim('useradd', 'echo "useradd $*" >> "$SHIM_LOG"; touch "$SHIM_STATE/user"');
shim('id', '[ -e "$SHIM_STATE/user" ]');
shim('chown', 'echo "chown $*" >> "$SHIM_LOG"');
shim('systemctl', 'echo "systemctl $*" >> "$SHIM_LOG"');
shim('journalctl', 'echo "journalctl $*" >> "$SHIM_LOG"');
shim('sleep', ':');
shim('sudo', 'exec "$@"');
// gcloud compute scp --recurse … SRC VM: copies SRC into $FAKE_VM_HOME;
// gcloud compute ssh VM … --command=CMD   runs CMD with bash in $FAKE_VM_HOME, stdin passed on.
shim('gcloud', `echo "gcloud $*" >> "$SHIM_LOG"
case "$2" in
  scp) for arg; do case "$arg" in *:) cp -R "$source" "$FAKE_VM_HOME/" ;; esac; source=$arg; done ;;
  ssh) for arg; do case "$arg" in --command=*) command=\${arg#--command=} ;; esac; done
       cd "$FAKE_VM_HOME" && exec bash -c "$command" ;;
  *) exit 1 ;;
esac`);
// curl: metadata attributes from $FAKE_METADATA/<name>, the Node tarball and its SHASUMS256.txt.
shim('curl', `out=; url=
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift 2 ;; http*) url=$1; shift ;; *) shift ;; esac; done
echo "curl $url" >> "$SHIM_LOG"
case "$url" in
  http://metadata.google.internal/*) f="$FAKE_METADATA/\${url##*/}"; [ -e "$f" ] || exit 22; cat "$f" ;;
  *.tar.xz) cp "$FAKE_TARBALL" "$out" ;;
  */SHASUMS256.txt) cp "$FAKE_SHASUMS" "$out" ;;
  *) exit 6 ;;
esac`);

// A stand-in Node release: bin/node only answers --version.
const release = join(work, 'release');
const nodeDir = join(release, `node-v${NODE_VERSION}-linux-x64`);
mkdirSync(join(nodeDir, 'bin'), { recursive: true });
writeFileSync(join(nodeDir, 'bin', 'node'), `#!/bin/sh\necho v${NODE_VERSION}\n`, { mode: 0o755 });
const tarball = join(work, 'node.tar.xz');
await execa('tar', ['-cJf', tarball, '-C', release, `node-v${NODE_VERSION}-linux-x64`]);
const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex');
const shasums = (hash: string) => {
  const file = join(work, `SHASUMS-${hash.slice(0, 8)}.txt`);
  const lines = ['x64', 'arm64'].map((arch) => `${hash}  node-v${NODE_VERSION}-linux-${arch}.tar.xz`);
  writeFileSync(file, ['0'.repeat(64) + `  node-v${NODE_VERSION}.tar.gz`, ...lines, ''].join('\n'));
  return file;
};

interface Machine { root: string; log: string; state: string; metadata: string }
function machine(metadata: Record<string, string> = {}): Machine {
  const root = mkdtempSync(join(work, 'root-'));
  const m = { root, log: join(root, '..', `${root.split('/').pop()}.log`), state: mkdtempSync(join(work, 'state-')), metadata: mkdtempSync(join(work, 'meta-')) };
  writeFileSync(m.log, '');
  for (const [k, v] of Object.entries({ 'node-version': NODE_VERSION, 'backend-port': '8443', 'health-port': '8081', 'client-auth': 'need', ...metadata })) {
    writeFileSync(join(m.metadata, k), v);
  }
  return m;
}
const machineEnv = (m: Machine) => ({
  PATH: `${bin}:${process.env.PATH}`, ROOT: m.root, SHIM_LOG: m.log, SHIM_STATE: m.state, FAKE_METADATA: m.metadata,
  FAKE_TARBALL: tarball, FAKE_SHASUMS: shasums(sha),
});
function runAs(m: Machine, script: string, extra: Record<string, string> = {}, input = '') {
  return execa('bash', [script], { reject: false, input, env: { ...machineEnv(m), ...extra } });
}
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
const shimLog = (m: Machine) => readFileSync(m.log, 'utf8').split('\n').filter(Boolean);

// --- tests -----------------------------------------------------------------------------------
test('shellcheck: both VM scripts are clean', async () => {
  requireCommand('shellcheck');
  const r = await execa('shellcheck', ['--severity=style', STARTUP, INSTALL], { reject: false });
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
});

// Module-level stages run before uvu starts the tests, so each stage keeps its own log.
const vm = machine();
const first = await runAs(vm, STARTUP);
const firstLog = shimLog(vm);

test('startup.sh: packages, Node from the checked tarball, system user, layout and modes', () => {
  assert.is(first.exitCode, 0, first.stdout + first.stderr);
  const log = firstLog;
  assert.ok(log.some((l) => /^apt-get install -y .*ca-certificates curl xz-utils/.test(l)), log.join('\n'));
  assert.ok(log.includes(`curl https://nodejs.org/dist/v${NODE_VERSION}/SHASUMS256.txt`), log.join('\n'));
  assert.is(readFileSync(join(vm.root, 'opt/node/bin/node'), 'utf8').includes(NODE_VERSION), true);
  assert.ok(log.includes('useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mtls-backend'), log.join('\n'));
  assert.is(mode(join(vm.root, 'opt/mtls-backend')), '755');
  assert.is(mode(join(vm.root, 'etc/mtls-backend')), '750');
  assert.ok(log.includes(`chown root:mtls-backend ${vm.root}/etc/mtls-backend`));
  assert.is(mode(join(vm.root, 'etc/mtls-backend/runtime.env')), '640');
  const runtime = readFileSync(join(vm.root, 'etc/mtls-backend/runtime.env'), 'utf8');
  assert.match(runtime, /^PORT=8443$/m);
  assert.match(runtime, /^SERVER_SSL_KEYSTORE=\/etc\/mtls-backend\/server-keystore\.p12$/m);
  assert.match(runtime, /^SERVER_SSL_CLIENTAUTH=need$/m);
  assert.not.match(runtime, /PASSWORD/);
  assert.ok(existsSync(join(vm.root, 'etc/mtls-backend/provisioned')));
});

test('startup.sh: a hardened unit running node as the service user, enabled but not started without stores', () => {
  const unitPath = join(vm.root, 'etc/systemd/system/mtls-backend.service');
  assert.is(mode(unitPath), '644');
  const unit = readFileSync(unitPath, 'utf8');
  assert.not.match(unit, work, 'the test root leaked into the unit');
  for (const line of [
    'User=mtls-backend', 'ExecStart=/opt/node/bin/node /opt/mtls-backend/app/main.js',
    'EnvironmentFile=/etc/mtls-backend/runtime.env', 'EnvironmentFile=/etc/mtls-backend/secrets.env',
    'ConditionPathExists=/etc/mtls-backend/server-keystore.p12', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
    'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'SystemCallFilter=@system-service', 'SystemCallErrorNumber=EPERM', 'Restart=on-failure', 'WantedBy=multi-user.target',
  ]) assert.ok(unit.split('\n').includes(line), `unit lacks ${line}`);
  assert.not.ok(unit.split('\n').includes('MemoryDenyWriteExecute=yes'), 'V8 needs W+X pages');
  const log = firstLog;
  assert.ok(log.includes('systemctl daemon-reload'));
  assert.ok(log.includes('systemctl enable mtls-backend.service'));
  assert.not.ok(log.some((l) => l.startsWith('systemctl restart')), 'started without stores');
});

test('startup.sh refuses a tarball whose checksum does not match, and installs no Node', async () => {
  const m = machine();
  const r = await runAs(m, STARTUP, { FAKE_SHASUMS: shasums('f'.repeat(64)) });
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, 'checksum mismatch');
  assert.not.ok(existsSync(join(m.root, 'opt/node')));
});

test('startup.sh refuses bad metadata before writing anything', async () => {
  const m = machine({ 'client-auth': 'maybe' });
  const r = await runAs(m, STARTUP);
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, "client-auth 'maybe' must be need, want or none");
  assert.not.ok(existsSync(join(m.root, 'etc')));
  assert.is(shimLog(m).filter((l) => !l.startsWith('curl http://metadata')).length, 0);
});

test('install-bundle.sh refuses an upload without the stores', async () => {
  const bundle = mkdtempSync(join(work, 'partial-'));
  mkdirSync(join(bundle, 'app'));
  writeFileSync(join(bundle, 'app/main.js'), '');
  cpSync(INSTALL, join(bundle, 'install-bundle.sh'));
  const r = await runAs(vm, join(bundle, 'install-bundle.sh'));
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, 'the upload lacks server-keystore.p12');
});

// Step 34 for real: its bundle goes through the stand-in gcloud into the provisioned root.
const vmHome = mkdtempSync(join(work, 'home-'));
const runDir = mkdtempSync(join(work, 'run-'));
writeFileSync(vm.log, '');
const installed = await execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/34-gcp-install-backend.ts')], {
  cwd: repoRoot, reject: false, input: '',
  env: { ...fixtureEnv(pki), ...machineEnv(vm), FAKE_VM_HOME: vmHome, RUN_DIR: runDir, GCP_PROJECT: 'demo-proj', GCP_SSH_IAP: '0' },
});
const installLog = shimLog(vm);

test('step 34: the bundle reaches the VM over scp, the installer gets the password on stdin, both copies are removed', () => {
  assert.is(installed.exitCode, 0, installed.stdout + installed.stderr);
  const output = installed.stdout + installed.stderr;
  assert.not.match(output, 'changeit');
  assert.match(output, `--command='sudo bash mtls-bundle/install-bundle.sh; status=$?; rm -rf mtls-bundle; exit $status' <<<"$STORE_PASSWORD"`);
  assert.match(output, 'backend installed and running on ms-mtls-demo');
  const gcloud = installLog.filter((l) => l.startsWith('gcloud '));
  assert.is(gcloud.length, 2, gcloud.join('\n'));
  assert.match(gcloud[0]!, /^gcloud compute scp --recurse --zone=us-central1-a --project=demo-proj .*\/vm-upload\/mtls-bundle ms-mtls-demo:$/);
  assert.match(gcloud[1]!, /^gcloud compute ssh ms-mtls-demo --zone=us-central1-a --project=demo-proj --command=sudo bash mtls-bundle\/install-bundle\.sh;/);
  assert.equal(readdirSync(vmHome), [], 'the upload is still on the VM');
  assert.not.ok(existsSync(join(runDir, 'vm-upload')), 'the local upload folder is still there');
});

/** An upload with empty stand-ins for the files install-bundle.sh expects. */
function stubUpload(): string {
  const upload = join(mkdtempSync(join(work, 'stub-')), 'mtls-bundle');
  mkdirSync(join(upload, 'app'), { recursive: true });
  for (const f of ['app/main.js', 'app/package.json', 'server-keystore.p12', 'server-truststore.p12']) writeFileSync(join(upload, f), '');
  cpSync(INSTALL, join(upload, 'install-bundle.sh'));
  return join(upload, 'install-bundle.sh');
}

test('install-bundle.sh writes the password for systemd: quotes, backslashes and $ survive', async () => {
  const m = machine();
  assert.is((await runAs(m, STARTUP)).exitCode, 0);
  const password = 'a\\b"c$d e\'f';
  const r = await runAs(m, stubUpload(), {}, `${password}\n`);
  assert.is(r.exitCode, 0, r.stderr);
  const secrets = environmentFile(join(m.root, 'etc/mtls-backend/secrets.env'));
  assert.is(secrets.SERVER_SSL_KEYSTOREPASSWORD, password);
  assert.is(secrets.SERVER_SSL_TRUSTSTOREPASSWORD, password);
  assert.not.match(r.stdout + r.stderr, password);
});

test('install-bundle.sh without a password on stdin refuses and installs nothing', async () => {
  const m = machine();
  const r = await runAs(m, stubUpload());
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, 'no store password on stdin');
  assert.not.ok(existsSync(join(m.root, 'etc/mtls-backend/secrets.env')));
  assert.not.ok(existsSync(join(m.root, 'opt/mtls-backend/app')));
});

test('install-bundle.sh: code read-only for the service, stores group-readable, passwords root-only, restart', () => {
  assert.is(installed.exitCode, 0, installed.stdout + installed.stderr);
  const etc = join(vm.root, 'etc/mtls-backend');
  assert.is(mode(join(etc, 'server-keystore.p12')), '640');
  assert.is(mode(join(etc, 'server-truststore.p12')), '640');
  assert.is(mode(join(etc, 'secrets.env')), '600');
  assert.is(mode(join(vm.root, 'opt/mtls-backend/app')), '755');
  assert.is(mode(join(vm.root, 'opt/mtls-backend/app/main.js')), '644');
  const log = installLog;
  assert.ok(log.includes(`chown root:mtls-backend ${etc}/server-keystore.p12.new`), log.join('\n'));
  assert.ok(log.includes(`chown root:root ${etc}/secrets.env.new`));
  assert.ok(log.includes('systemctl restart mtls-backend.service'));
  assert.ok(log.includes('systemctl is-active --quiet mtls-backend.service'));
  assert.not.match(installed.stdout + installed.stderr, 'changeit');
});

test('systemd-analyze verify knows every directive of the unit', async () => {
  requireCommand('systemd-analyze');
  const unitPath = join(vm.root, 'etc/systemd/system/mtls-backend.service');
  const r = await execa('systemd-analyze', ['verify', unitPath], { reject: false });
  // The only acceptable complaint: /opt/node does not exist on this machine.
  const complaints = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.trim() && !/\/opt\/node\/bin\/node is not executable/.test(l));
  assert.equal(complaints, []);
});

test('startup.sh on the next boot: Node and the user are kept, nothing downloaded, the installed service restarted', async () => {
  writeFileSync(vm.log, '');
  const again = await runAs(vm, STARTUP);
  assert.is(again.exitCode, 0, again.stderr);
  const log = shimLog(vm);
  assert.not.ok(log.some((l) => l.includes('nodejs.org')), log.join('\n'));
  assert.not.ok(log.some((l) => l.startsWith('useradd')));
  assert.match(again.stdout, `node v${NODE_VERSION} already installed`);
  assert.ok(log.includes('systemctl restart mtls-backend.service'), log.join('\n'));
});

/** Parses the KEY=value / KEY="value" lines of an EnvironmentFile the way systemd does for these. */
function environmentFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (!m) continue;
    const raw = m[2]!;
    out[m[1]!] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return out;
}

test('the installed layout runs: node app/main.js with the unit\'s environment answers curl over mTLS', async () => {
  const etc = join(vm.root, 'etc/mtls-backend');
  const port = await freePort();
  const env = {
    ...environmentFile(join(etc, 'runtime.env')), ...environmentFile(join(etc, 'secrets.env')),
    // The unit's absolute paths, moved into the test root; ports free on this machine.
    SERVER_SSL_KEYSTORE: join(etc, 'server-keystore.p12'), SERVER_SSL_TRUSTSTORE: join(etc, 'server-truststore.p12'),
    PORT: String(port), HEALTH_PORT: '0', PATH: process.env.PATH ?? '',
  };
  const child = spawn(process.execPath, [join(vm.root, 'opt/mtls-backend/app/main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backend did not start: ${output}`)), 20000);
      const onData = (d: Buffer) => {
        output += d;
        if (output.includes('"started"')) { clearTimeout(timer); resolve(); }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`backend exited ${code}: ${output}`)); });
    });
    const ok = await execa('curl', ['--silent', '--show-error', '--max-time', '10', '--cert', join(pki, 'apigee-client-cert.pem'),
      '--key', join(pki, 'apigee-client-key.pem'), '--cacert', join(pki, 'ca-cert.pem'), `https://127.0.0.1:${port}/`], { reject: false });
    assert.is(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, /mTLS/);
    const anonymous = await execa('curl', ['--silent', '--max-time', '10', '--cacert', join(pki, 'ca-cert.pem'), `https://127.0.0.1:${port}/`], { reject: false });
    assert.is.not(anonymous.exitCode, 0, 'a caller without a client certificate was served');
  } finally {
    child.kill('SIGTERM');
  }
});

test.run();
