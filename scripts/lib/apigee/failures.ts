// The gateway failure scenarios the tutorial does not cover: each breaks one piece of the mTLS
// chain on the target server, calls the proxy until the runtime shows the break, says what the
// 503 means, then puts the good target server back and waits until the proxy answers 200 again
// (so the next scenario cannot observe the previous one's answer).
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { displayPath, log } from '../../../core/log.ts';
import { onInterrupt } from '../interrupt.ts';
import { reaches } from '../tcp.ts';
import type { ApigeeClient } from './client.ts';
import { describeAnswer, isGreeting, type GatewayAnswer } from './gateway.ts';
import { untilRuntime, type Shell } from './propagation.ts';
import { aliasCertificate, enc, targetServer, targetServerCli, type TargetServer } from './resources.ts';
import { followUp } from '../follow-up.ts';

export interface FailureScenario {
  name: string;
  /** One sentence: what breaks and why the gateway answers what it does. */
  explain: string;
  expectStatus: number;
  /** Suffix of the fault's errorcode, when the runtime names one. */
  expectCode?: string;
  /** Event the backend must log (checked when its log file is known), e.g. connection-refused. */
  backendEvent?: string;
  /** The good target server with one piece broken (and what that needs); undefined = cannot be shown here. */
  prepare(client: ApigeeClient, config: Config, good: TargetServer): Promise<TargetServer | undefined>;
}

/** A truststore holding the client certificate instead of the CA: a classic upload mistake. */
export const wrongTruststoreName = (config: Config) => `${config.apigee.truststore}-no-ca`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Another name or address of the same backend that its certificate does not name: another
 * loopback address (when the backend listens on every interface) or the machine's host name,
 * the classic "target server says the host name, certificate says the IP" mistake.
 */
async function hostOutsideCertificate(config: Config): Promise<string | undefined> {
  // Reachability is probed from this machine, which says nothing about what Apigee X can reach.
  if (config.apigee.target !== 'local') return undefined;
  const cert = new X509Certificate(readFileSync(join(config.pki.certsDir, 'server-cert.pem')));
  const host = config.pki.serverHost;
  const candidates = [...(host.startsWith('127.') ? ['127.0.0.2'] : []), hostname()];
  for (const candidate of candidates) {
    const named = isIP(candidate) ? cert.checkIP(candidate) !== undefined : cert.checkHost(candidate) !== undefined;
    if (candidate !== host && !named && (await reaches(candidate, config.backend.port))) return candidate;
  }
  return undefined;
}

/** Makes the wrong truststore (client certificate as its only alias) unless it is there. */
async function wrongTruststore(client: ApigeeClient, config: Config): Promise<string> {
  const name = wrongTruststoreName(config);
  const alias = config.apigee.trustAlias;
  const clientCert = join(config.pki.certsDir, 'apigee-client-cert.pem');
  if (await aliasCertificate(client, name, alias)) return name;
  if (!(await client.lookup(`${client.envPath}/keystores/${enc(name)}`, ['keystores', 'get', '-n', name]))) {
    await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name }, apigeecli: ['keystores', 'create', '-n', name] });
  }
  await client.call({
    method: 'POST', path: `${client.envPath}/keystores/${enc(name)}/aliases`, query: { alias, format: 'keycertfile' },
    form: [{ name: 'certFile', file: clientCert }],
    apigeecli: ['keyaliases', 'create', '-k', name, '-s', alias, '-f', 'keycertfile', '--cert-filepath', displayPath(clientCert)],
  });
  return name;
}

export function failureScenarios(): FailureScenario[] {
  return [
    {
      name: 'gateway: target server without client auth',
      explain: 'clientAuthEnabled=false means Apigee presents no client certificate, so the backend (client-auth need) refuses the handshake and the gateway answers 503.',
      expectStatus: 503,
      backendEvent: 'connection-refused',
      async prepare(_client, _config, good) {
        return { ...good, sSLInfo: { ...good.sSLInfo, clientAuthEnabled: false, keyStore: undefined, keyAlias: undefined } };
      },
    },
    {
      name: 'gateway: truststore without the CA',
      explain: 'the truststore holds the client certificate instead of the CA, so Apigee cannot build a path to the backend\'s certificate (PKIX) and answers 503 SslHandshakeFailed.',
      expectStatus: 503,
      expectCode: 'SslHandshakeFailed',
      async prepare(client, config, good) {
        return { ...good, sSLInfo: { ...good.sSLInfo, trustStore: await wrongTruststore(client, config) } };
      },
    },
    {
      name: 'gateway: host not in the server certificate',
      explain: 'with enforce=true Apigee checks the backend\'s certificate against the target server host; a name or address missing from its SAN fails the handshake with 503.',
      expectStatus: 503,
      async prepare(_client, config, good) {
        const host = await hostOutsideCertificate(config);
        return host ? { ...good, host } : undefined;
      },
    },
    {
      name: 'gateway: backend down',
      explain: 'nothing accepts the connection on the target port (backend stopped), so there is no TLS at all and the gateway answers 503 ServiceUnavailable.',
      expectStatus: 503,
      expectCode: 'ServiceUnavailable',
      async prepare(_client, _config, good) {
        return { ...good, port: await freePort() };
      },
    },
  ];
}

export const expectation = (s: Pick<FailureScenario, 'expectStatus' | 'expectCode'>) => `${s.expectStatus}${s.expectCode ? ` ${s.expectCode}` : ''}`;

export function matches(scenario: Pick<FailureScenario, 'expectStatus' | 'expectCode'>, answer: GatewayAnswer): boolean {
  return answer.status === scenario.expectStatus && (!scenario.expectCode || (answer.errorcode ?? '').endsWith(scenario.expectCode));
}

/** Waits (bounded) for a JSON log line with the given event written after `offset`. */
async function waitForLogEvent(file: string, offset: number, event: string, timeoutMs = 3000): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fresh = existsSync(file) ? readFileSync(file).subarray(offset).toString('utf8') : '';
    for (const line of fresh.split('\n')) {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.event === event) return parsed;
      } catch {
        // partial or non-JSON line
      }
    }
    // The backend batches its log writes; poll briefly rather than sleep a fixed time.
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
}

export interface FailureOutcome {
  scenario: FailureScenario;
  answer: GatewayAnswer | undefined;
  ok: boolean;
  skipped?: string;
  /** How long the runtime took to show the break, and to serve the good target server again. */
  waits?: { breakMs: number; restoreMs: number };
}

/** The gateway call of step 48, made with zx's `$` given (printed the first time). */
export type GatewayCall = (sh: Shell) => Promise<GatewayAnswer>;

function putTargetServer(client: ApigeeClient, ts: TargetServer): Promise<unknown> {
  return client.call({ method: 'PUT', path: `${client.envPath}/targetservers/${enc(ts.name)}`, json: ts, apigeecli: targetServerCli('update', ts) });
}

/** Runs every scenario; after each one the good target server is back and answering. */
export async function runFailureScenarios(client: ApigeeClient, config: Config, call: GatewayCall, backendLog?: string, scenarios = failureScenarios()): Promise<FailureOutcome[]> {
  const outcomes: FailureOutcome[] = [];
  const good = await targetServer(client, config.apigee.targetServer);
  if (client.dryRun) {
    log.dryRun('DRY_RUN: the good target server is read from Apigee, changed one piece at a time and put back; nothing is read or sent now');
    for (const s of scenarios) log.info(`▸ ${s.name}: ${s.explain}`);
    return [];
  }
  if (!good) throw new StepError(`target server ${config.apigee.targetServer} does not exist yet; run the Apigee steps first (${followUp('make apigee')})`);
  // What is read above is put back after each scenario: it must not be a change of a scenario that a
  // stopped run left behind. Checked in the management API, which has it at once (the runtime may lag).
  const leftover = [
    good.host !== config.pki.serverHost && `host ${good.host}`,
    good.port !== config.backend.port && `port ${good.port}`,
    !good.sSLInfo?.clientAuthEnabled && 'clientAuthEnabled false',
    good.sSLInfo?.trustStore === wrongTruststoreName(config) && `trustStore ${good.sSLInfo.trustStore}`,
  ].filter(Boolean);
  if (leftover.length > 0) {
    throw new StepError(`target server ${good.name} is not the good one (${leftover.join(', ')}); put it back with ${followUp('./scripts/45-target-server.ts')}, then run this step again`);
  }
  // Each scenario starts from a gateway that answers 200: the runtime may still serve an older change.
  const working = await untilRuntime(config, 'HTTP 200 with the greeting', call, isGreeting, describeAnswer);
  if (!working.ok) throw new StepError(`the proxy answers ${describeAnswer(working.answer)} before any change, not 200; see docs/tutorial.md#troubleshooting`);
  // The scenario whose change the target server may hold, for the line a Ctrl-C prints.
  let broken: string | undefined;
  const stopListening = onInterrupt(() => broken
    ? `stopped during "${broken}"; target server ${good.name} may still hold its change: run ${followUp('./scripts/45-target-server.ts')} to put the good one back`
    : `stopped between scenarios; target server ${good.name} is the good one`);
  try {
    for (const scenario of scenarios) {
      log.info('');
      log.info(`▸ ${scenario.name}`);
      log.explain(scenario.explain);
      const change = await scenario.prepare(client, config, good);
      if (!change) {
        outcomes.push({ scenario, answer: undefined, ok: true, skipped: 'no other name or address of this backend is missing from its certificate' });
        log.warn('skipped: no other name or address reaches this backend (it listens on SERVER_HOST only and the host name is in the certificate or elsewhere)');
        continue;
      }
      const logOffset = backendLog && existsSync(backendLog) ? statSync(backendLog).size : undefined;
      broken = scenario.name;
      await putTargetServer(client, change);
      const shown = await untilRuntime(config, expectation(scenario), call, (a) => matches(scenario, a), describeAnswer);
      const answer = shown.answer;
      let ok = shown.ok;
      (ok ? log.created : log.warn)(`${describeAnswer(answer)}${answer.faultstring ? ` — ${answer.faultstring}` : ''}`);
      if (scenario.backendEvent && backendLog && logOffset !== undefined) {
        const seen = await waitForLogEvent(backendLog, logOffset, scenario.backendEvent);
        if (seen) log.info(`backend log: ${scenario.backendEvent} (${String(seen.detail ?? seen.reason ?? '')})`);
        else log.warn(`the backend logged no ${scenario.backendEvent} event in ${displayPath(backendLog)}`);
        ok &&= seen !== undefined;
      }
      log.info('restoring the good target server');
      await putTargetServer(client, good);
      broken = undefined;
      const back = await untilRuntime(config, 'HTTP 200 with the greeting', call, isGreeting, describeAnswer);
      if (!back.ok) throw new StepError(`the good target server is back but the gateway still answers ${describeAnswer(back.answer)}; see docs/tutorial.md#troubleshooting`);
      outcomes.push({ scenario, answer, ok, waits: { breakMs: shown.waitedMs, restoreMs: back.waitedMs } });
    }
  } finally {
    stopListening();
    if (broken) {
      log.info('restoring the good target server');
      await putTargetServer(client, good);
    }
  }
  return outcomes;
}
