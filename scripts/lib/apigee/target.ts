// Which Apigee the steps talk to. Local stand-in by default; Apigee X when APIGEE_TARGET=apigee-x;
// APIGEE_API_BASE overrides the management base URL (data residency). Both give the same client,
// so every step has one code path.
import { join } from 'node:path';
import type { Config } from '../../../core/config.ts';
import { addSecret, log } from '../../../core/log.ts';
import { StepError } from '../../../core/errors.ts';
import { $ } from '../shell.ts';
import { APIGEE_X_BASE, ApigeeClient, type ClientOptions } from './client.ts';
import { followUp } from '../follow-up.ts';

function managementBase(config: Config): string {
  if (config.apigee.apiBase) return config.apigee.apiBase;
  return config.apigee.target === 'apigee-x' ? APIGEE_X_BASE : `http://127.0.0.1:${config.apigee.localApiPort}/v1`;
}

/** The stand-in accepts any non-empty bearer token unless APIGEE_LOCAL_TOKEN fixes one. */
const LOCAL_DEMO_TOKEN = 'local-demo-token';

/** The shell line that sets $TOKEN the way this target wants it; printed before the first curl. */
export function tokenLine(config: Config): string {
  if (config.apigee.target === 'apigee-x') return 'TOKEN=$(CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token)';
  return config.apigee.localToken ? 'TOKEN=$APIGEE_LOCAL_TOKEN' : `TOKEN=${LOCAL_DEMO_TOKEN}`;
}

/** Token for Apigee X: APIGEE_TOKEN, else gcloud. For the stand-in: its fixed token or any. */
async function resolveToken(config: Config): Promise<string | undefined> {
  if (config.apigee.target === 'local') return config.apigee.localToken ?? config.apigee.token ?? LOCAL_DEMO_TOKEN;
  if (config.apigee.token) return config.apigee.token;
  const token = (await $`CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token`).stdout.trim();
  if (!token) throw new StepError('gcloud auth print-access-token printed nothing (hint: run gcloud auth login)');
  addSecret(token);
  return token;
}

export function apigeeClient(config: Config, overrides: Partial<ClientOptions> = {}): ApigeeClient {
  if (config.apigee.localToken) addSecret(config.apigee.localToken);
  return new ApigeeClient({
    baseUrl: managementBase(config),
    org: config.apigee.org,
    env: config.apigee.env,
    dryRun: config.dryRun,
    token: () => resolveToken(config),
    tokenLine: tokenLine(config),
    timeoutMs: config.apigee.apiTimeoutMs,
    // By the target, not by the address: a real-Apigee base URL may be a local proxy or tunnel.
    unreachableHint: config.apigee.target === 'local' ? `is the local Apigee stand-in running? start it with ${followUp('./scripts/40-apigee-local.ts --detach')}` : undefined,
    // The stand-in refuses a token only when it was started with APIGEE_LOCAL_TOKEN.
    unauthorizedHint: config.apigee.target === 'local'
      ? `the stand-in was started with APIGEE_LOCAL_TOKEN: give the steps the same APIGEE_LOCAL_TOKEN (${config.localEnv})`
      : undefined,
    ...overrides,
  });
}

/** Says once per step which Apigee the printed calls go to. */
export function explainTarget(config: Config): void {
  const where = `organization ${config.apigee.org}, environment ${config.apigee.env}`;
  if (config.apigee.target === 'apigee-x') {
    log.explain(`target: Apigee X at ${managementBase(config)}, ${where}`);
  } else {
    log.explain(`target: local Apigee stand-in on ${managementBase(config)} (${where}); it accepts any bearer token unless APIGEE_LOCAL_TOKEN is set`);
  }
}

export interface Gateway {
  /** Host name clients put in the URL (and SNI). */
  host: string;
  port: number;
  /** CA file that signs the gateway's certificate; undefined = the system trust store. */
  caFile: string | undefined;
  /** For the local stand-in: connect here while sending `host` as SNI/Host. */
  connectAddress: string | undefined;
  /** curl's --resolve entry (host:port:address) when `host` does not lead to the stand-in by itself. */
  resolve: string | undefined;
  /** How long one call through it may take (APIGEE_GATEWAY_TIMEOUT). */
  timeoutMs: number;
}

export function gatewayUrl(gateway: Gateway, path: string): string {
  return `https://${gateway.host}${gateway.port === 443 ? '' : `:${gateway.port}`}${path}`;
}


interface EnvGroup { name: string; hostnames?: string[] }
interface Attachment { environment: string }

/** Where the proxy answers: the stand-in's runtime port, or the env group's host name. */
export async function resolveGateway(config: Config, client: ApigeeClient): Promise<Gateway> {
  if (config.apigee.target === 'local') {
    // The stand-in's one environment group answers to "localhost" with a certificate from our CA;
    // localhost already resolves to loopback, another name needs --resolve.
    const host = config.apigee.host ?? 'localhost';
    const port = config.apigee.localRuntimePort;
    return { host, port, caFile: join(config.pki.certsDir, 'ca-cert.pem'), connectAddress: '127.0.0.1', resolve: host === 'localhost' ? undefined : `${host}:${port}:127.0.0.1`,
      timeoutMs: config.apigee.gatewayTimeoutMs };
  }
  const onApigeeX = (host: string): Gateway => ({ host, port: 443, caFile: undefined, connectAddress: undefined, resolve: undefined, timeoutMs: config.apigee.gatewayTimeoutMs });
  if (config.apigee.host) return onApigeeX(config.apigee.host);
  log.explain('APIGEE_HOST is not set: looking for the environment group attached to the environment');
  const tooMany = `no environment group attached to environment ${config.apigee.env} in the first ${MAX_PAGES} pages of environment groups (hint: set APIGEE_HOST in ${config.localEnv})`;
  for await (const groups of pages<EnvGroup>(client, `${client.orgPath}/envgroups`, 'environmentGroups', ['envgroups', 'list'], tooMany)) {
    if (client.dryRun) return onApigeeX('ENVGROUP_HOST');
    const host = await attachedHost(client, config, groups);
    if (host) return onApigeeX(host);
  }
  throw new StepError(`no environment group with a host name is attached to environment ${config.apigee.env} (hint: attach it, or set APIGEE_HOST in ${config.localEnv})`);
}

/** More pages of a list than an organization has in practice (25 environment groups or attachments a page). */
const MAX_PAGES = 20;

/**
 * A list Apigee sends in pages (environment groups, a group's attachments), one page at a time:
 * the next page is asked for with the nextPageToken of the one before, until a page has none, at
 * most MAX_PAGES of them (then `tooMany` is the error). A missing list (404, DRY_RUN) is one empty page.
 */
async function* pages<T>(client: ApigeeClient, path: string, field: string, apigeecli: string[], tooMany: string): AsyncGenerator<T[]> {
  let pageToken: string | undefined;
  for (let page = 1; ; page++) {
    const body = (await client.call({ method: 'GET', path, query: { pageToken }, allowNotFound: true, apigeecli: page === 1 ? apigeecli : undefined }))
      ?.json<Record<string, unknown>>();
    const items = body?.[field];
    yield Array.isArray(items) ? (items as T[]) : [];
    pageToken = typeof body?.nextPageToken === 'string' && body.nextPageToken !== '' ? body.nextPageToken : undefined;
    if (!pageToken) return;
    if (page === MAX_PAGES) throw new StepError(tooMany);
  }
}

/** The first host name of a group in `groups` attached to the configured environment. */
async function attachedHost(client: ApigeeClient, config: Config, groups: readonly EnvGroup[]): Promise<string | undefined> {
  const { env } = config.apigee;
  for (const group of groups) {
    const tooMany = `environment ${env} is not among the first ${MAX_PAGES} pages of attachments of environment group ${group.name} (hint: set APIGEE_HOST in ${config.localEnv})`;
    const host = group.hostnames?.[0];
    for await (const attachments of pages<Attachment>(client, `${client.orgPath}/envgroups/${encodeURIComponent(group.name)}/attachments`,
      'environmentGroupAttachments', ['envgroups', 'listattach', '-n', group.name], tooMany)) {
      if (!attachments.some((a) => a.environment === env)) continue;
      if (!host) break;
      log.info(`environment ${env} is served by group ${group.name} at ${host}`);
      return host;
    }
  }
  return undefined;
}
