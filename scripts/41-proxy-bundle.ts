#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el proxy en Apigee": the reverse proxy whose target endpoint points at the target
// server (apigee-bundle/apiproxy). Lint the bundle, zip it, and import it as a new revision only
// when its content changed since the latest one.
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { writeFileAtomic } from '../core/files.ts';
import { displayPath, log, shellQuote } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { $ } from './lib/shell.ts';
import { hashFromDescription, refuseLintFindings, renderBundle, replaceBundle, zipBundle } from './lib/apigee/bundle.ts';
import { runPreflight } from './lib/apigee/preflight.ts';
import { latestRevision, revisionBefore, type RevisionInfo } from './lib/apigee/resources.ts';
import type { ApigeeClient } from './lib/apigee/client.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { followUp } from './lib/follow-up.ts';

/**
 * How the new revision relates to the ones before it, read from Apigee after the import (not from
 * the lookup before it: another run may have imported in between, e.g. two `make apigee` at once).
 */
async function importNote(client: ApigeeClient, proxy: string, revision: string, hash: string): Promise<string> {
  const before = await revisionBefore(client, proxy, revision);
  if (!before) return '(first import)';
  if (hashFromDescription(before.description) === hash) return `(same content as revision ${before.revision}, which another run imported meanwhile)`;
  return `(bundle changed since revision ${before.revision})`;
}

await runStep(async (config) => {
  const { proxyName, targetServer } = config.apigee;
  log.banner(`Proxy bundle ${proxyName}: lint, zip, import`, 'Crear el proxy en Apigee / Configuración del api proxy');
  runPreflight(config);
  explainTarget(config);

  const bundle = renderBundle(proxyName, targetServer);
  const hash = bundle.hash.slice(0, 16);
  log.explain(`ProxyEndpoint base path /api-mtls-test → TargetEndpoint default → target server ${targetServer}; content sha256 ${hash}`);
  const client = apigeeClient(config);
  const latest = await latestRevision(client, proxyName);
  if (latest && hashFromDescription(latest.description) === hash) {
    return log.reused(`proxy ${proxyName} revision ${latest.revision}`, '(same bundle content; no new revision)');
  }
  // The rendered copy stays in RUN_DIR so a reader can lint or inspect exactly what was imported.
  // DRY_RUN writes neither it nor the zip: the lines below name the files a real run writes.
  const renderedDir = join(config.runDir, 'bundle');
  const apiproxy = join(renderedDir, 'apiproxy');
  if (!config.dryRun) replaceBundle(bundle, renderedDir);
  log.comment(`Node writes apigee-bundle/apiproxy to ${displayPath(apiproxy)} with the names filled in (proxy ${proxyName}, target server ${targetServer}) and the content hash in its description`);
  // The project's apigeelint (npx finds it in node_modules/.bin); --norc ignores a stray .apigeelintrc.
  log.explain('apigeelint with the Apigee X profile: zero errors and zero warnings, or no import');
  const lint = await $({ nothrow: true, cwd: repoRoot })`npx apigeelint -s ${displayPath(apiproxy, repoRoot)} --profile apigeex --maxWarnings 0 -f table.js --norc`;
  if (!config.dryRun) refuseLintFindings(lint);
  const zipFile = join(config.runDir, `${proxyName}.zip`);
  if (!config.dryRun) writeFileAtomic(zipFile, zipBundle(bundle));
  // The same entries a reader's zip makes; Node fixes the timestamps so the bytes repeat.
  log.comment(`Node zips it to ${displayPath(zipFile)} (by hand: (cd ${shellQuote(displayPath(renderedDir))} && zip -qr ${shellQuote(`../${proxyName}.zip`)} apiproxy))`);

  // Import = create the proxy, or a new revision of it.
  const imported = await client.call({
    method: 'POST', path: `${client.orgPath}/apis`, query: { name: proxyName, action: 'import' }, form: [{ name: 'file', file: zipFile }],
    apigeecli: ['apis', 'create', 'bundle', '-n', proxyName, '-p', displayPath(zipFile)],
    // After a lost answer, a latest revision carrying this content hash is the one this import made.
    reread: async () => {
      const now = await latestRevision(client, proxyName, true);
      return now && now.revision !== latest?.revision && hashFromDescription(now.description) === hash ? now : undefined;
    },
  });
  if (config.dryRun) return log.dryRun();
  const revision = imported!.json<RevisionInfo>().revision;
  log.created(`proxy ${proxyName} revision ${revision}`, await importNote(client, proxyName, revision, hash));
  log.explain(`Not deployed yet, as in the tutorial: ${followUp('./scripts/46-deploy.ts')} deploys it after the target server exists.`);
});
