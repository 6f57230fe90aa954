// Calls through the gateway. The steps call it with the real curl (what they print is what runs);
// this reads curl's answer. The rotation's background load uses undici: thousands of calls are no
// command a reader would paste, and one keep-alive connection per loop is what "4 connections" means.
import { readFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, request } from 'undici';
import type { ProcessOutput } from 'zx';
import { GREETING } from '../../../backend/routes.ts';
import { StepError } from '../../../core/errors.ts';
import { displayPath, mask } from '../../../core/log.ts';
import { gatewayUrl, type Gateway } from './target.ts';
import { RUN_SETTINGS, followUp } from '../follow-up.ts';

/** The tutorial's proxy base path (apigee-bundle/apiproxy/proxies/default.xml). */
export const BASE_PATH = '/api-mtls-test';

export interface GatewayAnswer {
  /** HTTP status; 0 when curl got no HTTP answer (see `error`). */
  status: number;
  body: string;
  /** Apigee fault code from a {"fault":{…}} body, e.g. messaging.adaptors.http.flow.SslHandshakeFailed */
  errorcode: string | undefined;
  faultstring: string | undefined;
  /** curl's own failure, e.g. "curl 35: …", when there was no HTTP answer. */
  error?: string;
}

function fault(body: string): { errorcode?: string; faultstring?: string } {
  try {
    const f = (JSON.parse(body) as { fault?: { faultstring?: string; detail?: { errorcode?: string } } }).fault;
    return { errorcode: f?.detail?.errorcode, faultstring: f?.faultstring };
  } catch {
    return {}; // not a fault body: the backend's answer
  }
}

/**
 * Reads a `curl -sS -v` run of `url`: the status from the last "< HTTP/…" line curl wrote to
 * stderr, the body from stdout. Nothing listening, an unreadable CA file and no answer within
 * APIGEE_GATEWAY_TIMEOUT are one-line errors (no wait can fix them: Apigee answers a slow backend
 * itself, with 504, before that timeout); other curl failures are an answer without status (a
 * waiting caller may try again).
 */
export function curlAnswer(out: ProcessOutput, gateway: Gateway, url: string): GatewayAnswer {
  if (out.exitCode === 7) {
    throw new StepError(`nothing listens on ${gateway.host}:${gateway.port}; start the gateway first (local: ${followUp('make apigee-local-start')}, then the Apigee steps)`);
  }
  if (out.exitCode === 77) {
    throw new StepError(gateway.caFile
      ? `curl 77: cannot read the CA file ${displayPath(gateway.caFile)}; fix: ${followUp('make certs')}`
      : 'curl 77: cannot read the system CA certificates; fix: install ca-certificates');
  }
  if (out.exitCode === 28) {
    const said = out.stderr.split('\n').filter((l) => l.startsWith('curl:')).at(-1)?.replace(/^curl: \(28\) /, '') ?? 'timed out';
    throw new StepError(`GET ${mask(url)} failed: no answer within ${gateway.timeoutMs / 1000} s (curl 28: ${said}) (hint: ${silentGatewayHint(gateway)})`);
  }
  const statuses = [...out.stderr.matchAll(/^< HTTP\/[\d.]+ (\d{3})/gm)];
  const status = Number(statuses.at(-1)?.[1] ?? 0);
  if (out.exitCode !== 0 && status === 0) {
    const last = out.stderr.split('\n').filter((l) => l.startsWith('curl:')).at(-1) ?? `exit ${out.exitCode}`;
    return { status: 0, body: '', errorcode: undefined, faultstring: undefined, error: `curl ${out.exitCode}: ${last.replace(/^curl: \(\d+\) /, '')}` };
  }
  return { status, body: out.stdout, ...fault(out.stdout) } as GatewayAnswer;
}

function silentGatewayHint(gateway: Gateway): string {
  // A slow backend is not the cause: Apigee answers that itself, 504 GatewayTimeout after its 55 s target timeout.
  const where = gateway.connectAddress ? `the stand-in (${followUp('make apigee-local-stop', RUN_SETTINGS)}, then ${followUp('make apigee-local-start')})` : `the host ${gateway.host} (APIGEE_HOST), a proxy or firewall on the way`;
  return `nothing came back from the gateway, not even Apigee's 504 for a slow backend: check ${where}; APIGEE_GATEWAY_TIMEOUT (now ${gateway.timeoutMs / 1000} s) sets how long a call through the gateway may wait`;
}

export const isGreeting = (a: GatewayAnswer) => a.status === 200 && a.body.includes(GREETING);

export function describeAnswer(answer: GatewayAnswer): string {
  if (answer.error) return answer.error;
  const code = answer.errorcode?.split('.').pop();
  return code ? `${answer.status} ${code}` : `${answer.status} ${answer.body.trim().slice(0, 60)}`;
}

/** The serial number /whoami reports for the client certificate the backend saw. */
export function whoamiSerial(answer: GatewayAnswer): string | undefined {
  if (answer.status !== 200) return undefined;
  try {
    return (JSON.parse(answer.body) as { serialNumber?: string }).serialNumber?.toUpperCase();
  } catch {
    return undefined;
  }
}

export interface LoadReport {
  made: number;
  failed: number;
  /** The first few failures, described. */
  failures: string[];
  durationMs: number;
}

/**
 * Calls `path` through the gateway on `connections` keep-alive connections until stop(), each
 * pausing `pauseMs` between calls (a bounded load). A call counts as failed unless it answers 200
 * with the greeting.
 */
export function startLoad(gateway: Gateway, path: string, options: { connections: number; pauseMs: number }): { stop(): Promise<LoadReport> } {
  const address = gateway.connectAddress;
  const pool = new Pool(gatewayUrl(gateway, ''), {
    connections: options.connections,
    connect: {
      // Connecting (TLS included) is bounded too: undici's own 10 s, or APIGEE_GATEWAY_TIMEOUT when shorter.
      timeout: Math.min(10_000, gateway.timeoutMs),
      ca: gateway.caFile ? readFileSync(gateway.caFile) : undefined,
      // The stand-in listens on loopback; keep the real host name for SNI, Host and the certificate check.
      ...(address ? {
        lookup: ((_host: string, o: { all?: boolean }, cb: (...args: unknown[]) => void) =>
          o.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)) as unknown as LookupFunction,
      } : {}),
    },
  });
  const report: LoadReport = { made: 0, failed: 0, failures: [], durationMs: 0 };
  const started = Date.now();
  let stopped = false;
  const fail = (what: string) => {
    report.failed++;
    if (report.failures.length < 5) report.failures.push(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
  };
  const loop = async () => {
    while (!stopped) {
      try {
        const res = await request(gatewayUrl(gateway, path), { dispatcher: pool, headersTimeout: gateway.timeoutMs, bodyTimeout: gateway.timeoutMs });
        const body = await res.body.text();
        report.made++;
        if (res.statusCode !== 200 || !body.includes(GREETING)) fail(`${res.statusCode} ${fault(body).errorcode ?? body.trim().slice(0, 60)}`);
      } catch (error) {
        report.made++;
        fail((error as { code?: string }).code ?? (error as Error).message);
      }
      if (!stopped) await sleep(options.pauseMs);
    }
  };
  const loops = Array.from({ length: options.connections }, loop);
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      report.durationMs = Date.now() - started;
      await pool.close();
      return report;
    },
  };
}
