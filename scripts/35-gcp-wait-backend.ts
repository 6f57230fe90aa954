#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: "curl -v --cert apigee-client-cert.pem --key apigee-client-key.pem --cacert ca-cert.pem
// https://34.XX.XX.XX:8443". Repeats that mTLS request against the VM until it answers, bounded by
// WAIT_TIMEOUT with a progress line per attempt; WAIT=0 skips the step.
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { formatCommand, log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { address, addressLookup, displayPath } from './lib/gcp/commands.ts';

const INTERVAL_MS = 5000;

await runStep(async (config) => {
  const gcp = config.gcp;
  log.banner(`Wait for the backend on ${gcp.vmName} to answer over mTLS`, 'Pruebas directas con curl');
  if (!config.gcp.wait) {
    log.info('WAIT=0: not waiting; check later with the curl line below');
  }
  const certs = (name: string) => join(config.pki.certsDir, name);
  const shown = (name: string) => displayPath(certs(name));
  let host: string;
  if (config.dryRun) host = addressLookup(gcp);
  else host = (await run(address.describe(gcp), { quiet: true })).stdout.trim() || config.pki.serverHost;
  const url = `https://${host}:${config.backend.port}/`;
  const curl = (cert: (name: string) => string) => [
    'curl', '--max-time', '5', '--cert', cert('apigee-client-cert.pem'), '--key', cert('apigee-client-key.pem'), '--cacert', cert('ca-cert.pem'),
  ];
  // In a dry run the host is a $(gcloud …) lookup, which must reach the shell unquoted.
  log.command(`${formatCommand(curl(shown))} ${config.dryRun ? `"${url}"` : url}`);
  if (config.dryRun) {
    log.dryRun();
    return;
  }
  if (!config.gcp.wait) return;

  const deadline = Date.now() + config.gcp.waitTimeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const result = await run([...curl(certs), '--silent', '--show-error', url], { quiet: true, allowExitCodes: Array.from({ length: 99 }, (_, i) => i + 1) });
    if (result.exitCode === 0) {
      log.created(`backend answered after ${attempt} attempt(s): ${result.stdout.trim().slice(0, 80)}`);
      return;
    }
    const left = Math.round((deadline - Date.now()) / 1000);
    const reason = result.stderr.trim().split('\n').pop() ?? `curl exit ${result.exitCode}`;
    if (left <= 0) {
      throw new StepError(`no mTLS answer from ${url} within ${config.gcp.waitTimeoutSeconds}s (last: ${reason}); on the VM: sudo journalctl -u mtls-backend -u google-startup-scripts`);
    }
    log.info(`attempt ${attempt}: ${reason} (${left}s left)`);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, INTERVAL_MS - (Date.now() - started))));
  }
});
