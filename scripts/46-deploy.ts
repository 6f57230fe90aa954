#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Configuración del api proxy" (…y desplegar): deploy the latest revision to the
// environment (override=true replaces a revision deployed before, without downtime) and wait
// until the environment reports READY.
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { StepError } from '../core/errors.ts';
import { basePathConflict } from './lib/apigee/deployed.ts';
import { deployedRevisions, enc, latestRevision, waitForReady, type Deployment } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  const { proxyName, env } = config.apigee;
  log.banner(`Deploy ${proxyName} to ${env}`, 'Configuración del api proxy — desplegar');
  explainTarget(config);
  const client = apigeeClient(config);
  const latest = await latestRevision(client, proxyName);
  if (!latest && !config.dryRun) throw new StepError(`proxy ${proxyName} has no revision yet; run ${followUp('./scripts/41-proxy-bundle.ts')} first`);
  const revision = latest?.revision ?? '1';
  if (config.dryRun && !latest) log.dryRun('DRY_RUN: revision not looked up; showing revision 1');
  const path = `${client.envPath}/apis/${enc(proxyName)}/revisions/${enc(revision)}/deployments`;

  // What the environment runs now: that revision READY → nothing to do.
  const deployed = await deployedRevisions(client, proxyName);
  for (const other of deployed.filter((r) => r !== revision)) log.explain(`revision ${other} is deployed now; override=true replaces it without downtime`);
  const status = deployed.includes(revision) ? await client.lookup<Deployment>(path, ['apis', 'listdeploy', '-n', proxyName]) : undefined;
  if (status?.state === 'READY') return log.reused(`deployment of ${proxyName} revision ${revision} in ${env}`, '(READY)');

  if (status?.state !== 'PROGRESSING') {
    try {
      await client.call({ method: 'POST', path, query: { override: true }, apigeecli: ['apis', 'deploy', '-n', proxyName, '-v', revision, '--ovr', '--wait'] });
    } catch (error) {
      // Typically the proxy's old name, still deployed after APIGEE_PROXY_NAME changed: name it and how to undeploy it.
      const conflict = await basePathConflict(client, config, error);
      throw conflict ? new StepError(conflict) : error;
    }
  }
  const cloud = config.apigee.target === 'apigee-x';
  await waitForReady(client, path, `${proxyName} revision ${revision}`, {
    intervalMs: cloud ? 5000 : 200, timeoutMs: cloud ? 600_000 : 30_000, apigeecli: ['apis', 'listdeploy', '-n', proxyName],
  });
  if (config.dryRun) return log.dryRun();
  log.created(`${proxyName} revision ${revision} deployed to ${env}`);
});
