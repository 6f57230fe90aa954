#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The VM's public address, reserved before the VM exists so the server certificate can name it in
// its SAN (the tutorial edits san.cnf by hand with the VM's IP). Then: re-issue the server
// certificate and stores for that address (steps 11 and 13 keep them when they already fit) and
// record SERVER_HOST in env/local.env, so every later step (curl checks, Apigee target server)
// calls the backend by that address.
import { runStep } from './lib/main.ts';
import { $, outputOf } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { isIPv4 } from './lib/gcp/values.ts';
import { projectOf } from './lib/gcp/project.ts';
import { createOrReuse, onCloudInterrupt } from './lib/gcp/idempotent.ts';
import { setLocalEnv } from './lib/gcp/local-env.ts';
import { KIT_SETTINGS, givenSettings } from './lib/follow-up.ts';

await runStep(async (config) => {
  const gcp = config.gcp;
  $.cwd = repoRoot; // the certificate steps below are run from the repository root
  log.banner(`Static external address ${gcp.addressName} (${gcp.region})`, 'Realizar la configuración de la infraestructura');
  onCloudInterrupt('31-gcp-address');
  const project = await projectOf(config);
  log.explain('Reserved first: its IP goes into the server certificate before the VM is created.');
  await createOrReuse($`gcloud compute addresses create ${gcp.addressName} --region=${gcp.region} --project=${project}`, `address ${gcp.addressName}`, config.dryRun);
  const ip = await outputOf('SERVER_HOST', () => $`gcloud compute addresses describe ${gcp.addressName} --region=${gcp.region} --project=${project} --format='value(address)'`);
  if (!config.dryRun) {
    if (!isIPv4(ip)) throw new StepError(`could not read the IP of address ${gcp.addressName} (got "${ip}")`);
    log.created(`address ${gcp.addressName} is ${ip}`);
    if (ip !== config.pki.serverHost) log.info(`SERVER_HOST changes from ${config.pki.serverHost} to ${ip}: the certificate steps re-issue what no longer fits`);
  }

  log.explain('Server certificate and stores for that IP: kept when they already cover it, re-issued otherwise.');
  process.stdout.write((await $`${givenSettings(KIT_SETTINGS, ['SERVER_HOST'])} SERVER_HOST=${ip} ./scripts/11-server-cert.ts`).stdout);
  process.stdout.write((await $`${givenSettings(KIT_SETTINGS, ['SERVER_HOST'])} SERVER_HOST=${ip} ./scripts/13-server-stores.ts`).stdout);

  // Node edits the file: only the SERVER_HOST line changes, atomically, and the file stays private.
  log.comment(`Node sets SERVER_HOST=${ip} in ${config.localEnv} (replacing an existing SERVER_HOST line, keeping the others)`);
  if (config.dryRun) return log.dryRun();
  if (setLocalEnv('SERVER_HOST', ip)) log.created(`SERVER_HOST=${ip} written to ${config.localEnv}`);
  else log.reused(`SERVER_HOST=${ip} in ${config.localEnv}`);
});
