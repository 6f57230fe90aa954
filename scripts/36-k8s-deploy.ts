#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Despliegue en k8s": the image, the Secrets with the stores, the Deployment, and here
// also a Service of type LoadBalancer on the reserved static IP (step 31), so Apigee reaches the
// pods directly and the server certificate's SAN matches the address it calls.
//
//   K8S_BUILD=cloudbuild (default)  gcloud builds submit with infra/cloudbuild.yaml
//   K8S_BUILD=docker                docker build + docker push (needs a local Docker engine)
//   K8S_BUILD=none                  the image at K8S_IMAGE already exists
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Options } from 'zx';
import { runStep } from './lib/main.ts';
import { $, outputOf } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { repoPath, isIPv4 } from './lib/gcp/values.ts';
import { projectOf } from './lib/gcp/project.ts';
import { createOrReuse, onCloudInterrupt } from './lib/gcp/idempotent.ts';
import { ARTIFACT_REPOSITORY, imageFor, wrapperKustomization } from './lib/gcp/k8s.ts';
import { followUp, givenSettings } from './lib/follow-up.ts';

const IP_POLL_MS = 5000;

await runStep(async (config) => {
  const gcp = config.gcp;
  const ns = gcp.k8sNamespace;
  $.cwd = repoRoot; // builds and manifests are relative to the repository
  log.banner(`Kubernetes: the backend behind a LoadBalancer on ${gcp.addressName}`, 'Despliegue en k8s');
  onCloudInterrupt('36-k8s-deploy');
  const project = await projectOf(config);
  const image = imageFor(config, project);

  log.explain(`1. the image ${image} (K8S_BUILD=${gcp.k8sBuild})`);
  const registry = image.split('/')[0] ?? '';
  if (gcp.k8sBuild !== 'none' && /-docker\.pkg\.dev$/.test(registry) && !gcp.k8sImage) {
    await createOrReuse($`gcloud artifacts repositories create ${ARTIFACT_REPOSITORY} --repository-format=docker --location=${gcp.region} --project=${project}`,
      `Artifact Registry repository ${ARTIFACT_REPOSITORY}`, config.dryRun);
  }
  if (gcp.k8sBuild === 'cloudbuild') {
    await $`gcloud builds submit --config=infra/cloudbuild.yaml --substitutions=_IMAGE=${image} --project=${project} .`;
  } else if (gcp.k8sBuild === 'docker') {
    await $`gcloud auth configure-docker ${registry} --quiet`;
    await $`docker build -f backend/Dockerfile -t ${image} .`;
    await $`docker push ${image}`;
  }

  log.explain(`2. the Secrets with the stores and their passwords (${followUp('DRY_RUN=1 ./scripts/22-k8s-secrets.ts')} shows its commands)`);
  process.stdout.write((await $`${givenSettings()} ./scripts/22-k8s-secrets.ts`).stdout);

  log.explain('3. the manifests: k8s/overlays/gcp plus this deployment\'s image, reserved IP and source ranges');
  log.explain('   (Node writes the kustomization; the heredoc below writes the same file)');
  const ip = await outputOf('SERVER_HOST', () => $`gcloud compute addresses describe ${gcp.addressName} --region=${gcp.region} --project=${project} --format='value(address)'`.nothrow());
  if (!config.dryRun && !isIPv4(ip)) throw new StepError(`address ${gcp.addressName} not found: run ${followUp('./scripts/31-gcp-address.ts')} first`);
  const dir = join(config.runDir, 'k8s-gcp');
  const kustomization = wrapperKustomization({ wrapperDir: dir, overlayDir: join(repoRoot, 'k8s/overlays/gcp'), image, ip, sourceRanges: gcp.sourceRanges });
  log.command(`mkdir -p ${repoPath(dir)} && cat > ${repoPath(dir)}/kustomization.yaml <<EOF\n${kustomization}EOF`);
  if (!config.dryRun) writeFileAtomic(join(dir, 'kustomization.yaml'), kustomization);
  await $`kubectl apply --namespace=${ns} -k ${repoPath(dir)}`;

  log.explain('4. wait for the pods, then for the load balancer\'s address (printed once, then polled)');
  await $`kubectl rollout status deployment/ms-mtls-demo --namespace=${ns} --timeout=180s`;
  const serviceIp = (options: Partial<Options> = {}) => $(options)`kubectl get service ms-mtls-demo --namespace=${ns} -o 'jsonpath={.status.loadBalancer.ingress[0].ip}'`;
  const deadline = Date.now() + gcp.waitTimeoutSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    const assigned = (await serviceIp(attempt === 1 ? {} : { log: () => {} })).stdout.trim();
    if (config.dryRun) return log.dryRun();
    if (assigned) {
      log.created(`service ms-mtls-demo answers on https://${assigned}:${config.backend.port}/`);
      if (assigned !== ip) log.warn(`the load balancer got ${assigned}, not the reserved ${ip}: is the address still attached to the VM? (${followUp('make teardown')} removes the VM)`);
      return;
    }
    if (Date.now() > deadline) throw new StepError(`no load balancer IP after ${gcp.waitTimeoutSeconds}s: kubectl describe service ms-mtls-demo --namespace=${ns}`);
    log.info('load balancer pending…');
    await sleep(IP_POLL_MS);
  }
});
