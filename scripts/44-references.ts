#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Not in the tutorial, recommended by Apigee: references between the target server and the stores.
// The target server names ref://ks-mtls-client-ref instead of the keystore, so a certificate
// rotation is "new keystore + point the reference at it" without touching the target server or
// redeploying (make rotate). APIGEE_USE_REFERENCES=0 skips this step.
import { StepError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { enc, storeFamily, storePointer, type Reference } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  log.banner('References to the keystore and truststore', 'Crear el Target server (rotation-friendly addition)');
  if (!config.apigee.useReferences) {
    log.info('APIGEE_USE_REFERENCES=0: the target server names the stores directly; nothing to do');
    return;
  }
  explainTarget(config);
  const client = apigeeClient(config);
  // The store versions in use (a reference may already point at a newer one than the configured name).
  const stores = [await storeFamily(client, config, 'keystore'), await storeFamily(client, config, 'truststore')];
  // Apigee refuses a reference to a store that does not exist: name the step that makes it, before any change.
  const missing = stores.find((store) => !store.exists);
  if (missing && !config.dryRun) {
    throw new StepError(`${missing.role} ${missing.current} does not exist yet; run ${followUp(`./scripts/${missing.role === 'keystore' ? '42-keystore' : '43-truststore'}.ts`)} first`);
  }
  for (const { role, current: refers, reference: have } of stores) {
    const { reference: name, resourceType } = storePointer(config, role);
    if (have?.refers === refers && have.resourceType === resourceType) {
      log.reused(`reference ${name}`, `→ ${refers}`);
      continue;
    }
    const body: Reference = { name, resourceType, refers };
    if (have) {
      await client.call({ method: 'PUT', path: `${client.envPath}/references/${enc(name)}`, json: body, apigeecli: ['references', 'update', '-n', name, '-s', resourceType, '--refers', refers] });
    } else {
      await client.call({ method: 'POST', path: `${client.envPath}/references`, json: body, apigeecli: ['references', 'create', '-n', name, '-s', resourceType, '--refers', refers] });
    }
    if (!config.dryRun) log.created(`reference ${name}`, `→ ${refers}${have ? ` (was ${have.refers})` : ''}`);
  }
  if (config.dryRun) log.dryRun();
});
