#!/usr/bin/env -S node --import tsx
// Tutorial "Construcción del Microservicio", the three curl checks against the backend itself:
// (1) no CA: curl does not trust the server; (2) -k but no client certificate: the backend refuses
// the client; (3) client certificate, key and CA: 200 and the greeting. Runs the real curl and
// exits non-zero when any outcome differs from the tutorial.
//   scripts/21-direct-scenarios.ts [--tls-max 1.2]
import { isIP } from 'node:net';
import { join } from 'node:path';
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { run } from './lib/run.ts';
import { StepError } from '../core/errors.ts';
import { clearScenarios, readScenarios, recordScenario, type ScenarioResult } from './lib/scenarios.ts';
import type { Config } from '../core/config.ts';
import { FILES } from './lib/pki/names.ts';
import { display } from './lib/pki/workspace.ts';

const GREETING = 'Hello, secure world with mTLS!';
const PREFIX = 'direct: ';

/** What each curl exit code means in these scenarios (one sentence each). */
const CURL_CLASSES: Record<number, string> = {
  0: 'both sides verified each other and the backend answered',
  7: 'nothing accepted the TCP connection (is the backend running?)',
  35: 'the TLS handshake failed: the server sent an alert during the handshake because the client certificate was missing or unacceptable',
  52: 'the handshake completed but the server closed the connection without answering: Node checks the client certificate right after the handshake and drops the connection when it is not trusted',
  56: 'the server refused the client with a TLS alert that curl read after sending its request (TLS 1.3 finishes the client side of the handshake before the server judges the client certificate)',
  58: 'curl could not use the client certificate or key files',
  60: 'curl could not verify the server certificate against its CA bundle, so it stopped before any client certificate mattered',
};

interface Scenario {
  name: string;
  tutorial: string;
  args: string[];
  expectCodes: number[];
  /** Extra check on curl's output when the exit code matched. */
  check?: (stdout: string) => string | undefined;
}

function scenarios(config: Config): Scenario[] {
  const cert = (name: string) => display(join(config.pki.certsDir, name));
  return [
    {
      name: 'no CA',
      tutorial: 'curl exits 60: "unable to get local issuer certificate", the server is not trusted',
      args: [],
      expectCodes: [60],
    },
    {
      name: '-k, no client certificate',
      tutorial: 'the backend refuses the client: curl 56 "alert bad certificate" (35 or 52 depending on TLS version and server)',
      args: ['-k'],
      expectCodes: [35, 52, 56],
    },
    {
      name: 'client certificate + key + CA',
      tutorial: `HTTP 200 and "${GREETING}"`,
      args: ['--cert', cert(FILES.clientCert), '--key', cert(FILES.clientKey), '--cacert', cert(FILES.caCert), '-w', '\\nHTTP %{http_code}\\n'],
      expectCodes: [0],
      check: (stdout) => {
        const status = /HTTP (\d{3})\s*$/.exec(stdout)?.[1];
        if (status !== '200') return `HTTP ${status ?? '?'} instead of 200`;
        if (!stdout.includes(GREETING)) return 'HTTP 200 but the body lacks the greeting';
        return undefined;
      },
    },
  ];
}

/** Drops this step's results from an earlier run, keeping the other steps' results. */
function forgetPreviousRun(runDir: string): void {
  const others = readScenarios(runDir).filter((r) => !r.scenario.startsWith(PREFIX));
  clearScenarios(runDir);
  for (const r of others) recordScenario(runDir, r);
}

await runStep(async (config) => {
  const argv = process.argv.slice(2);
  const tlsMaxAt = argv.indexOf('--tls-max');
  const tlsMax = tlsMaxAt >= 0 ? argv[tlsMaxAt + 1] : undefined;
  if (tlsMaxAt >= 0 && !/^1\.[23]$/.test(tlsMax ?? '')) throw new StepError('--tls-max takes 1.2 or 1.3');
  const { serverHost: host } = config.pki;
  const { port } = config.backend;
  const url = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`;
  log.banner(`Direct mTLS checks against the backend at ${url}${tlsMax ? ` (TLS ≤ ${tlsMax})` : ''}`, '"Construcción del Microservicio", validación con curl');

  if (!config.dryRun) forgetPreviousRun(config.runDir);

  const results: ScenarioResult[] = [];
  for (const [i, s] of scenarios(config).entries()) {
    log.info('');
    log.info(`${i + 1}. ${s.name}`);
    const argvCurl = ['curl', '-sS', ...(tlsMax ? ['--tls-max', tlsMax] : []), ...s.args, url];
    const r = await run(argvCurl, { dryRun: config.dryRun, allowExitCodes: Object.keys(CURL_CLASSES).map(Number) });
    if (r.skipped) continue;
    if (r.exitCode === 7) throw new StepError(`nothing listens on ${host}:${port}; start the backend first: make backend-start`);
    const problem = s.expectCodes.includes(r.exitCode) ? s.check?.(r.stdout) : `curl exit ${r.exitCode}, expected ${s.expectCodes.join(' or ')}`;
    const curlSays = (r.stderr.trim().split('\n')[0] ?? '').replace(/^curl: \(\d+\) /, '');
    const got = r.exitCode === 0 ? (/HTTP (\d{3})/.exec(r.stdout)?.[0] ?? 'curl 0') + ` ${r.stdout.split('\n')[0]?.trim() ?? ''}` : `curl ${r.exitCode}: ${curlSays}`;
    log.explain(`tutorial: ${s.tutorial}`);
    log.explain(`got:      ${got}`);
    log.explain(`why:      ${CURL_CLASSES[r.exitCode] ?? 'unexpected curl exit code'}`);
    const ok = problem === undefined;
    if (ok) log.created(`${s.name}: as the tutorial says`);
    else log.warn(`${s.name}: differs from the tutorial (${problem})`);
    const result = { scenario: `${PREFIX}${s.name}${tlsMax ? ` (TLS ≤ ${tlsMax})` : ''}`, expected: `curl ${s.expectCodes.join('/')}` + (s.check ? ' + HTTP 200 greeting' : ''), got: got.slice(0, 120), ok };
    recordScenario(config.runDir, result);
    results.push(result);
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new StepError(`${failed.length} of ${results.length} direct scenario(s) differ from the tutorial: ${failed.map((r) => r.scenario).join(', ')}`);
  if (results.length > 0) log.created(`all ${results.length} direct scenarios behave as the tutorial says`);
});
