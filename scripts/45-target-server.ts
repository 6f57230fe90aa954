#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Crear el Target server con la configuración requerida para soportar mTLS": backend
// host and port, TLS on, two-way TLS with the client keystore, strict validation against the
// truststore (enforce=true, ignoreValidationErrors=false).
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { runPreflight } from './lib/apigee/preflight.ts';
import { desiredTargetServer, ensureTargetServer } from './lib/apigee/resources.ts';
import { apigeeClient, explainTarget } from './lib/apigee/target.ts';

await runStep(async (config) => {
  const want = desiredTargetServer(config);
  log.banner(`Target server ${want.name} → ${want.host}:${want.port}`, 'Crear el Target server');
  runPreflight(config);
  explainTarget(config);
  await ensureTargetServer(apigeeClient(config), want);
  if (config.dryRun) log.dryRun();
});
