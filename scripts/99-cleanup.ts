#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Undo the Apigee steps in reverse order (undeploy, proxy, target server, references, every
// version of the stores), then stop the local services. Certificates stay unless --remove-certs.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { displayPath, log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { $ } from './lib/shell.ts';
import { KIT_SETTINGS, RUN_SETTINGS, followUp, givenSettings } from './lib/follow-up.ts';
import { StepError } from '../core/errors.ts';
import type { ApigeeClient } from './lib/apigee/client.ts';
import { wrongTruststoreName } from './lib/apigee/failures.ts';
import { deployedRevisions, enc, envDeployments, reportDeleted, storeFamily } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { clearScenarios, readScenarios } from './lib/scenarios.ts';
import { repoRoot, type Config } from '../core/config.ts';

async function cleanApigee(client: ApigeeClient, config: Config): Promise<void> {
  const a = config.apigee;
  const remove = async (path: string, what: string, apigeecli: string[]) =>
    reportDeleted(client, what, await client.call({ method: 'DELETE', path, allowNotFound: true, apigeecli }));
  for (const revision of await deployedRevisions(client, a.proxyName)) {
    await remove(`${client.envPath}/apis/${enc(a.proxyName)}/revisions/${enc(revision)}/deployments`, `deployment of ${a.proxyName} revision ${revision}`,
      ['apis', 'undeploy', '-n', a.proxyName, '-v', revision]);
  }
  await remove(`${client.orgPath}/apis/${enc(a.proxyName)}`, `proxy ${a.proxyName}`, ['apis', 'delete', '-n', a.proxyName]);
  await remove(`${client.envPath}/targetservers/${enc(a.targetServer)}`, `target server ${a.targetServer}`, ['targetservers', 'delete', '-n', a.targetServer]);
  for (const ref of [a.keystoreRef, a.truststoreRef]) await remove(`${client.envPath}/references/${enc(ref)}`, `reference ${ref}`, ['references', 'delete', '-n', ref]);
  // Every version a rotation left (ks-mtls-client, ks-mtls-client-v2, …) and the failure scenario's store.
  const keystores = await storeFamily(client, config, 'keystore');
  const truststores = await storeFamily(client, config, 'truststore');
  const stores = [...new Set([...keystores.versions, ...truststores.versions, wrongTruststoreName(config)])];
  if (client.dryRun) stores.unshift(a.keystore, a.truststore);
  for (const store of new Set(stores)) await remove(`${client.envPath}/keystores/${enc(store)}`, `keystore ${store}`, ['keystores', 'delete', '-n', store]);
  await reportOthers(client, config);
}

/**
 * What is left is not named in the settings (often the names from before a rename, whose proxy
 * still holds the base path): said, never deleted. One list call per kind.
 */
async function reportOthers(client: ApigeeClient, config: Config): Promise<void> {
  const deployments = await envDeployments(client);
  const proxies = (await client.lookup<{ proxies?: Array<{ name: string }> }>(`${client.orgPath}/apis`, ['apis', 'list']))?.proxies?.map((p) => p.name) ?? [];
  const list = async (kind: string) => (await client.lookup<string[]>(`${client.envPath}/${kind}`, [kind, 'list'])) ?? [];
  const kinds: Array<[string, string[]]> = [
    [`deployed in ${config.apigee.env}`, deployments.map((d) => `${d.apiProxy} revision ${d.revision}`)],
    ['proxies', proxies],
    ['target servers', await list('targetservers')],
    ['references', await list('references')],
    ['keystores', await list('keystores')],
  ];
  const found = kinds.filter(([, names]) => names.length > 0)
    .map(([kind, names]) => `${kind}: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ` and ${names.length - 8} more` : ''}`);
  if (client.dryRun || found.length === 0) return;
  // The line asks for other values of these names: the given ones would name the same resources again.
  const names = ['APIGEE_PROXY_NAME', 'APIGEE_TARGET_SERVER', 'APIGEE_KEYSTORE', 'APIGEE_TRUSTSTORE', 'APIGEE_KEYSTORE_REF', 'APIGEE_TRUSTSTORE_REF'];
  log.warn(`left in place, under names your settings do not give (from before a rename, or not the kit's): ${found.join('; ')}. `
    + `To delete the kit's ones too, run ${followUp('make clean', KIT_SETTINGS.filter((name) => !names.includes(name)))} again with those names set (${names.join(', ')})`);
}

async function forgetStandInState(config: Config): Promise<void> {
  const dir = config.apigee.localDir;
  if (!existsSync(join(dir, 'state.json'))) return log.reused('local Apigee stand-in: not running and nothing saved, nothing to delete there');
  log.explain(`local Apigee stand-in: not running; the resources it saved in ${displayPath(dir)} would come back on its next start, so they go`);
  await $({ cwd: dir })`rm -rf state.json keys bundles`;
  if (!config.dryRun) log.created(`removed the stand-in's saved resources in ${displayPath(dir)}`);
}

await runStep(async (config, args) => {
  const removeCerts = args['remove-certs'] === true;
  log.banner('Clean up', 'the reverse of the tutorial');
  explainTarget(config);
  const client = apigeeClient(config);
  try {
    await cleanApigee(client, config);
  } catch (error) {
    // A stopped stand-in keeps its resources in APIGEE_LOCAL_DIR and serves them again on its
    // next start: those files go instead. Any other failure is real.
    if (config.apigee.target === 'local' && error instanceof StepError && /ECONNREFUSED/.test(error.message)) {
      await forgetStandInState(config);
    } else {
      throw error;
    }
  }

  if (config.apigee.target === 'local') {
    const scripts = $({ cwd: repoRoot });
    // Printed with the RUN_DIR this step got from its environment, as a reader's shell needs it.
    const given = givenSettings(RUN_SETTINGS);
    process.stdout.write((await scripts`${given} ./scripts/40-apigee-local.ts --stop`).stdout);
    process.stdout.write((await scripts`${given} ./scripts/20-backend.ts --stop`).stdout);
  }

  // The recorded scenarios describe what was just removed: `make summary` must not show them as passing.
  if (!config.dryRun && readScenarios(config.runDir).length > 0) {
    clearScenarios(config.runDir);
    log.info('recorded scenarios cleared: they described the setup just removed (make all records them again)');
  }

  if (!removeCerts) {
    log.info(`certificates kept in ${displayPath(config.pki.certsDir)} (add --remove-certs to delete them)`);
  } else if (existsSync(config.pki.certsDir)) {
    const files = readdirSync(config.pki.certsDir);
    await $`rm -r ${displayPath(config.pki.certsDir)}`;
    if (!config.dryRun) log.created(`removed ${displayPath(config.pki.certsDir)} (${files.length} files)`);
  }
  if (config.dryRun) log.dryRun();
}, { 'remove-certs': { type: 'boolean' } });
