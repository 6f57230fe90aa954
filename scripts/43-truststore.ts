#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el Keystore y Truststore en Apigee" (Truststore): the CA that signed the
// backend's certificate, uploaded "Certificate Only" as alias "ca-server" from ca-cert.pem.
import { join } from 'node:path';
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { ensureAlias, ensureKeystore } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const { truststore, trustAlias } = config.apigee;
  const caFile = join(config.pki.certsDir, 'ca-cert.pem');
  log.banner(`Truststore ${truststore} with alias ${trustAlias}`, 'Crear el Keystore y Truststore en Apigee — Truststore');
  explainTarget(config);
  const client = apigeeClient(config);
  await ensureKeystore(client, truststore, 'truststore');
  log.explain('certificate only (keycertfile without a key): Apigee uses it to verify the backend\'s server certificate');
  await ensureAlias(client, { keystore: truststore, alias: trustAlias, certFile: caFile, upload: { format: 'keycertfile', certFile: caFile } });
  if (config.dryRun) log.dryRun();
});
