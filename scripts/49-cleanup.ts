#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Undo the Apigee steps in reverse order (undeploy, proxy, target server, references, stores),
// then stop the local services. Certificates stay unless --remove-certs is given.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { run } from './lib/run.ts';
import { StepError } from '../core/errors.ts';
import type { ApigeeClient } from './lib/apigee/client.ts';
import { wrongTruststoreName } from './lib/apigee/failures.ts';
import { deleteIfPresent, deployedRevisions } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { repoRoot, type Config } from '../core/config.ts';

const enc = encodeURIComponent;

async function cleanApigee(client: ApigeeClient, config: Config): Promise<void> {
  const a = config.apigee;
  for (const revision of await deployedRevisions(client, a.proxyName)) {
    await deleteIfPresent(client, `${client.envPath}/apis/${enc(a.proxyName)}/revisions/${enc(revision)}/deployments`,
      `deployment of ${a.proxyName} revision ${revision}`, ['apis', 'undeploy', '-n', a.proxyName, '-v', revision]);
  }
  await deleteIfPresent(client, `${client.orgPath}/apis/${enc(a.proxyName)}`, `proxy ${a.proxyName}`, ['apis', 'delete', '-n', a.proxyName]);
  await deleteIfPresent(client, `${client.envPath}/targetservers/${enc(a.targetServer)}`, `target server ${a.targetServer}`, ['targetservers', 'delete', '-n', a.targetServer]);
  for (const ref of [a.keystoreRef, a.truststoreRef]) {
    await deleteIfPresent(client, `${client.envPath}/references/${enc(ref)}`, `reference ${ref}`, ['references', 'delete', '-n', ref]);
  }
  for (const store of [a.keystore, a.truststore, wrongTruststoreName(config)]) {
    await deleteIfPresent(client, `${client.envPath}/keystores/${enc(store)}`, `keystore ${store}`, ['keystores', 'delete', '-n', store]);
  }
}

await runStep(async (config) => {
  const removeCerts = process.argv.includes('--remove-certs');
  log.banner('Clean up', 'the reverse of the tutorial');
  explainTarget(config);
  const client = apigeeClient(config);
  try {
    await cleanApigee(client, config);
  } catch (error) {
    // A stopped stand-in has nothing left to clean; any other failure is real.
    if (config.apigee.target === 'local' && error instanceof StepError && /ECONNREFUSED/.test(error.message)) {
      log.reused('local Apigee stand-in: not running, nothing to delete there');
    } else {
      throw error;
    }
  }

  if (config.apigee.target === 'local') {
    for (const script of ['40-apigee-local.ts', '20-backend.ts']) {
      const path = join(repoRoot, 'scripts', script);
      if (!existsSync(path)) continue;
      log.command([`./scripts/${script}`, '--stop']);
      const stopped = await run([path, '--stop'], { dryRun: config.dryRun, quiet: true });
      process.stdout.write(stopped.stdout);
    }
  }

  if (!removeCerts) {
    log.info(`certificates kept in ${config.pki.certsDir} (add --remove-certs to delete them)`);
  } else if (existsSync(config.pki.certsDir)) {
    const files = readdirSync(config.pki.certsDir);
    if (config.dryRun) log.command(['rm', '-r', config.pki.certsDir]);
    else {
      rmSync(config.pki.certsDir, { recursive: true, force: true });
      log.created(`removed ${config.pki.certsDir} (${files.length} files)`);
    }
  }
  if (config.dryRun) log.dryRun();
});
