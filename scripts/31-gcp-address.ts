#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The VM's public address, reserved before the VM exists so the server certificate can name it in
// its SAN (the tutorial edits san.cnf by hand with the VM's IP). Then: re-issue the server
// certificate and stores for that address (steps 11 and 13 keep them when they already fit) and
// record SERVER_HOST in env/local.env, so every later step (curl checks, Apigee target server)
// calls the backend by that address.
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { address, addressLookup } from './lib/gcp/commands.ts';
import { createOrReuse } from './lib/gcp/idempotent.ts';
import { localEnvPath, setLocalEnv } from './lib/gcp/local-env.ts';

const CERT_STEPS = ['scripts/11-server-cert.ts', 'scripts/13-server-stores.ts'];

await runStep(async (config) => {
  const gcp = config.gcp;
  log.banner(`Static external address ${gcp.addressName} (${gcp.region})`, 'Realizar la configuración de la infraestructura');
  log.explain('Reserved first: its IP goes into the server certificate before the VM is created.');
  await createOrReuse(address.create(gcp), `address ${gcp.addressName}`, config.dryRun);

  let ip: string;
  if (config.dryRun) {
    ip = addressLookup(gcp);
    log.command(`SERVER_HOST="${ip}"`, 'the reserved IP');
  } else {
    ip = (await run(address.describe(gcp))).stdout.trim();
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new StepError(`could not read the IP of address ${gcp.addressName} (got "${ip}")`);
    log.created(`address ${gcp.addressName} is ${ip}`);
  }

  log.explain(`Server certificate for ${config.dryRun ? 'that IP' : ip}: kept when it already covers it, re-issued otherwise.`);
  if (!config.dryRun && ip !== config.pki.serverHost) {
    log.info(`SERVER_HOST changes from ${config.pki.serverHost} to ${ip}: the certificate steps re-issue what no longer fits`);
  }
  for (const step of CERT_STEPS) {
    const shown = config.dryRun ? `SERVER_HOST="$SERVER_HOST" ./${step}` : `SERVER_HOST=${ip} ./${step}`;
    log.command(shown);
    // The child gets this environment with SERVER_HOST overridden; in a dry run only the line is shown.
    process.stdout.write((await run([join(repoRoot, step)], { env: { SERVER_HOST: ip }, quiet: true, dryRun: config.dryRun })).stdout);
  }

  const file = localEnvPath();
  log.command(`echo "SERVER_HOST=${config.dryRun ? '$SERVER_HOST' : ip}" >> env/local.env`, 'the step replaces an existing SERVER_HOST line');
  if (config.dryRun) {
    log.dryRun();
    return;
  }
  if (setLocalEnv('SERVER_HOST', ip, file)) log.created(`SERVER_HOST=${ip} written to env/local.env`);
  else log.reused(`SERVER_HOST=${ip} in env/local.env`);
});
