#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el Keystore y Truststore en Apigee" (Keystore): "Create Keystore", then an alias
// "client" holding Apigee's client key and certificate. The tutorial picks PKCS12/PFX, the file
// client-apigee-keystore.p12 and its password; Apigee X gets PEM key + certificate by default.
// A changed certificate never replaces the alias of a keystore in use (that would be DELETE then
// POST, with no key in between): it goes into a new keystore version under the same alias, and
// the reference is pointed at it.
import { join } from 'node:path';
import { displayPath, log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { $ } from './lib/shell.ts';
import { requireFiles } from './lib/apigee/preflight.ts';
import { pointGatewayAt } from './lib/apigee/repoint.ts';
import { aliasPlan, enc } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';
import { clientKeyUpload } from './lib/apigee/upload.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  const { keyAlias } = config.apigee;
  const certFile = join(config.pki.certsDir, 'apigee-client-cert.pem');
  const keyFile = join(config.pki.certsDir, 'apigee-client-key.pem');
  const p12File = join(config.pki.certsDir, 'client-apigee-keystore.p12');
  log.banner(`Keystore ${config.apigee.keystore} with alias ${keyAlias}`, 'Crear el Keystore y Truststore en Apigee — Keystore');
  requireFiles(config, [certFile, keyFile, p12File]);
  explainTarget(config);
  const client = apigeeClient(config);

  // Which keystore version the gateway uses, and whether its alias already holds this certificate.
  const plan = await aliasPlan(client, config, 'keystore', keyAlias, certFile);
  if (plan.unchanged) return;
  const { keystore } = plan;

  // Create Keystore
  if (plan.create) {
    await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: keystore }, apigeecli: ['keystores', 'create', '-n', keystore] });
  }
  // Alias "client": PKCS12/PFX file + password, or PEM certificate + key
  if (plan.upload) {
    const upload = await clientKeyUpload(config, { certFile, keyFile, p12File });
    try {
      if (upload.legacyCopy) {
        await $`openssl pkcs12 -export -in ${displayPath(certFile)} -inkey ${displayPath(keyFile)} -name ${keyAlias} -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out ${upload.p12File} -password env:STORE_PASSWORD`;
      }
      await client.call({
        method: 'POST', path: `${client.envPath}/keystores/${enc(keystore)}/aliases`, query: { alias: keyAlias, format: upload.format },
        form: upload.format === 'pkcs12'
          ? [{ name: 'file', file: upload.p12File }, { name: 'password', value: config.pki.storePassword, variable: 'STORE_PASSWORD' }]
          : [{ name: 'certFile', file: certFile }, { name: 'keyFile', file: keyFile }],
        apigeecli: upload.format === 'pkcs12'
          ? ['keyaliases', 'create', '-k', keystore, '-s', keyAlias, '-f', 'pkcs12', '--pfx-filepath', displayPath(upload.p12File), '-p', '$STORE_PASSWORD']
          : ['keyaliases', 'create', '-k', keystore, '-s', keyAlias, '-f', 'keycertfile', '--cert-filepath', displayPath(certFile), '--key-filepath', displayPath(keyFile)],
      });
    } finally {
      await upload.cleanup();
    }
    if (config.dryRun) return log.dryRun();
    log.created(`keystore ${keystore} with alias ${keyAlias}`);
  }

  // A new version: the gateway switches to it through the reference; the old one stays until then.
  if (plan.replacing && (await pointGatewayAt(client, config, plan.store, keystore))) {
    log.info(`keystore ${plan.store.current} stays until the gateway serves the new certificate: ${followUp('make rotate')} checks that and deletes it (${followUp('make clean')} deletes every version)`);
  }
});
