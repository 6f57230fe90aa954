#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el proxy en Apigee": the reverse proxy whose target endpoint points at the target
// server. Lint the bundle, zip it, and import a new revision only when its content changed.
import { rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../core/files.ts';
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { hashFromDescription, lintBundle, renderBundle, writeBundle, zipBundle } from './lib/apigee/bundle.ts';
import { runPreflight } from './lib/apigee/preflight.ts';
import { importProxy, latestRevision } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const { proxyName, targetServer } = config.apigee;
  log.banner(`Proxy bundle ${proxyName}: lint, zip, import`, 'Crear el proxy en Apigee / Configuración del api proxy');
  runPreflight(config);
  explainTarget(config);

  const bundle = renderBundle(proxyName, targetServer);
  log.explain(`ProxyEndpoint base path /api-mtls-test → TargetEndpoint default → target server ${targetServer}; content sha256 ${bundle.hash.slice(0, 16)}`);
  const client = apigeeClient(config);
  const latest = await latestRevision(client, proxyName);
  if (latest && hashFromDescription(latest.description) === bundle.hash.slice(0, 16)) {
    log.reused(`proxy ${proxyName} revision ${latest.revision}`, '(same bundle content; no new revision)');
    return;
  }
  // The rendered copy stays in RUN_DIR so a reader can lint or inspect exactly what was imported.
  const renderedDir = join(config.runDir, 'bundle');
  rmSync(renderedDir, { recursive: true, force: true });
  await lintBundle(writeBundle(bundle, renderedDir), config.dryRun);
  const zipFile = join(config.runDir, `${proxyName}.zip`);
  writeFileAtomic(zipFile, zipBundle(bundle));
  log.info(`zipped the bundle to ${relative(process.cwd(), zipFile)}`);
  const revision = await importProxy(client, proxyName, zipFile);
  if (config.dryRun) return log.dryRun();
  log.created(`proxy ${proxyName} revision ${revision}`, latest ? `(bundle changed since revision ${latest.revision})` : '(first import)');
  log.explain('Not deployed yet, as in the tutorial: ./scripts/46-deploy.ts deploys it after the target server exists.');
});
