#!/usr/bin/env -S node --import tsx
// Tutorial: clone, build and run the service on the VM, with the stores in the project's resources.
// Here the backend is compiled to plain JavaScript on this machine, packed with the server keystore,
// truststore and a password file into a private folder, copied with `gcloud compute scp` (SSH, not
// instance metadata, which any process on the VM could read), and installed by
// infra/vm/install-bundle.sh, which restarts the service. The local folder is deleted afterwards.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { log } from './lib/log.ts';
import { repoRoot } from './lib/config.ts';
import { StepError } from './lib/errors.ts';
import { BUNDLE_NAME, INSTALL_SCRIPT, displayPath, instance } from './lib/gcp/commands.ts';

/** The backend's entry module, relative to the compiled output. */
const BACKEND_ENTRY = './backend/main.js';
const BUILD_CONFIG = 'backend/tsconfig.build.json';
const STORES = ['server-keystore.p12', 'server-truststore.p12'];

/** systemd EnvironmentFile value: double-quoted, with backslash and quote escaped. */
function envValue(value: string): string {
  if (/[\n\r]/.test(value)) throw new StepError('STORE_PASSWORD must not contain line breaks');
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

await runStep(async (config) => {
  const gcp = config.gcp;
  log.banner(`Backend, stores and passwords onto ${gcp.vmName} over SSH`, 'Realizar la configuración de la infraestructura');
  const stores = STORES.map((name) => join(config.pki.certsDir, name));
  const missing = stores.filter((f) => !existsSync(f));
  if (missing.length > 0 && !config.dryRun) throw new StepError(`missing ${missing.map(displayPath).join(', ')}: run "make certs" first`);

  // A private folder (0700) beside the other run-time files, gone when this step ends; a dry run
  // only shows the paths.
  const shownBundle = `${displayPath(config.runDir)}/${BUNDLE_NAME}`;
  let parent: string | undefined;
  if (!config.dryRun) {
    mkdirSync(config.runDir, { recursive: true });
    parent = mkdtempSync(join(config.runDir, 'vm-upload-'));
    chmodSync(parent, 0o700);
  }
  const bundle = parent ? join(parent, BUNDLE_NAME) : shownBundle;
  try {
    if (parent) mkdirSync(join(bundle, 'app'), { recursive: true, mode: 0o700 });
    log.explain('1. compile the backend to plain JavaScript (the VM runs node, no TypeScript tooling)');
    log.command(['npx', 'tsc', '-p', BUILD_CONFIG, '--outDir', `${shownBundle}/app`]);
    await run(['npx', 'tsc', '-p', BUILD_CONFIG, '--outDir', join(bundle, 'app')], { cwd: repoRoot, dryRun: config.dryRun, quiet: true });
    if (!config.dryRun) {
      writeFileSync(join(bundle, 'app', 'package.json'), JSON.stringify({ type: 'module', private: true }) + '\n');
      writeFileSync(join(bundle, 'app', 'main.js'), `// Entry point of the systemd unit.\nimport '${BACKEND_ENTRY}';\n`);
    }

    log.explain('2. the stores, their passwords (a root-only file on the VM) and the installer');
    for (const store of stores) {
      log.command(['cp', displayPath(store), `${shownBundle}/`]);
      if (!config.dryRun) copyFileSync(store, join(bundle, store.split('/').pop()!));
    }
    log.command(`printf 'SERVER_SSL_KEYSTOREPASSWORD="%s"\\nSERVER_SSL_TRUSTSTOREPASSWORD="%s"\\n' "$STORE_PASSWORD" "$STORE_PASSWORD" > ${shownBundle}/secrets.env`);
    log.command(['cp', INSTALL_SCRIPT, `${shownBundle}/`]);
    if (!config.dryRun) {
      const password = envValue(config.pki.storePassword);
      writeFileSync(join(bundle, 'secrets.env'), `SERVER_SSL_KEYSTOREPASSWORD=${password}\nSERVER_SSL_TRUSTSTOREPASSWORD=${password}\n`, { mode: 0o600 });
      copyFileSync(join(repoRoot, INSTALL_SCRIPT), join(bundle, 'install-bundle.sh'));
    }

    log.explain('3. copy over SSH and install (waits for the startup script to finish on a fresh VM)');
    log.command(instance.scpBundle(gcp, shownBundle));
    await run(instance.scpBundle(gcp, bundle), { dryRun: config.dryRun, quiet: true });
    await run(instance.sshInstall(gcp), { dryRun: config.dryRun });
    log.command(['rm', '-rf', shownBundle], 'the local copy of the passwords');
    if (config.dryRun) log.dryRun();
    else log.created(`backend installed and running on ${gcp.vmName}`);
  } finally {
    if (parent) rmSync(parent, { recursive: true, force: true });
  }
});
