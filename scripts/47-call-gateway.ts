#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Realizar las pruebas de conexión desde Postman o CURL": call the deployed proxy; the
// gateway makes the mTLS call to the backend and relays its answer.
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { StepError } from '../core/errors.ts';
import { recordScenario } from './lib/scenarios.ts';
import { BASE_PATH, describeAnswer } from './lib/apigee/failures.ts';
import { GREETING, callGateway, gatewayCurl } from './lib/apigee/gateway.ts';
import { apigeeClient, resolveGateway } from './lib/apigee/target.ts';

await runStep(async (config) => {
  log.banner('Call the proxy through the gateway', 'Realizar las pruebas de conexión desde Postman o CURL');
  const gateway = await resolveGateway(config, apigeeClient(config));
  log.command(gatewayCurl(gateway, BASE_PATH), 'no client certificate here: Apigee holds it and uses it towards the backend');
  if (config.dryRun) return log.dryRun();
  const answer = await callGateway(gateway, BASE_PATH);
  const ok = answer.status === 200 && answer.body.includes(GREETING);
  recordScenario(config.runDir, {
    scenario: 'gateway: proxy → mTLS backend',
    expected: `200 ${GREETING}`,
    got: answer.status === 200 ? `200 ${answer.body.trim().slice(0, 60)}` : describeAnswer(answer),
    ok,
  });
  if (!ok) {
    throw new StepError(`gateway answered ${describeAnswer(answer)}${answer.faultstring ? ` (${answer.faultstring})` : ''}; see docs/tutorial.md#troubleshooting`);
  }
  log.created(`HTTP ${answer.status}: ${answer.body.trim()}`);
});
