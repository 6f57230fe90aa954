#!/usr/bin/env -S sh -c 'exec "${0%/*}/../scripts/lib/node-tsx" "$0" "$@"'
// Runs the Postman collection with newman against the configured setup: the direct mTLS call to
// the backend and the call through the gateway. newman's --ssl-client-cert/--ssl-client-key play
// the part of Postman's per-host client certificate setting.
import { join, relative } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { runStep } from '../scripts/lib/main.ts';
import { $ } from '../scripts/lib/shell.ts';
import { apigeeClient, resolveGateway } from '../scripts/lib/apigee/target.ts';

await runStep(async (config) => {
  log.banner('Postman collection with newman', 'Realizar las pruebas de conexión desde Postman');
  const gateway = await resolveGateway(config, apigeeClient(config));
  // Runs in the repository, where npx finds the pinned newman; paths are relative to it.
  $.cwd = repoRoot;
  const certs = relative(repoRoot, config.pki.certsDir).startsWith('..') ? config.pki.certsDir : relative(repoRoot, config.pki.certsDir) || '.';
  const result = await $({ nothrow: true })`npx newman run postman/apigee-mtls-demo.postman_collection.json -e postman/local.postman_environment.json --env-var backend_host=${config.pki.serverHost} --env-var backend_port=${config.backend.port} --env-var gateway_host=${gateway.host} --env-var gateway_port=${gateway.port} --ssl-client-cert ${join(certs, 'apigee-client-cert.pem')} --ssl-client-key ${join(certs, 'apigee-client-key.pem')} --ssl-extra-ca-certs ${join(certs, 'ca-cert.pem')} --color off --disable-unicode`;
  if (config.dryRun) return log.dryRun();
  process.stdout.write(result.stdout);
  if (result.exitCode !== 0) throw new StepError(`newman: some Postman tests failed (exit ${result.exitCode}; see the table above)`);
  log.created('Postman collection passed: direct mTLS call and call through Apigee');
});
