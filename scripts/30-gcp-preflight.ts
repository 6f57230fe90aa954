#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Before touching a cloud: is gcloud installed and signed in, which project, is the Compute Engine
// API on, and (for the Kubernetes path, --k8s) does kubectl point at a cluster? Each failed check
// prints one line with the command that fixes it; all checks run, then the step fails once.
//
//   ./scripts/30-gcp-preflight.ts          checks for `make vm`
//   ./scripts/30-gcp-preflight.ts --k8s    also requires a kubectl context (`make k8s`)
import { runStep } from './lib/main.ts';
import { $, outputOf } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { gcloudReason } from './lib/cli-errors.ts';
import { onPath } from '../core/tools.ts';

await runStep(async (config, args) => {
  const gcp = config.gcp;
  const needK8s = args.k8s === true;
  log.banner('Pre-flight: gcloud, project, Compute Engine API, kubectl', 'Realizar la configuración de la infraestructura');
  const failures: string[] = [];
  /** One ✓ or one ! line per check; a dry run only shows the commands (no account needed). */
  const check = (ok: boolean, passed: string, fix: string) => {
    if (config.dryRun) return;
    if (ok) return log.created(passed);
    failures.push(fix);
    log.warn(fix);
  };
  const installed = (tool: string) => config.dryRun || onPath(tool);

  if (!installed('gcloud')) {
    throw new StepError('gcloud not found on PATH: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)', 127);
  }
  if (!config.dryRun) log.created('gcloud is installed');

  const signedIn = await $`CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token --quiet >/dev/null`.nothrow();
  check(signedIn.ok, 'gcloud is authenticated', 'gcloud is not authenticated: run `gcloud auth login` (or set CLOUDSDK_AUTH_ACCESS_TOKEN_FILE)');

  const project = gcp.project ?? (await outputOf('GCP_PROJECT', () => $`gcloud config get-value project`.nothrow()));
  check(project !== '', `project ${project} ${gcp.project ? '(GCP_PROJECT)' : '(gcloud config)'}`,
    `no project: set GCP_PROJECT in ${config.localEnv} or run \`gcloud config set project PROJECT_ID\``);

  if (project && failures.length === 0) {
    const api = await $`gcloud compute regions describe ${gcp.region} --project=${project} --format='value(status)'`.nothrow();
    const disabled = /has not been used|is disabled|SERVICE_DISABLED|accessNotConfigured/i.test(api.stderr);
    check(api.ok, `Compute Engine API answers (region ${gcp.region}: ${api.stdout.trim() || 'ok'})`, disabled
      ? `Compute Engine API is off in ${project}: run \`gcloud services enable compute.googleapis.com --project=${project}\``
      : `Compute Engine API check failed: ${gcloudReason(api.stderr)}`);
  }

  if (needK8s) {
    const context = installed('kubectl') ? await $`kubectl config current-context`.nothrow() : undefined;
    if (!context) check(false, '', 'kubectl not found: run `gcloud components install kubectl` (or apt-get install kubectl)');
    else check(context.ok && context.stdout.trim() !== '', `kubectl context ${context.stdout.trim()}`,
      'kubectl has no current context: run `gcloud container clusters get-credentials CLUSTER --zone ZONE`');
  }

  if (config.dryRun) log.dryRun('DRY_RUN: printed only; no account needed');
  if (failures.length > 0) throw new StepError(`pre-flight: ${failures.length} check(s) failed (see above)`);
}, { k8s: { type: 'boolean' } });
