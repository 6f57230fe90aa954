// Shared by the Apigee step tests: a real backend and a real Apigee stand-in in this process on
// ephemeral ports, and a runner for the numbered scripts with the matching settings.
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Agent, request } from 'undici';
import { repoRoot, type Config } from '../../core/config.ts';
import { renderBundle, zipBundle } from '../../scripts/lib/apigee/bundle.ts';
import { waitForReady, type TargetServer } from '../../scripts/lib/apigee/resources.ts';
import { apigeeClient } from '../../scripts/lib/apigee/target.ts';
import { startBackend, settingsFromEnv, type Backend } from '../../backend/server.ts';
import { startApigeeLocal, type ApigeeLocal, type ApigeeLocalOptions } from '../../apigee-local/server.ts';
import { FIXTURE_PASSWORD, pkiFixture, type PkiFixture } from './fixtures.ts';
import { isolated } from './isolation.ts';
import { tempDir } from './temp.ts';

export interface Lab {
  fixture: PkiFixture;
  runDir: string;
  backend: Backend;
  local: ApigeeLocal;
  /** Settings for the scripts: fixture certificates, temp RUN_DIR, the ephemeral ports. */
  env: Record<string, string>;
  close(): Promise<void>;
}

async function startBackendFor(fixture: PkiFixture, runDir: string, port = 0): Promise<Backend> {
  const settings = settingsFromEnv({
    CERTS_DIR: fixture.pki, PORT: String(port), HEALTH_PORT: '0',
    SERVER_SSL_KEYSTOREPASSWORD: FIXTURE_PASSWORD, SERVER_SSL_TRUSTSTOREPASSWORD: FIXTURE_PASSWORD,
  });
  // The same file 20-backend.ts writes, so 48-gateway-failures finds the refusals.
  mkdirSync(runDir, { recursive: true });
  const logFile = join(runDir, 'backend.log');
  return startBackend(settings, { log: (line) => appendFileSync(logFile, line.endsWith('\n') ? line : `${line}\n`) });
}

export interface LabOptions {
  /** APIGEE_LOCAL_PROPAGATION_MS of the stand-in (default 0). */
  propagationMs?: number;
  /** Copy the fixture PKI to a private folder (for steps that change certificates). */
  ownCerts?: boolean;
  /** Stand-in options such as strict mode. */
  standIn?: Partial<ApigeeLocalOptions>;
}

export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const shared = await pkiFixture();
  const root = tempDir('apigee-steps-');
  let fixture = shared;
  if (options.ownCerts) {
    fixture = { ...shared, pki: join(root, 'certs') };
    cpSync(shared.pki, fixture.pki, { recursive: true });
  }
  const runDir = join(root, 'run');
  const backend = await startBackendFor(fixture, runDir);
  const propagationMs = options.propagationMs ?? 0;
  const local = await startApigeeLocal({
    org: 'demo-org', env: 'eval', dir: join(root, 'apigee-local'),
    caCertFile: join(fixture.pki, 'ca-cert.pem'), caKeyFile: join(fixture.pki, 'ca-key.pem'),
    apiPort: 0, runtimePort: 0, deploySettleMs: 100, propagationMs, ...options.standIn,
  });
  const env: Record<string, string> = isolated({
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '',
    CERTS_DIR: fixture.pki, RUN_DIR: runDir, STORE_PASSWORD: FIXTURE_PASSWORD, SERVER_HOST: '127.0.0.1',
    APIGEE_TARGET: 'local', APIGEE_ORG: 'demo-org', APIGEE_ENV: 'eval', APIGEE_LOCAL_DIR: join(root, 'apigee-local'),
    APIGEE_LOCAL_API_PORT: String(local.apiPort), APIGEE_LOCAL_RUNTIME_PORT: String(local.runtimePort),
    BACKEND_PORT: String(backend.port), DRY_RUN: '0', FORCE_COLOR: '0', APIGEE_LOCAL_PROPAGATION_MS: String(propagationMs),
    APIGEE_LOCAL_STRICT: options.standIn?.strict ? '1' : '0',
  });
  return {
    fixture, runDir, backend, local, env,
    async close() {
      await Promise.all([local.close(), backend.close()]);
    },
  };
}

export interface StepRun { exitCode: number; output: string }

/** Runs numbered scripts (e.g. ['41-proxy-bundle']) in order in one Node process, like make does. */
export async function runSteps(steps: readonly string[], env: Record<string, string>, flags: string[] = []): Promise<StepRun> {
  const file = (s: string) => join(repoRoot, 'scripts', `${s}.ts`);
  const argv = steps.length === 1
    ? ['--import', 'tsx', file(steps[0]!), ...flags]
    : ['--import', 'tsx', '--input-type=module', '-e', steps.map((s) => `await import(${JSON.stringify(file(s))});`).join('\n')];
  const result = await execa(process.execPath, argv, { cwd: repoRoot, env: isolated(env), extendEnv: false, reject: false, all: true });
  return { exitCode: result.exitCode ?? 1, output: String(result.all) };
}

export const APIGEE_STEPS = ['41-proxy-bundle', '42-keystore', '43-truststore', '44-references', '45-target-server', '46-deploy', '47-call-gateway'];

/** The target server step 45 makes (the tutorial's strict two-way TLS, through references). */
export function tutorialTargetServer(config: Config): TargetServer {
  const a = config.apigee;
  return {
    name: a.targetServer, description: 'mTLS backend of the Apigee mTLS tutorial', host: config.pki.serverHost, port: config.backend.port,
    isEnabled: true, protocol: 'HTTP',
    sSLInfo: {
      enabled: true, clientAuthEnabled: true, keyStore: a.useReferences ? `ref://${a.keystoreRef}` : a.keystore, keyAlias: a.keyAlias,
      trustStore: a.useReferences ? `ref://${a.truststoreRef}` : a.truststore, enforce: true, ignoreValidationErrors: false,
    },
  };
}

/** The Apigee steps' calls made in this process, without printing (fast set-up for tests). */
export async function configureApigee(config: Config): Promise<void> {
  const client = apigeeClient(config, { quiet: true });
  const a = config.apigee;
  const dir = config.pki.certsDir;
  const env = client.envPath;
  const zipFile = join(config.runDir, `${a.proxyName}.zip`);
  mkdirSync(config.runDir, { recursive: true });
  writeFileSync(zipFile, zipBundle(renderBundle(a.proxyName, a.targetServer)));
  const imported = await client.call({ method: 'POST', path: `${client.orgPath}/apis`, query: { name: a.proxyName, action: 'import' }, form: [{ name: 'file', file: zipFile }] });
  const revision = imported!.json<{ revision: string }>().revision;
  await client.call({ method: 'POST', path: `${env}/keystores`, json: { name: a.keystore } });
  await client.call({ method: 'POST', path: `${env}/keystores/${a.keystore}/aliases`, query: { alias: a.keyAlias, format: 'keycertfile' },
    form: [{ name: 'certFile', file: join(dir, 'apigee-client-cert.pem') }, { name: 'keyFile', file: join(dir, 'apigee-client-key.pem') }] });
  await client.call({ method: 'POST', path: `${env}/keystores`, json: { name: a.truststore } });
  await client.call({ method: 'POST', path: `${env}/keystores/${a.truststore}/aliases`, query: { alias: a.trustAlias, format: 'keycertfile' },
    form: [{ name: 'certFile', file: join(dir, 'ca-cert.pem') }] });
  await client.call({ method: 'POST', path: `${env}/references`, json: { name: a.keystoreRef, resourceType: 'KeyStore', refers: a.keystore } });
  await client.call({ method: 'POST', path: `${env}/references`, json: { name: a.truststoreRef, resourceType: 'TrustStore', refers: a.truststore } });
  await client.call({ method: 'POST', path: `${env}/targetservers`, json: tutorialTargetServer(config) });
  const deployment = `${env}/apis/${a.proxyName}/revisions/${revision}/deployments`;
  await client.call({ method: 'POST', path: deployment, query: { override: true } });
  await waitForReady(client, deployment, a.proxyName, { intervalMs: 50, timeoutMs: 10_000 });
}

export interface Answer { status: number; body: string; errorcode: string | undefined }

/** One call through the stand-in's runtime, as a client that trusts the project CA. */
export async function callGatewayIn(lab: Lab, path = '/api-mtls-test'): Promise<Answer> {
  const agent = new Agent({ connect: { ca: readFileSync(join(lab.fixture.pki, 'ca-cert.pem')), servername: 'localhost' } });
  try {
    const res = await request(`https://127.0.0.1:${lab.local.runtimePort}${path}`, { dispatcher: agent, headers: { host: `localhost:${lab.local.runtimePort}` } });
    const body = await res.body.text();
    let errorcode: string | undefined;
    try {
      errorcode = (JSON.parse(body) as { fault?: { detail?: { errorcode?: string } } }).fault?.detail?.errorcode;
    } catch {
      // the backend's answer
    }
    return { status: res.statusCode, body, errorcode };
  } finally {
    await agent.close();
  }
}

/** Calls until `ok` (the runtime applies changes after the propagation delay); fails after `timeoutMs`. */
export async function gatewayUntil(lab: Lab, ok: (a: Answer) => boolean, path = '/api-mtls-test', timeoutMs = 15_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await callGatewayIn(lab, path);
    if (ok(answer)) return answer;
    if (Date.now() > deadline) throw new Error(`gateway still answers ${answer.status} ${answer.errorcode ?? answer.body.slice(0, 80)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
