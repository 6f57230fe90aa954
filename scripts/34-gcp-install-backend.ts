#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: clone, build and run the service on the VM, with the stores in the project's resources.
// Here the backend is compiled to plain JavaScript on this machine, put in a folder with the
// server keystore, truststore and the installer, copied with `gcloud compute scp`, and installed
// by infra/vm/install-bundle.sh over `gcloud compute ssh`, which restarts the service. The store
// password travels on that SSH connection's stdin: never in a file, the instance metadata (which
// any process on the VM can read) or a command line. Both copies of the folder are removed.
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runStep } from './lib/main.ts';
import { projectOf } from './lib/gcp/project.ts';
import { $ } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { repoPath } from './lib/gcp/values.ts';
import { onCloudInterrupt } from './lib/gcp/idempotent.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  const gcp = config.gcp;
  const iap = gcp.sshIap ? ['--tunnel-through-iap'] : [];
  $.cwd = repoRoot; // every path below is relative to the repository
  log.banner(`Backend, stores and password onto ${gcp.vmName} over SSH`, 'Realizar la configuración de la infraestructura');
  const project = await projectOf(config);
  const keystore = repoPath(join(config.pki.certsDir, 'server-keystore.p12'));
  const truststore = repoPath(join(config.pki.certsDir, 'server-truststore.p12'));
  const missing = [keystore, truststore].filter((file) => !existsSync(resolve(repoRoot, file)));
  if (missing.length > 0 && !config.dryRun) throw new StepError(`missing ${missing.join(', ')}: run "${followUp('make certs')}" first`);
  if (/[\r\n]/.test(config.pki.storePassword)) throw new StepError('STORE_PASSWORD must be one line (the VM reads one line)');

  const upload = repoPath(join(config.runDir, 'vm-upload'));
  // The upload folder holds the server keystore: a Ctrl-C must not leave it behind either.
  onCloudInterrupt('34-gcp-install-backend', () => rmSync(resolve(repoRoot, upload), { recursive: true, force: true }));
  const bundle = `${upload}/mtls-bundle`;
  log.explain('1. the backend as plain JavaScript (the VM runs node, no TypeScript tooling) and its entry point');
  await $`rm -rf ${upload}`;
  await $`npx tsc -p backend/tsconfig.build.json --outDir ${bundle}/app`;
  await $`cp infra/vm/app/package.json infra/vm/app/main.js ${bundle}/app/`;
  log.explain('2. the stores and the installer');
  await $`cp ${keystore} ${truststore} infra/vm/install-bundle.sh ${bundle}/`;

  log.explain('3. copy over SSH, then install with the store password on stdin; on a fresh VM the installer');
  log.explain('   first waits for the startup script to finish');
  try {
    await $`gcloud compute scp --recurse --zone=${gcp.zone} --project=${project} ${iap} \\
      ${bundle} ${gcp.vmName}:`;
    await $`gcloud compute ssh ${gcp.vmName} --zone=${gcp.zone} --project=${project} ${iap} \\
      --command='sudo bash mtls-bundle/install-bundle.sh; status=$?; rm -rf mtls-bundle; exit $status' <<<"$STORE_PASSWORD"`;
  } finally {
    await $`rm -rf ${upload}`;
  }
  if (config.dryRun) log.dryRun();
  else log.created(`backend installed and running on ${gcp.vmName}`);
});
