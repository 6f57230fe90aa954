#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el Target server con la configuración requerida para soportar mTLS": the backend's
// host and port, TLS on, two-way TLS with the client keystore (alias client), and strict
// validation of the backend's certificate against the truststore (enforce on, validation errors
// not ignored). The stores are named through the references of step 44.
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { runPreflight } from './lib/apigee/preflight.ts';
import { enc, storeFamily, targetServer, targetServerCli, targetServerDiff, type TargetServer } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const a = config.apigee;
  log.banner(`Target server ${a.targetServer} → ${config.pki.serverHost}:${config.backend.port}`, 'Crear el Target server');
  runPreflight(config);
  explainTarget(config);
  const client = apigeeClient(config);
  // Without references (APIGEE_USE_REFERENCES=0) the target server names the store versions in use.
  const keyStore = a.useReferences ? `ref://${a.keystoreRef}` : (await storeFamily(client, config, 'keystore')).current;
  const trustStore = a.useReferences ? `ref://${a.truststoreRef}` : (await storeFamily(client, config, 'truststore')).current;

  const want: TargetServer = {
    name: a.targetServer,
    description: 'mTLS backend of the Apigee mTLS tutorial',
    host: config.pki.serverHost,
    port: config.backend.port,
    isEnabled: true,
    protocol: 'HTTP',
    sSLInfo: {
      enabled: true, // SSL
      clientAuthEnabled: true, // two-way TLS: Apigee presents the alias below
      keyStore,
      keyAlias: a.keyAlias,
      trustStore, // the CA that must have signed the backend's certificate
      enforce: true, // strict: untrusted, expired or wrongly named certificates fail
      ignoreValidationErrors: false,
    },
  };

  const have = await targetServer(client, want.name);
  const diffs = have ? targetServerDiff(have, want) : [];
  if (have && diffs.length === 0) return log.reused(`target server ${want.name}`, `(${want.host}:${want.port}, TLS + client auth + enforce)`);
  for (const d of diffs) log.explain(`  change ${d}`);
  if (have) {
    await client.call({ method: 'PUT', path: `${client.envPath}/targetservers/${enc(want.name)}`, json: want, apigeecli: targetServerCli('update', want) });
  } else {
    await client.call({ method: 'POST', path: `${client.envPath}/targetservers`, json: want, apigeecli: targetServerCli('create', want) });
  }
  if (config.dryRun) return log.dryRun();
  log.created(`target server ${want.name}`, have ? `(updated: ${diffs.length} field${diffs.length > 1 ? 's' : ''})` : `(${want.host}:${want.port})`);
});
