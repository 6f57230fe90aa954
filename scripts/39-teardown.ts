#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Removes what the cloud steps created, newest first: the Kubernetes objects (when kubectl has a
// context), the VM, the firewall rule, the static address. Missing resources are fine, so it can
// be re-run after a partial failure. Asks first unless YES=1 or --yes; DRY_RUN=1 prints the deletes.
import { createInterface } from 'node:readline/promises';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { address, firewall, instance } from './lib/gcp/commands.ts';
import { deleteIfPresent } from './lib/gcp/idempotent.ts';
import { OVERLAY_DIR, SECRET_NAMES } from './lib/gcp/k8s.ts';

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
  log.banner('Teardown: Kubernetes objects, VM, firewall rule, static address');
  let context: string | undefined;
  if (!config.dryRun) {
    const current = await run(['kubectl', 'config', 'current-context'], { quiet: true, allowExitCodes: [1] }).catch(() => undefined);
    context = current?.exitCode === 0 ? current.stdout.trim() || undefined : undefined;
  }
  const targets = [
    ...(config.dryRun || context ? [`Kubernetes objects of ${OVERLAY_DIR} and the Secrets in namespace ${gcp.k8sNamespace}${context ? ` (context ${context})` : ''}`] : []),
    `VM ${gcp.vmName} (${gcp.zone})`, `firewall rule ${gcp.firewallRule}`, `address ${gcp.addressName} (${gcp.region})`,
  ];
  for (const t of targets) log.info(`- ${t}`);
  if (!config.dryRun && !gcp.yes && !(await confirm(`Delete these${gcp.project ? ` in project ${gcp.project}` : ''}? Type "yes": `))) {
    throw new StepError('teardown cancelled; nothing was deleted');
  }

  if (config.dryRun || context) {
    const ns = `--namespace=${gcp.k8sNamespace}`;
    // An unreachable cluster must not keep the VM (which costs money) alive: warn and go on.
    for (const argv of [['kubectl', 'delete', ns, '-k', OVERLAY_DIR, '--ignore-not-found'], ['kubectl', 'delete', ns, 'secret', ...SECRET_NAMES, '--ignore-not-found']]) {
      const result = await run(argv, { cwd: repoRoot, dryRun: config.dryRun, allowExitCodes: [1] });
      if (result.exitCode !== 0) log.warn(`kubectl failed (${result.stderr.trim().split('\n').pop()}); delete these objects later`);
    }
  } else {
    log.info('kubectl has no current context: skipping the Kubernetes objects');
  }
  // Reverse order of creation; the address cannot be released while the VM still holds it.
  await deleteIfPresent(instance.delete(gcp), `VM ${gcp.vmName}`, config.dryRun);
  await deleteIfPresent(firewall.delete(gcp), `firewall rule ${gcp.firewallRule}`, config.dryRun);
  await deleteIfPresent(address.delete(gcp), `address ${gcp.addressName}`, config.dryRun);
  if (config.dryRun) log.dryRun();
  else log.info('SERVER_HOST in env/local.env still names the deleted address: remove that line to go back to the local backend');
});
