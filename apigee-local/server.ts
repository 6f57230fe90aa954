// Starts the local Apigee X stand-in: the management API (plain HTTP on loopback) and the runtime
// (HTTPS with a certificate from the project CA). Used by `npm run apigee-local`,
// scripts/40-apigee-local.ts and the tests (ports 0 allowed).
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../core/config.ts';
import { DeployedConfig } from './deployed-config.ts';
import { createManagementHandler } from './management.ts';
import { DEFAULT_DRAIN_MS, DEFAULT_PAYLOAD_LIMIT, refuseConnect, refuseUnparsed, Runtime } from './runtime.ts';
import { ensureRuntimeCert } from './runtime-cert.ts';
import { Store } from './state.ts';

export interface ApigeeLocalOptions {
  org: string;
  env: string;
  /** State folder (APIGEE_LOCAL_DIR). */
  dir: string;
  /** Project CA that issues the runtime's certificate. */
  caCertFile: string;
  caKeyFile: string;
  apiPort?: number;
  runtimePort?: number;
  /** Fixed bearer token; any non-empty token is accepted when unset. */
  token?: string;
  /** Host names the management API answers besides 127.0.0.1, localhost and [::1]. */
  allowedHosts?: string[];
  /** Refuse what Apigee X is not known to accept (APIGEE_LOCAL_STRICT=1; apigee-local/strict.ts). */
  strict?: boolean;
  /** How long deployments report PROGRESSING before READY (default 500 ms). */
  deploySettleMs?: number;
  /** How long a change to target servers, keystores or references takes to reach the runtime (default 0). */
  propagationMs?: number;
  /** Default target read timeout (default 55 s, Apigee's io.timeout.millis). */
  targetTimeoutMs?: number;
  /** Largest request or response body the runtime relays (APIGEE_LOCAL_PAYLOAD_LIMIT, default 10 MiB). */
  payloadLimit?: number;
  /** How long the rest of a request body refused with 413 is drained before the connection closes (default 5 s). */
  drainMs?: number;
  /** Gets one line per fault the runtime answers with, saying why (main.ts: the stand-in's output). */
  faultLog?: (line: string) => void;
  /** Host names of the seeded environment group (default ["localhost"]). */
  envGroupHostnames?: string[];
  /** More seeded environment groups, attached to no environment (to page through the list). */
  otherEnvGroups?: Array<{ name: string; hostnames: string[] }>;
  /** Environments attached to the seeded group besides `env` (to page through its attachments). */
  otherAttachedEnvironments?: string[];
}

export interface ApigeeLocal {
  apiPort: number;
  runtimePort: number;
  /** e.g. http://127.0.0.1:9080/v1/organizations/demo-org */
  apiUrl: string;
  /** e.g. https://localhost:9443 */
  runtimeUrl: string;
  store: Store;
  /** True when this start issued a new runtime certificate. */
  issuedCert: boolean;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startApigeeLocal(options: ApigeeLocalOptions): Promise<ApigeeLocal> {
  const store = new Store(options.dir);
  const runtimeCert = await ensureRuntimeCert(options.dir, options.caCertFile, options.caKeyFile);
  const deploySettleMs = options.deploySettleMs ?? 500;
  const envGroup = { name: `${options.env}-group`, hostnames: options.envGroupHostnames ?? ['localhost'], createdAt: String(Date.now()) };

  const config = new DeployedConfig(store, options.propagationMs ?? 0);
  const management = createHttpServer(
    createManagementHandler({ store, config, org: options.org, env: options.env, token: options.token, allowedHosts: options.allowedHosts, strict: options.strict, deploySettleMs, envGroup,
      otherEnvGroups: (options.otherEnvGroups ?? []).map((g) => ({ ...g, createdAt: envGroup.createdAt })), otherAttachedEnvironments: options.otherAttachedEnvironments }),
  );
  const runtime = new Runtime({ store, config, deploySettleMs, targetTimeoutMs: options.targetTimeoutMs ?? 55_000, payloadLimit: options.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT,
    drainMs: options.drainMs ?? DEFAULT_DRAIN_MS, faultLog: options.faultLog });
  // node:https offers only http/1.1 by ALPN, so a client offering only http/1.0 (curl --http1.0)
  // would get the alert "no application protocol" where Apigee X answers it.
  const gateway = createHttpsServer({ cert: runtimeCert.cert, key: runtimeCert.key, ALPNProtocols: ['http/1.1', 'http/1.0'] }, runtime.handler);
  // Requests Node refuses before the handler runs get Apigee's fault body too (runtime.ts).
  gateway.on('clientError', refuseUnparsed);
  // CONNECT gets the fault JSON too, instead of a connection dropped without an answer.
  gateway.on('connect', refuseConnect);
  // Expect: 100-continue with a body over the payload limit is refused before the client uploads it.
  gateway.on('checkContinue', runtime.checkContinue);
  gateway.keepAliveTimeout = 65_000;
  management.keepAliveTimeout = 65_000;

  let apiPort: number;
  let runtimePort: number;
  try {
    apiPort = await listen(management, options.apiPort ?? 9080);
    runtimePort = await listen(gateway, options.runtimePort ?? 9443);
  } catch (error) {
    await Promise.all([closeServer(management), closeServer(gateway)]);
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new Error(`port ${(e as { port?: number }).port ?? ''} on ${LOOPBACK} is already in use (is the stand-in already running?)`);
    throw error;
  }
  return {
    apiPort,
    runtimePort,
    apiUrl: `http://${LOOPBACK}:${apiPort}/v1/organizations/${options.org}`,
    runtimeUrl: `https://localhost:${runtimePort}`,
    store,
    issuedCert: runtimeCert.issued,
    async close() {
      await Promise.all([closeServer(management), closeServer(gateway)]);
      await runtime.close();
    },
  };
}

/** The stand-in's options from the project configuration. */
export function optionsFromConfig(config: Config): ApigeeLocalOptions {
  return {
    org: config.apigee.org,
    env: config.apigee.env,
    dir: config.apigee.localDir,
    caCertFile: join(config.pki.certsDir, 'ca-cert.pem'),
    caKeyFile: join(config.pki.certsDir, 'ca-key.pem'),
    apiPort: config.apigee.localApiPort,
    runtimePort: config.apigee.localRuntimePort,
    token: config.apigee.localToken,
    propagationMs: config.apigee.localPropagationMs,
    allowedHosts: config.apigee.localAllowedHosts,
    strict: config.apigee.localStrict,
    payloadLimit: config.apigee.localPayloadLimit,
  };
}
