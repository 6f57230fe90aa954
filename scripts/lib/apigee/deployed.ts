// Is what the environment runs what the kit configured? Steps that judge the gateway (47, 48, 49)
// must not judge an older revision, another bundle, or another proxy holding the base path: a call
// would pass through another target server, and a change to the configured one would show nothing.
// Asked of the management API (deployments, revisions), which knows at once; the runtime may lag.
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { log } from '../../../core/log.ts';
import { forgetScenarios } from '../scenarios.ts';
import { hashFromDescription, renderBundle } from './bundle.ts';
import type { ApigeeClient } from './client.ts';
import { ApigeeApiError } from './errors.ts';
import { BASE_PATH } from './gateway.ts';
import { enc, envDeployments, latestRevision, type Deployment } from './resources.ts';
import { followUp } from '../follow-up.ts';

interface RevisionDetail { revision: string; description?: string; basepaths?: string[]; targetServers?: string[] }

const deploymentPath = (client: ApigeeClient, proxy: string, revision: string) =>
  `${client.envPath}/apis/${enc(proxy)}/revisions/${enc(revision)}/deployments`;

/** The other proxy deployed in the environment whose revision holds `basePath`, if any. */
async function basePathHolder(client: ApigeeClient, deployments: Deployment[], proxy: string, basePath: string): Promise<Deployment | undefined> {
  for (const d of deployments) {
    if (d.apiProxy === proxy || !d.apiProxy || !d.revision) continue;
    const rev = await client.lookup<RevisionDetail>(`${client.orgPath}/apis/${enc(d.apiProxy)}/revisions/${enc(d.revision)}`);
    if (rev?.basepaths?.includes(basePath)) return d;
  }
  return undefined;
}

/**
 * Why the deployment of the configured proxy is not the one step 41 and 46 would leave (one
 * sentence that ends with the step to run), or undefined when it is: the latest revision, READY,
 * imported from the bundle rendered with today's names. DRY_RUN prints the first look-up only.
 */
export async function deploymentMismatch(client: ApigeeClient, config: Config): Promise<string | undefined> {
  const { proxyName, env, targetServer } = config.apigee;
  const deployments = await envDeployments(client);
  if (client.dryRun) return undefined;
  const deployed = deployments.find((d) => d.apiProxy === proxyName && d.revision)?.revision;
  if (!deployed) {
    const holder = await basePathHolder(client, deployments, proxyName, BASE_PATH);
    const held = holder ? ` and ${BASE_PATH} is served by proxy ${holder.apiProxy} revision ${holder.revision}, which the gateway calls would test` : '';
    return `${proxyName} is not deployed in ${env}${held}; run ${followUp('./scripts/46-deploy.ts')} first`;
  }
  const latest = await latestRevision(client, proxyName) as RevisionDetail | undefined;
  if (latest && latest.revision !== deployed) {
    return `${proxyName} revision ${deployed} is deployed in ${env}, not its latest revision ${latest.revision} (the deploy of step 46 failed or did not finish); run ${followUp('./scripts/46-deploy.ts')} first`;
  }
  const status = await client.lookup<Deployment>(deploymentPath(client, proxyName, deployed), ['apis', 'listdeploy', '-n', proxyName]);
  if (status?.state !== 'READY') {
    const errors = status?.errors?.map((e) => e.message).filter(Boolean).join('; ');
    return `the deployment of ${proxyName} revision ${deployed} in ${env} is ${status?.state ?? 'not found'}${errors ? ` (${errors})` : ''}, not READY; run ${followUp('./scripts/46-deploy.ts')} first`;
  }
  // Step 41 stamps the bundle's content hash into the description: another hash is another bundle,
  // e.g. one rendered for the target server named before APIGEE_TARGET_SERVER changed.
  const want = renderBundle(proxyName, targetServer).hash.slice(0, 16);
  if (hashFromDescription(latest?.description) !== want) {
    // targetServers is filled by the stand-in; Apigee X documents it as mostly empty, so it only adds detail.
    const servers = latest?.targetServers?.length ? ` (its target server: ${latest.targetServers.join(', ')}; APIGEE_TARGET_SERVER: ${targetServer})` : '';
    return `${proxyName} revision ${deployed} in ${env} is not the bundle the kit renders now${servers}; run ${followUp('./scripts/41-proxy-bundle.ts')}, then ${followUp('./scripts/46-deploy.ts')}`;
  }
  return undefined;
}

/**
 * Stops a step that judges the gateway, before it calls or changes anything, when the deployment
 * is not the configured one: the one line of deploymentMismatch. The step's rows of an earlier run
 * describe another deployment, so they leave the summary.
 */
export async function requireConfiguredDeployment(client: ApigeeClient, config: Config, scenarios: readonly string[]): Promise<void> {
  log.explain('first: is the deployed proxy the one the kit configured (latest revision, READY, this bundle)?');
  const mismatch = await deploymentMismatch(client, config);
  if (!mismatch) return;
  forgetScenarios(config.runDir, scenarios);
  throw new StepError(mismatch);
}

/**
 * A deploy refused because another deployment holds the base path (Apigee's 400
 * FAILED_PRECONDITION "deployment validations failed", violation CONFLICTING_DEPLOYMENT, whose
 * description names it: `Existing deployment of "organizations/O/apis/P/revisions/R" contains
 * conflicting base paths: [/x].`) becomes one line naming that proxy and the curl that undeploys
 * it, when the environment's deployments confirm it is deployed here; otherwise undefined.
 */
export async function basePathConflict(client: ApigeeClient, config: Config, error: unknown): Promise<string | undefined> {
  if (!(error instanceof ApigeeApiError) || error.status !== 'FAILED_PRECONDITION') return undefined;
  const m = /Existing deployment of "organizations\/[^/"]+\/apis\/([^/"]+)\/revisions\/([^/"]+)" contains conflicting base paths: \[([^\]]*)\]/.exec(error.apiMessage);
  if (!m) return undefined;
  const [, proxy, revision, paths] = m as unknown as [string, string, string, string];
  const { env, proxyName } = config.apigee;
  const here = (await envDeployments(client)).some((d) => d.apiProxy === proxy && d.revision === revision);
  if (!here) {
    return `base path ${paths} is held by proxy ${proxy} revision ${revision}, not deployed in ${env} (another environment of the same environment group?); undeploy it there, then run ${followUp('./scripts/46-deploy.ts')} again`;
  }
  const path = deploymentPath(client, proxy, revision);
  const undeploy = client.curl({ method: 'DELETE', path }, client.url(path));
  const renamed = proxy !== proxyName ? ` (APIGEE_PROXY_NAME is ${proxyName}: a name from before a rename?)` : '';
  return `base path ${paths} is held by proxy ${proxy} revision ${revision}, deployed in ${env}${renamed}; undeploy it, then run ${followUp('./scripts/46-deploy.ts')} again: ${undeploy}`;
}
