#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Not in the tutorial, recommended by Apigee: references (ref://…) between the target server and
// the stores, so a certificate rotation is "new keystore + repoint the reference" without
// touching the target server or redeploying. APIGEE_USE_REFERENCES=0 skips this step.
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { ensureReference } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const a = config.apigee;
  log.banner('References to the keystore and truststore', 'Crear el Target server (rotation-friendly addition)');
  if (!a.useReferences) {
    log.info('APIGEE_USE_REFERENCES=0: the target server names the stores directly; nothing to do');
    return;
  }
  explainTarget(config);
  const client = apigeeClient(config);
  await ensureReference(client, a.keystoreRef, 'KeyStore', a.keystore);
  await ensureReference(client, a.truststoreRef, 'TrustStore', a.truststore);
  if (config.dryRun) log.dryRun();
});
