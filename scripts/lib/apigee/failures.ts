// The gateway failure scenarios the tutorial does not cover: each breaks one piece of the mTLS
// chain on the target server, calls the proxy, and says what the 503 means. The good target server
// is put back afterwards, also when a scenario fails.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../../core/config.ts';
import { log } from '../../../core/log.ts';
import type { ApigeeClient } from './client.ts';
import { callGateway, type GatewayAnswer } from './gateway.ts';
import { desiredTargetServer, ensureAlias, ensureKeystore, ensureTargetServer, type TargetServer } from './resources.ts';
import type { Gateway } from './target.ts';

export const BASE_PATH = '/api-mtls-test';

export interface FailureScenario {
  name: string;
  /** One sentence: what breaks and why the gateway answers what it does. */
  explain: string;
  expectStatus: number;
  /** Suffix of the fault's errorcode, when the runtime names one. */
  expectCode?: string;
  /** Event the backend must log (checked when its log file is known), e.g. connection-refused. */
  backendEvent?: string;
  /** Changes the target server (and anything it needs); undefined = cannot be shown with this setup. */
  prepare(client: ApigeeClient, config: Config): Promise<TargetServer | undefined>;
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

/** True when a TCP connection to host:port opens within a second. */
function reaches(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/**
 * Another name or address of the same backend that its certificate does not name: another
 * loopback address (when the backend listens on every interface) or the machine's host name,
 * the classic "target server says the host name, certificate says the IP" mistake.
 */
export async function hostOutsideCertificate(config: Config): Promise<string | undefined> {
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

export function failureScenarios(): FailureScenario[] {
  return [
    {
      name: 'gateway: target server without client auth',
      explain: 'clientAuthEnabled=false means Apigee presents no client certificate, so the backend (client-auth need) refuses the handshake and the gateway answers 503.',
      expectStatus: 503,
      backendEvent: 'connection-refused',
      async prepare(_client, config) {
        const ts = desiredTargetServer(config);
        return { ...ts, sSLInfo: { ...ts.sSLInfo, clientAuthEnabled: false, keyStore: undefined, keyAlias: undefined } };
      },
    },
    {
      name: 'gateway: truststore without the CA',
      explain: 'the truststore holds the client certificate instead of the CA, so Apigee cannot build a path to the backend\'s certificate (PKIX) and answers 503 SslHandshakeFailed.',
      expectStatus: 503,
      expectCode: 'SslHandshakeFailed',
      async prepare(client, config) {
        const name = wrongTruststoreName(config);
        const clientCert = join(config.pki.certsDir, 'apigee-client-cert.pem');
        await ensureKeystore(client, name, 'truststore (wrong content)');
        await ensureAlias(client, { keystore: name, alias: config.apigee.trustAlias, certFile: clientCert, upload: { format: 'keycertfile', certFile: clientCert } });
        const ts = desiredTargetServer(config);
        return { ...ts, sSLInfo: { ...ts.sSLInfo, trustStore: name } };
      },
    },
    {
      name: 'gateway: host not in the server certificate',
      explain: 'with enforce=true Apigee checks the backend\'s certificate against the target server host; a name or address missing from its SAN fails the handshake with 503.',
      expectStatus: 503,
      async prepare(_client, config) {
        const host = await hostOutsideCertificate(config);
        return host ? { ...desiredTargetServer(config), host } : undefined;
      },
    },
    {
      name: 'gateway: backend down',
      explain: 'nothing accepts the connection on the target port (backend stopped), so there is no TLS at all and the gateway answers 503 ServiceUnavailable.',
      expectStatus: 503,
      expectCode: 'ServiceUnavailable',
      async prepare(_client, config) {
        return { ...desiredTargetServer(config), port: await freePort() };
      },
    },
  ];
}

export function describeAnswer(answer: GatewayAnswer): string {
  const code = answer.errorcode?.split('.').pop();
  return code ? `${answer.status} ${code}` : `${answer.status} ${answer.body.trim().slice(0, 60)}`;
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
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface FailureOutcome {
  scenario: FailureScenario;
  answer: GatewayAnswer | undefined;
  ok: boolean;
  skipped?: string;
}

/** Runs every scenario, restoring the good target server after each one. */
export async function runFailureScenarios(client: ApigeeClient, config: Config, gateway: Gateway, backendLog?: string, scenarios = failureScenarios()): Promise<FailureOutcome[]> {
  const outcomes: FailureOutcome[] = [];
  const good = desiredTargetServer(config);
  try {
    for (const scenario of scenarios) {
      log.info('');
      log.info(`▸ ${scenario.name}`);
      log.explain(scenario.explain);
      const broken = await scenario.prepare(client, config);
      if (!broken) {
        outcomes.push({ scenario, answer: undefined, ok: true, skipped: 'no other name or address of this backend is missing from its certificate' });
        log.warn('skipped: no other name or address reaches this backend (it listens on SERVER_HOST only and the host name is in the certificate or elsewhere)');
        continue;
      }
      await ensureTargetServer(client, broken);
      if (client.dryRun) continue;
      const logOffset = backendLog && existsSync(backendLog) ? statSync(backendLog).size : undefined;
      const answer = await callGateway(gateway, BASE_PATH);
      let ok = matches(scenario, answer);
      (ok ? log.created : log.warn)(`${describeAnswer(answer)}${answer.faultstring ? ` — ${answer.faultstring}` : ''}`);
      if (scenario.backendEvent && backendLog && logOffset !== undefined) {
        const seen = await waitForLogEvent(backendLog, logOffset, scenario.backendEvent);
        if (seen) log.info(`backend log: ${scenario.backendEvent} (${String(seen.detail ?? seen.reason ?? '')})`);
        else log.warn(`the backend logged no ${scenario.backendEvent} event in ${backendLog}`);
        ok &&= seen !== undefined;
      }
      outcomes.push({ scenario, answer, ok });
    }
  } finally {
    log.info('');
    log.info('▸ restoring the good target server');
    await ensureTargetServer(client, good);
  }
  return outcomes;
}
