#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Despliegue en k8s": the image, the Secrets with the stores, the Deployment, and here
// also a Service of type LoadBalancer on the reserved static IP (step 31), so Apigee reaches the
// pods directly and the server certificate's SAN matches the address it calls.
//
//   K8S_BUILD=cloudbuild (default)  gcloud builds submit with infra/cloudbuild.yaml
//   K8S_BUILD=docker                docker build + docker push (needs a local Docker engine)
//   K8S_BUILD=none                  the image at K8S_IMAGE already exists
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { address, addressLookup, displayPath } from './lib/gcp/commands.ts';
import { createOrReuse } from './lib/gcp/idempotent.ts';
import { APP_NAME, ARTIFACT_REPOSITORY, CLOUD_BUILD_CONFIG, OVERLAY_DIR, imageFor, wrapperKustomization } from './lib/gcp/k8s.ts';

const ROLLOUT_TIMEOUT = '180s';
const IP_POLL_MS = 5000;

await runStep(async (config) => {
  const gcp = config.gcp;
  const ns = `--namespace=${gcp.k8sNamespace}`;
  const project = gcp.project ? [`--project=${gcp.project}`] : [];
  const build = gcp.k8sBuild;
  const image = imageFor(config);
  if (!image) throw new StepError('set K8S_IMAGE (e.g. us-central1-docker.pkg.dev/PROJECT/mtls-demo/ms-mtls-demo:0.1.0) or GCP_PROJECT');
  log.banner(`Kubernetes: ${image} behind a LoadBalancer on ${gcp.addressName}`, 'Despliegue en k8s');

  log.explain(`1. the image (${build})`);
  const registry = image.split('/')[0] ?? '';
  if (build !== 'none' && /-docker\.pkg\.dev$/.test(registry) && !gcp.k8sImage) {
    await createOrReuse(['gcloud', 'artifacts', 'repositories', 'create', ARTIFACT_REPOSITORY, '--repository-format=docker', `--location=${gcp.region}`, ...project],
      `Artifact Registry repository ${ARTIFACT_REPOSITORY}`, config.dryRun);
  }
  if (build === 'cloudbuild') {
    await run(['gcloud', 'builds', 'submit', `--config=${CLOUD_BUILD_CONFIG}`, `--substitutions=_IMAGE=${image}`, ...project, '.'], { cwd: repoRoot, dryRun: config.dryRun });
  } else if (build === 'docker') {
    await run(['gcloud', 'auth', 'configure-docker', registry, '--quiet'], { dryRun: config.dryRun });
    await run(['docker', 'build', '-f', 'backend/Dockerfile', '-t', image, '.'], { cwd: repoRoot, dryRun: config.dryRun });
    await run(['docker', 'push', image], { dryRun: config.dryRun });
  }

  log.explain('2. the Secrets with the stores and their passwords');
  log.command(['./scripts/22-k8s-secrets.ts']);
  // The child honours DRY_RUN itself and then prints its kubectl lines.
  process.stdout.write((await run([join(repoRoot, 'scripts/22-k8s-secrets.ts')], { quiet: true })).stdout);

  log.explain('3. the manifests: k8s/overlays/gcp plus this deployment\'s image, IP and source ranges');
  const wrapperDir = join(config.runDir, 'k8s-gcp');
  const shownDir = displayPath(wrapperDir);
  const ip = config.dryRun ? addressLookup(gcp) : (await run(address.describe(gcp))).stdout.trim();
  if (!config.dryRun && !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new StepError(`address ${gcp.addressName} not found: run ./scripts/31-gcp-address.ts first`);
  const text = wrapperKustomization({ wrapperDir, overlayDir: join(repoRoot, OVERLAY_DIR), image, ip, sourceRanges: gcp.sourceRanges });
  log.command(`mkdir -p ${shownDir} && cat > ${shownDir}/kustomization.yaml <<EOF\n${text}EOF`);
  if (!config.dryRun) {
    mkdirSync(wrapperDir, { recursive: true });
    writeFileAtomic(join(wrapperDir, 'kustomization.yaml'), text);
  }
  await run(['kubectl', 'apply', ns, '-k', shownDir], { cwd: repoRoot, dryRun: config.dryRun });

  log.explain('4. wait for the pods, then for the load balancer');
  await run(['kubectl', 'rollout', 'status', `deployment/${APP_NAME}`, ns, `--timeout=${ROLLOUT_TIMEOUT}`], { dryRun: config.dryRun });
  const getIp = ['kubectl', 'get', 'service', APP_NAME, ns, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'];
  if (config.dryRun) {
    log.command(getIp);
    log.dryRun();
    return;
  }
  log.command(getIp);
  const deadline = Date.now() + gcp.waitTimeoutSeconds * 1000;
  for (;;) {
    const assigned = (await run(getIp, { quiet: true })).stdout.trim();
    if (assigned) {
      log.created(`service ${APP_NAME} answers on https://${assigned}:${config.backend.port}/`);
      if (assigned !== ip) log.warn(`the load balancer got ${assigned}, not the reserved ${ip}: is the address still attached to the VM? (make teardown removes the VM)`);
      return;
    }
    if (Date.now() > deadline) throw new StepError(`no load balancer IP after ${gcp.waitTimeoutSeconds}s: kubectl describe service ${APP_NAME} ${ns}`);
    log.info('load balancer pending…');
    await new Promise((resolve) => setTimeout(resolve, IP_POLL_MS));
  }
});
