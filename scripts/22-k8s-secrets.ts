#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear secret con los certificados (k8s)": the backend's keystore and truststore become
// Kubernetes Secrets, plus one Secret for their passwords, which the Deployment in k8s/base mounts
// as whole directories and reads through secretKeyRef. Where the kit differs on purpose: each
// Secret is rendered without a cluster (--dry-run=client) and piped to kubectl apply, so a re-run
// updates the Secrets (rotation) instead of failing because they exist; the passwords reach
// kubectl as files (bash's <(…)), never as arguments that ps would show.
//
//   ./scripts/22-k8s-secrets.ts                  create or update the Secrets (kubectl apply)
//   ./scripts/22-k8s-secrets.ts --dry-run        print the commands only (also DRY_RUN=1)
//   ./scripts/22-k8s-secrets.ts --output FILE    write the Secrets' YAML (mode 0600) instead of applying
//
// Names and keys are part of the contract with k8s/base/deployment.yaml and the GCP overlay:
// change them together.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { displayPath, log } from '../core/log.ts';
import { writeFileAtomic } from '../core/files.ts';
import { StepError } from '../core/errors.ts';
import { requireTool } from '../core/tools.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config, args) => {
  log.banner('Kubernetes Secrets for the backend stores', 'Crear secret con los certificados (k8s)');
  const output = outputPath(args.output);
  const ns = config.gcp.k8sNamespace;
  const certs = config.pki.certsDir;
  const missing = ['server-keystore.p12', 'server-truststore.p12'].filter((f) => !existsSync(join(certs, f))).map((f) => displayPath(join(certs, f)));
  if (missing.length > 0 && !config.dryRun) throw new StepError(`missing ${missing.join(', ')}: run "${followUp('make certs')}" first`);
  if (missing.length > 0) log.warn(`missing ${missing.join(', ')}: run "${followUp('make certs')}" first`);
  if (!config.dryRun) requireTool('kubectl');

  // With --output the YAML is not applied: `cat` passes it on and Node writes it to the file.
  const sink = output ? ['cat'] : ['kubectl', 'apply', '-f', '-'];
  if (output) log.comment(`kubectl's YAML goes to ${displayPath(output)} (written by Node, mode 0600) instead of kubectl apply`);
  $.cwd = certs;
  const printed = [
    await $`kubectl create secret generic ms-mtls-demo-keystore --namespace=${ns} --from-file=server-keystore.p12 --dry-run=client -o yaml | ${sink}`,
    await $`kubectl create secret generic ms-mtls-demo-truststore --namespace=${ns} --from-file=server-truststore.p12 --dry-run=client -o yaml | ${sink}`,
    await $`kubectl create secret generic ms-mtls-demo-store-passwords --namespace=${ns} --from-file=keystore-password=<(printf %s "$STORE_PASSWORD") --from-file=truststore-password=<(printf %s "$STORE_PASSWORD") --dry-run=client -o yaml | ${sink}`,
  ].map((r) => r.stdout.trimEnd());
  if (config.dryRun) return log.dryRun();
  if (!output) {
    for (const applied of printed) log.created(applied); // kubectl apply's "secret/… created|configured"
    return;
  }
  // The YAML carries the stores and passwords (base64 is not encryption): owner-only.
  writeFileAtomic(output, printed.join('\n---\n') + '\n', 0o600);
  log.created(displayPath(output), `(3 Secrets, mode 0600; apply with: kubectl apply -f ${displayPath(output)})`);
}, { output: { type: 'string', short: 'o' } });

/** --output FILE (or --output=FILE, -o FILE): where to write the YAML instead of applying it. */
function outputPath(value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.startsWith('-')) throw new StepError('--output needs a file name, e.g. --output secrets.yaml');
  return resolve(value);
}
