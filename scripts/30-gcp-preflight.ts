#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Before touching a cloud: is gcloud installed and signed in, which project, is the Compute Engine
// API on, and (for the Kubernetes path, --k8s) does kubectl point at a cluster? Each failed check
// prints one line with the command that fixes it; all checks run, then the step fails once.
//
//   ./scripts/30-gcp-preflight.ts          checks for `make vm`
//   ./scripts/30-gcp-preflight.ts --k8s    also requires a kubectl context (`make k8s`)
import { runStep } from './lib/main.ts';
import { onPath, run } from './lib/run.ts';
import { addSecret, log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';


await runStep(async (config) => {
  log.banner('Pre-flight: gcloud, project, Compute Engine API, kubectl', 'Realizar la configuración de la infraestructura');
  const needK8s = process.argv.includes('--k8s');
  const failures: string[] = [];
  const fail = (line: string) => {
    failures.push(line);
    log.warn(line);
  };
  if (config.dryRun) {
    log.dryRun('DRY_RUN: no account needed; a real run checks:');
    log.command(['gcloud', 'auth', 'print-access-token'], 'signed in?');
    log.command(['gcloud', 'config', 'get-value', 'project'], 'project (or GCP_PROJECT)');
    log.command(['gcloud', 'compute', 'regions', 'describe', config.gcp.region, ...(config.gcp.project ? [`--project=${config.gcp.project}`] : []), '--format=value(status)'], 'Compute Engine API enabled?');
    if (needK8s) log.command(['kubectl', 'config', 'current-context'], 'which cluster?');
    return;
  }

  if (!onPath('gcloud')) {
    throw new StepError('gcloud not found on PATH: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)', 127);
  }
  log.created('gcloud is installed');

  const token = await run(['gcloud', 'auth', 'print-access-token', '--quiet'], { allowExitCodes: [1, 2], note: 'signed in?' });
  addSecret(token.stdout.trim());
  if (token.exitCode === 0 && token.stdout.trim()) log.created('gcloud is authenticated');
  else fail('gcloud is not authenticated: run `gcloud auth login` (or set CLOUDSDK_AUTH_ACCESS_TOKEN_FILE)');

  let project = config.gcp.project;
  if (project) {
    log.created(`project ${project}`, '(GCP_PROJECT)');
  } else {
    const configured = await run(['gcloud', 'config', 'get-value', 'project'], { allowExitCodes: [1] });
    project = configured.stdout.trim() || undefined;
    if (project) log.created(`project ${project}`, '(gcloud config)');
    else fail('no project: set GCP_PROJECT in env/local.env or run `gcloud config set project PROJECT_ID`');
  }

  if (project && failures.length === 0) {
    const api = await run(['gcloud', 'compute', 'regions', 'describe', config.gcp.region, `--project=${project}`, '--format=value(status)'], {
      allowExitCodes: [1],
      note: 'Compute Engine API enabled?',
    });
    if (api.exitCode === 0) log.created(`Compute Engine API answers (region ${config.gcp.region}: ${api.stdout.trim() || 'ok'})`);
    else if (/has not been used|is disabled|SERVICE_DISABLED|accessNotConfigured/i.test(api.stderr)) {
      fail(`Compute Engine API is off in ${project}: run \`gcloud services enable compute.googleapis.com --project=${project}\``);
    } else {
      fail(`Compute Engine API check failed: ${api.stderr.trim().split('\n').pop() ?? ''}`);
    }
  }

  if (needK8s) {
    const context = onPath('kubectl') ? await run(['kubectl', 'config', 'current-context'], { allowExitCodes: [1] }) : undefined;
    if (!context) fail('kubectl not found: run `gcloud components install kubectl` (or apt-get install kubectl)');
    else if (context.exitCode === 0 && context.stdout.trim()) log.created(`kubectl context ${context.stdout.trim()}`);
    else fail('kubectl has no current context: run `gcloud container clusters get-credentials CLUSTER --zone ZONE`');
  }

  if (failures.length > 0) throw new StepError(`pre-flight: ${failures.length} check(s) failed (see above)`);
});
