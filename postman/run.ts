#!/usr/bin/env -S node --import tsx
// Runs the Postman collection with newman against the configured setup: the direct mTLS call to
// the backend and the call through the gateway. newman's --ssl-client-cert/--ssl-client-key play
// the part of Postman's per-host client certificate setting.
import { join } from 'node:path';
import { repoRoot } from '../core/config.ts';
import { StepError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { runStep } from '../scripts/lib/main.ts';
import { $ } from '../scripts/lib/shell.ts';
import { shownPath as show } from '../scripts/lib/apigee/client.ts';
import { apigeeClient, resolveGateway } from '../scripts/lib/apigee/target.ts';

await runStep(async (config) => {
  log.banner('Postman collection with newman', 'Realizar las pruebas de conexión desde Postman');
  const certs = config.pki.certsDir;
  const gateway = await resolveGateway(config, apigeeClient(config));
  const args = [
    'run', show(join(repoRoot, 'postman', 'apigee-mtls-demo.postman_collection.json')),
    '-e', show(join(repoRoot, 'postman', 'local.postman_environment.json')),
    '--env-var', `backend_host=${config.pki.serverHost}`, '--env-var', `backend_port=${config.backend.port}`,
    '--env-var', `gateway_host=${gateway.host}`, '--env-var', `gateway_port=${gateway.port}`,
    '--ssl-client-cert', show(join(certs, 'apigee-client-cert.pem')), '--ssl-client-key', show(join(certs, 'apigee-client-key.pem')),
    '--ssl-extra-ca-certs', show(join(certs, 'ca-cert.pem')),
    '--color', 'off', '--disable-unicode',
  ];
  const result = await $({ nothrow: true })`npx newman ${args}`;
  if (config.dryRun) return log.dryRun();
  process.stdout.write(result.stdout);
  if (result.exitCode !== 0) throw new StepError('newman: some Postman tests failed (see the table above)');
  log.created('Postman collection passed: direct mTLS call and call through Apigee');
});
