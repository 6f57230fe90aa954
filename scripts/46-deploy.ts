#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Configuración del api proxy" (…y desplegar): deploy the latest revision with
// override and wait until the environment reports READY.
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { StepError } from '../core/errors.ts';
import { deployAndWait, latestRevision } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const { proxyName, env } = config.apigee;
  log.banner(`Deploy ${proxyName} to ${env}`, 'Configuración del api proxy — desplegar');
  explainTarget(config);
  const client = apigeeClient(config);
  const latest = await latestRevision(client, proxyName);
  if (!latest && !config.dryRun) throw new StepError(`proxy ${proxyName} has no revision yet; run ./scripts/41-proxy-bundle.ts first`);
  const revision = latest?.revision ?? '1';
  if (config.dryRun && !latest) log.dryRun('DRY_RUN: revision not looked up; showing revision 1');
  const cloud = config.apigee.target === 'apigee-x';
  await deployAndWait(client, proxyName, revision, { intervalMs: cloud ? 5000 : 200, timeoutMs: cloud ? 600_000 : 30_000 });
  if (config.dryRun) log.dryRun();
});
