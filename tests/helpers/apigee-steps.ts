// Shared by the Apigee step tests: a real backend and a real Apigee stand-in in this process on
// ephemeral ports, and a runner for the numbered scripts with the matching settings.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot, type Config } from '../../core/config.ts';
import { renderBundle, zipBundle } from '../../scripts/lib/apigee/bundle.ts';
import { deployAndWait, desiredTargetServer, ensureAlias, ensureKeystore, ensureReference, ensureTargetServer, importProxy } from '../../scripts/lib/apigee/resources.ts';
import { apigeeClient } from '../../scripts/lib/apigee/target.ts';
import { startBackend, settingsFromEnv, type Backend } from '../../backend/server.ts';
import { startApigeeLocal, type ApigeeLocal } from '../../apigee-local/server.ts';
import { FIXTURE_PASSWORD, pkiFixture, type PkiFixture } from './fixtures.ts';
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

export async function startBackendFor(fixture: PkiFixture, runDir: string, port = 0): Promise<Backend> {
  const settings = settingsFromEnv({
    CERTS_DIR: fixture.pki, PORT: String(port), HEALTH_PORT: '0',
    SERVER_SSL_KEYSTOREPASSWORD: FIXTURE_PASSWORD, SERVER_SSL_TRUSTSTOREPASSWORD: FIXTURE_PASSWORD,
  });
  // The same file 20-backend.ts writes, so 48-gateway-failures finds the refusals.
  mkdirSync(runDir, { recursive: true });
  const logFile = join(runDir, 'backend.log');
  return startBackend(settings, { log: (line) => appendFileSync(logFile, line.endsWith('\n') ? line : `${line}\n`) });
}

export async function startLab(): Promise<Lab> {
  const fixture = await pkiFixture();
  const root = tempDir('apigee-steps-');
  const runDir = join(root, 'run');
  const backend = await startBackendFor(fixture, runDir);
  const local = await startApigeeLocal({
    org: 'demo-org', env: 'eval', dir: join(root, 'apigee-local'),
    caCertFile: join(fixture.pki, 'ca-cert.pem'), caKeyFile: join(fixture.pki, 'ca-key.pem'),
    apiPort: 0, runtimePort: 0, deploySettleMs: 100,
  });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '',
    CERTS_DIR: fixture.pki, RUN_DIR: runDir, STORE_PASSWORD: FIXTURE_PASSWORD, SERVER_HOST: '127.0.0.1',
    APIGEE_TARGET: 'local', APIGEE_ORG: 'demo-org', APIGEE_ENV: 'eval', APIGEE_LOCAL_DIR: join(root, 'apigee-local'),
    APIGEE_LOCAL_API_PORT: String(local.apiPort), APIGEE_LOCAL_RUNTIME_PORT: String(local.runtimePort),
    BACKEND_PORT: String(backend.port), DRY_RUN: '0', FORCE_COLOR: '0',
  };
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
  const result = await execa(process.execPath, argv, { cwd: repoRoot, env, extendEnv: false, reject: false, all: true });
  return { exitCode: result.exitCode ?? 1, output: String(result.all) };
}

export const APIGEE_STEPS = ['41-proxy-bundle', '42-keystore', '43-truststore', '44-references', '45-target-server', '46-deploy', '47-call-gateway'];

/** The Apigee steps done in this process through the same library calls (fast set-up for tests). */
export async function configureApigee(config: Config): Promise<void> {
  const client = apigeeClient(config, { quiet: true });
  const a = config.apigee;
  const dir = config.pki.certsDir;
  const zipFile = join(config.runDir, `${a.proxyName}.zip`);
  writeFileSync(zipFile, zipBundle(renderBundle(a.proxyName, a.targetServer)));
  const revision = (await importProxy(client, a.proxyName, zipFile))!;
  await ensureKeystore(client, a.keystore, 'keystore');
  await ensureAlias(client, { keystore: a.keystore, alias: a.keyAlias, certFile: join(dir, 'apigee-client-cert.pem'),
    upload: { format: 'pkcs12', p12File: join(dir, 'client-apigee-keystore.p12'), password: config.pki.storePassword } });
  await ensureKeystore(client, a.truststore, 'truststore');
  await ensureAlias(client, { keystore: a.truststore, alias: a.trustAlias, certFile: join(dir, 'ca-cert.pem'),
    upload: { format: 'keycertfile', certFile: join(dir, 'ca-cert.pem') } });
  await ensureReference(client, a.keystoreRef, 'KeyStore', a.keystore);
  await ensureReference(client, a.truststoreRef, 'TrustStore', a.truststore);
  await ensureTargetServer(client, desiredTargetServer(config));
  await deployAndWait(client, a.proxyName, revision, { intervalMs: 50, timeoutMs: 10_000 });
}
