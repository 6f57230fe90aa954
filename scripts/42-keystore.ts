#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el Keystore y Truststore en Apigee" (Keystore): the keystore that holds Apigee's
// client key and certificate, uploaded as alias "client" from client-apigee-keystore.p12.
import { join } from 'node:path';
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { ensureAlias, ensureKeystore, type AliasUpload } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const { keystore, keyAlias, aliasFormat } = config.apigee;
  const dir = config.pki.certsDir;
  log.banner(`Keystore ${keystore} with alias ${keyAlias}`, 'Crear el Keystore y Truststore en Apigee — Keystore');
  explainTarget(config);
  const client = apigeeClient(config);
  await ensureKeystore(client, keystore, 'keystore');
  const upload: AliasUpload = aliasFormat === 'pkcs12'
    ? { format: 'pkcs12', p12File: join(dir, 'client-apigee-keystore.p12'), password: config.pki.storePassword }
    : { format: 'keycertfile', certFile: join(dir, 'apigee-client-cert.pem'), keyFile: join(dir, 'apigee-client-key.pem') };
  log.explain(aliasFormat === 'pkcs12'
    ? 'PKCS12/PFX upload with the store password, as in the tutorial (APIGEE_ALIAS_FORMAT=keycertfile uploads the PEM key and certificate instead)'
    : 'key + certificate upload (keycertfile); the tutorial uploads the PKCS#12 file instead');
  await ensureAlias(client, { keystore, alias: keyAlias, certFile: join(dir, 'apigee-client-cert.pem'), upload });
  if (config.dryRun) log.dryRun();
});
