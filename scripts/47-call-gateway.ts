#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Realizar las pruebas de conexión desde Postman o CURL": call the deployed proxy with
// curl, without a client certificate: Apigee holds that one and presents it to the backend, which
// answers the greeting. Right after the Apigee steps the runtime may still serve the previous
// configuration, so the call is repeated (bounded by APIGEE_PROPAGATION_TIMEOUT) until it answers.
import { displayPath, log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { StepError } from '../core/errors.ts';
import { recordScenario } from './lib/scenarios.ts';
import { GREETING } from '../backend/routes.ts';
import { BASE_PATH, curlAnswer, describeAnswer, isGreeting, type GatewayAnswer } from './lib/apigee/gateway.ts';
import { untilRuntime, type Shell } from './lib/apigee/propagation.ts';
import { deployedRevisions } from './lib/apigee/resources.ts';
import { apigeeClient, gatewayUrl, resolveGateway } from './lib/apigee/target.ts';
import { backendCheckAtFirst503 } from './lib/tcp.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config) => {
  log.banner('Call the proxy through the gateway', 'Realizar las pruebas de conexión desde Postman o CURL');
  const client = apigeeClient(config);
  const gateway = await resolveGateway(config, client);
  log.explain('no client certificate here: Apigee holds it and uses it towards the backend');
  // --max-time (APIGEE_GATEWAY_TIMEOUT, the whole call): a gateway that never answers must not hang
  // the step. The stand-in's certificate comes from the kit's CA (Apigee X's from a public one), and
  // a host name other than localhost is sent to the stand-in with --resolve.
  const cacert = gateway.caFile ? ['--cacert', displayPath(gateway.caFile)] : [];
  const resolve = gateway.resolve ? ['--resolve', gateway.resolve] : [];
  const url = gatewayUrl(gateway, BASE_PATH);
  const record = (answer: GatewayAnswer, ok: boolean) =>
    recordScenario(config.runDir, {
      scenario: 'gateway: proxy → mTLS backend',
      expected: `200 ${GREETING}`,
      got: answer.status === 200 ? `200 ${answer.body.trim().slice(0, 60)}` : describeAnswer(answer),
      ok,
    });
  // Two answers that waiting would not change, checked once each: a 404 is also what a proxy never
  // deployed gets (called until the propagation timeout, 5 min on Apigee X), so the management API
  // is asked; a local 503 is usually a stopped backend (make all stops the one it started).
  let askedDeployments = false;
  const backendStopped = backendCheckAtFirst503(config);
  const call = async ($: Shell) => {
    const answer = curlAnswer(await $`curl -sS -v --max-time ${gateway.timeoutMs / 1000} ${[...cacert, ...resolve, url]}`, gateway, url);
    if (config.dryRun) return answer;
    let cause: string | undefined;
    if (answer.status === 404 && !askedDeployments) {
      askedDeployments = true;
      const { proxyName, env } = config.apigee;
      if ((await deployedRevisions(client, proxyName)).length === 0) cause = `${proxyName} is not deployed in ${env}; run ${followUp('./scripts/46-deploy.ts')} first`;
    }
    const stopped = await backendStopped(answer.status);
    if (stopped) cause = `gateway answered ${describeAnswer(answer)}: ${stopped}`;
    if (cause) {
      record(answer, false); // a PASS from an earlier run must not stay in the summary
      throw new StepError(cause);
    }
    return answer;
  };
  const { answer, ok, waitedMs } = await untilRuntime(config, 'HTTP 200 with the greeting', call, isGreeting, describeAnswer);
  if (config.dryRun) return log.dryRun();
  record(answer, ok);
  if (!ok) {
    const waited = waitedMs > 0 && config.apigee.propagationTimeoutMs > 0 ? ` after waiting ${(waitedMs / 1000).toFixed(1)} s` : '';
    throw new StepError(`gateway answered ${describeAnswer(answer)}${answer.faultstring ? ` (${answer.faultstring})` : ''}${waited}; see docs/tutorial.md#troubleshooting`);
  }
  log.created(`HTTP ${answer.status}: ${answer.body.trim()}`);
});
