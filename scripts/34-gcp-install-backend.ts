#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: clone, build and run the service on the VM, with the stores in the project's resources.
// Here the backend is compiled to plain JavaScript on this machine, packed with the server keystore,
// truststore and a password file into a private folder, copied with `gcloud compute scp` (SSH, not
// instance metadata, which any process on the VM could read), and installed by
// infra/vm/install-bundle.sh, which restarts the service. The local folder is deleted afterwards.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { BUNDLE_NAME, INSTALL_SCRIPT, displayPath, instance } from './lib/gcp/commands.ts';
import { BUILD_CONFIG, STORES, buildBundle } from './lib/gcp/bundle.ts';

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
    log.explain('1. compile the backend to plain JavaScript (the VM runs node, no TypeScript tooling)');
    log.command(['npx', 'tsc', '-p', BUILD_CONFIG, '--outDir', `${shownBundle}/app`]);
    log.explain('2. the stores, their passwords (a root-only file on the VM) and the installer');
    for (const store of stores) log.command(['cp', displayPath(store), `${shownBundle}/`]);
    log.command(`printf 'SERVER_SSL_KEYSTOREPASSWORD="%s"\\nSERVER_SSL_TRUSTSTOREPASSWORD="%s"\\n' "$STORE_PASSWORD" "$STORE_PASSWORD" > ${shownBundle}/secrets.env`);
    log.command(['cp', INSTALL_SCRIPT, `${shownBundle}/`]);
    if (parent) await buildBundle(config, bundle);

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
