#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The troubleshooting the tutorial lacks: break one piece of the mTLS chain at a time, call the
// proxy with curl until the runtime shows the break, explain the 503, put the good target server
// back and wait until the proxy answers 200 again.
import { join } from 'node:path';
import { displayPath, log, shellQuote } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { StepError } from '../core/errors.ts';
import { recordScenario } from './lib/scenarios.ts';
import { requireConfiguredDeployment } from './lib/apigee/deployed.ts';
import { expectation, failureScenarios, runFailureScenarios } from './lib/apigee/failures.ts';
import { BASE_PATH, curlAnswer, describeAnswer } from './lib/apigee/gateway.ts';
import { apigeeClient, explainTarget, gatewayUrl, resolveGateway } from './lib/apigee/target.ts';

await runStep(async (config) => {
  log.banner('Gateway failure scenarios', 'Realizar las pruebas (what a 503 means)');
  explainTarget(config);
  const client = apigeeClient(config);
  const gateway = await resolveGateway(config, client);
  // As in step 47: --max-time (APIGEE_GATEWAY_TIMEOUT); the stand-in's certificate comes from the kit's CA; --resolve for a host other than localhost.
  const cacert = gateway.caFile ? ['--cacert', displayPath(gateway.caFile)] : [];
  const resolve = gateway.resolve ? ['--resolve', gateway.resolve] : [];
  const url = gatewayUrl(gateway, BASE_PATH);
  // A change to the configured target server shows at the gateway only when the proxy deployed is
  // the one the kit configured; else every scenario would record "still 200" against another one.
  await requireConfiguredDeployment(client, config, failureScenarios().map((s) => s.name));
  // Quoted as the `$` lines below quote it (a CERTS_DIR with a space).
  log.explain(`after each change: curl -sS -v --max-time ${gateway.timeoutMs / 1000} ${[...cacert, ...resolve, url].map(shellQuote).join(' ')}`);
  // The local backend started by 20-backend.ts logs to RUN_DIR; its refusals are part of the story.
  const backendLog = config.apigee.target === 'local' ? join(config.runDir, 'backend.log') : undefined;
  const outcomes = await runFailureScenarios(client, config,
    async ($) => curlAnswer(await $`curl -sS -v --max-time ${gateway.timeoutMs / 1000} ${[...cacert, ...resolve, url]}`, gateway, url),
    backendLog);
  if (config.dryRun) return log.dryRun();
  for (const o of outcomes) {
    if (o.skipped) continue;
    recordScenario(config.runDir, { scenario: o.scenario.name, expected: expectation(o.scenario), got: o.answer ? describeAnswer(o.answer) : 'no answer', ok: o.ok });
  }
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) throw new StepError(`${failed.length} gateway scenario(s) did not answer as expected: ${failed.map((o) => o.scenario.name).join(', ')}`);
  log.info('');
  log.created(`${outcomes.filter((o) => !o.skipped).length} failure scenarios answered as expected; the good target server is back`);
});
