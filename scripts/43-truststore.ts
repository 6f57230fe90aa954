#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el Keystore y Truststore en Apigee" (Truststore): "Create Keystore" again, then
// an alias "ca-server" of type "Certificate Only" holding ca-cert.pem, the CA that signed the
// backend's certificate. A changed CA goes into a new truststore version and the reference is
// pointed at it, as for the keystore (step 42).
import { join } from 'node:path';
import { displayPath, log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { requireFiles } from './lib/apigee/preflight.ts';
import { pointGatewayAt } from './lib/apigee/repoint.ts';
import { aliasPlan, enc } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  const { trustAlias } = config.apigee;
  const caFile = join(config.pki.certsDir, 'ca-cert.pem');
  log.banner(`Truststore ${config.apigee.truststore} with alias ${trustAlias}`, 'Crear el Keystore y Truststore en Apigee — Truststore');
  requireFiles(config, [caFile]);
  explainTarget(config);
  const client = apigeeClient(config);

  const plan = await aliasPlan(client, config, 'truststore', trustAlias, caFile);
  if (plan.unchanged) return;
  const truststore = plan.keystore;

  // Create Keystore (a truststore is a keystore whose aliases hold certificates only)
  if (plan.create) {
    await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: truststore }, apigeecli: ['keystores', 'create', '-n', truststore] });
  }
  // Alias "ca-server", Certificate Only: format keycertfile with a certFile and no keyFile
  if (plan.upload) {
    log.explain('Apigee checks the backend\'s server certificate against this CA');
    await client.call({
      method: 'POST', path: `${client.envPath}/keystores/${enc(truststore)}/aliases`, query: { alias: trustAlias, format: 'keycertfile' },
      form: [{ name: 'certFile', file: caFile }],
      apigeecli: ['keyaliases', 'create', '-k', truststore, '-s', trustAlias, '-f', 'keycertfile', '--cert-filepath', displayPath(caFile)],
    });
    if (config.dryRun) return log.dryRun();
    log.created(`truststore ${truststore} with alias ${trustAlias}`);
  }

  if (plan.replacing && (await pointGatewayAt(client, config, plan.store, truststore))) {
    log.info(`truststore ${plan.store.current} stays until the gateway is seen working on the new one: ${followUp('make rotate')} checks that and deletes it (${followUp('make clean')} deletes every version)`);
  }
});
