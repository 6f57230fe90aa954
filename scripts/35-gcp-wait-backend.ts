#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: "curl -v --cert apigee-client-cert.pem --key apigee-client-key.pem --cacert ca-cert.pem
// https://34.XX.XX.XX:8443". Repeats that mTLS request against the VM's address until it answers,
// bounded by WAIT_TIMEOUT with a progress line per attempt (the command is printed once);
// WAIT=0 only prints it, to run later.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Options } from 'zx';
import { runStep } from './lib/main.ts';
import { projectOf } from './lib/gcp/project.ts';
import { $, outputOf } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError, lastLine } from '../core/errors.ts';
import { repoPath } from './lib/gcp/values.ts';
import { onInterrupt } from './lib/interrupt.ts';
import { followUp } from './lib/follow-up.ts';

const INTERVAL_MS = 5000;

await runStep(async (config) => {
  const gcp = config.gcp;
  const cert = (name: string) => repoPath(join(config.pki.certsDir, name));
  $.cwd = repoRoot; // the certificate paths are relative to the repository
  log.banner(`Wait for the backend on ${gcp.vmName} to answer over mTLS`, 'Pruebas directas con curl');
  onInterrupt(() => `stopped waiting; the VM keeps starting: check again with ${followUp('./scripts/35-gcp-wait-backend.ts')}`);
  const project = await projectOf(config);
  const host = (await outputOf('SERVER_HOST', () => $`gcloud compute addresses describe ${gcp.addressName} --region=${gcp.region} --project=${project} --format='value(address)'`))
    || config.pki.serverHost;
  const url = `https://${host}:${config.backend.port}/`;
  // One command, three uses: printed and run, run again quietly, or only shown (WAIT=0).
  const curl = (options: Partial<Options> = {}) => $(options)
    `curl --silent --show-error --max-time 5 --cert ${cert('apigee-client-cert.pem')} --key ${cert('apigee-client-key.pem')} --cacert ${cert('ca-cert.pem')} https://${host}:${config.backend.port}/`.nothrow();
  if (!gcp.wait) return log.info(`WAIT=0: not waiting; check later with: ${curl({ halt: true }).cmd}`);

  const deadline = Date.now() + gcp.waitTimeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const result = await curl(attempt === 1 ? {} : { log: () => {} });
    if (config.dryRun) return log.dryRun();
    if (result.ok) return log.created(`backend answered after ${attempt} attempt(s): ${result.stdout.trim().slice(0, 80)}`);
    const left = Math.round((deadline - Date.now()) / 1000);
    const reason = lastLine(result.stderr) || `curl exit ${result.exitCode}`;
    if (left <= 0) {
      throw new StepError(`no mTLS answer from ${url} within ${gcp.waitTimeoutSeconds}s (last: ${reason}); on the VM: sudo journalctl -u mtls-backend -u google-startup-scripts`);
    }
    log.info(`attempt ${attempt}: ${reason} (${left}s left)`);
    await sleep(Math.max(0, INTERVAL_MS - (Date.now() - started)));
  }
});
