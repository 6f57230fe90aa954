#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Removes what the cloud steps created, newest first: the Kubernetes objects (when kubectl has a
// context), the VM, the firewall rule, the static address. Missing resources are fine, so it can
// be re-run after a partial failure. Asks first unless YES=1 or --yes; DRY_RUN=1 prints the deletes.
import { createInterface } from 'node:readline/promises';
import { runStep } from './lib/main.ts';
import { projectOf } from './lib/gcp/project.ts';
import { $ } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { kubectlReason } from './lib/cli-errors.ts';
import { deleteIfPresent } from './lib/gcp/idempotent.ts';
import { onInterrupt } from './lib/interrupt.ts';
import { followUp } from './lib/follow-up.ts';

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new StepError('teardown deletes cloud resources and needs a confirmation: run it with YES=1 (or --yes), or DRY_RUN=1 to see the deletes');
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(question)).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

await runStep(async (config) => {
  const gcp = config.gcp;
  const ns = gcp.k8sNamespace;
  $.cwd = repoRoot; // kubectl delete -k names k8s/overlays/gcp
  log.banner('Teardown: Kubernetes objects, VM, firewall rule, static address');
  const project = await projectOf(config);
  const current = await $`kubectl config current-context`.nothrow();
  const context = current.ok ? current.stdout.trim() : '';
  const withK8s = config.dryRun || context !== '';
  const targets = [
    ...(withK8s ? [`Kubernetes objects of k8s/overlays/gcp and the Secrets in namespace ${ns}${context ? ` (context ${context})` : ''}`] : []),
    `VM ${gcp.vmName} (${gcp.zone})`, `firewall rule ${gcp.firewallRule}`, `address ${gcp.addressName} (${gcp.region})`,
  ];
  for (const t of targets) log.info(`- ${t}`);
  if (!config.dryRun && !gcp.yes && !(await confirm(`Delete these in project ${project}? Type "yes": `))) {
    throw new StepError('teardown cancelled; nothing was deleted');
  }
  onInterrupt(() => `teardown stopped part way; what it did not delete yet stays (billed): run ${followUp('make teardown')} again, it skips what is gone`);

  if (withK8s) {
    // An unreachable cluster must not keep the VM (which costs money) alive: warn and go on.
    const objects = await $`kubectl delete --namespace=${ns} -k k8s/overlays/gcp --ignore-not-found`.nothrow();
    const secrets = await $`kubectl delete --namespace=${ns} secret ms-mtls-demo-keystore ms-mtls-demo-truststore ms-mtls-demo-store-passwords --ignore-not-found`.nothrow();
    for (const deleted of [objects, secrets]) {
      if (!deleted.ok) log.warn(`kubectl failed (${kubectlReason(deleted.stderr)}); delete these objects later`);
    }
  } else {
    log.info('kubectl has no current context: skipping the Kubernetes objects');
  }
  // Reverse order of creation; the address cannot be released while the VM still holds it.
  await deleteIfPresent($`gcloud compute instances delete ${gcp.vmName} --zone=${gcp.zone} --project=${project} --quiet`, `VM ${gcp.vmName}`, config.dryRun);
  await deleteIfPresent($`gcloud compute firewall-rules delete ${gcp.firewallRule} --project=${project} --quiet`, `firewall rule ${gcp.firewallRule}`, config.dryRun);
  await deleteIfPresent($`gcloud compute addresses delete ${gcp.addressName} --region=${gcp.region} --project=${project} --quiet`, `address ${gcp.addressName}`, config.dryRun);
  if (config.dryRun) log.dryRun();
  else log.info(`SERVER_HOST in ${config.localEnv} still names the deleted address: remove that line to go back to the local backend`);
});
