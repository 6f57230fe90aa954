// A deployment's life, shared by the management API (what it reports) and the runtime (what it
// serves). A new deployment reports PROGRESSING for the settle time, then READY, or ERROR when
// problems were found. Apigee X replaces a deployed revision without downtime (`override=true`, or
// the same revision deployed again): until the new deployment is READY the runtime keeps serving
// the revision that was READY when it started. A first deployment serves nothing before READY, an
// ERROR serves nothing, and an undeploy removes the record, so nothing is served at once.
import type { DeploymentRecord } from './state.ts';

export type DeploymentState = 'PROGRESSING' | 'READY' | 'ERROR';

export function deploymentState(d: DeploymentRecord, settleMs: number, now = Date.now()): DeploymentState {
  if (now < Number(d.deployStartTime) + settleMs) return 'PROGRESSING';
  return d.errors.length > 0 ? 'ERROR' : 'READY';
}

/** The revision the runtime serves for this deployment at `now`, if any. */
export function servedRevision(d: DeploymentRecord, settleMs: number, now = Date.now()): string | undefined {
  const state = deploymentState(d, settleMs, now);
  if (state === 'READY') return d.revision;
  return state === 'PROGRESSING' ? d.previousRevision : undefined;
}

/** A deployment of `revision` made at `now`, replacing `current` (the proxy's deployment, if any). */
export function newDeployment(apiProxy: string, revision: string, errors: string[], current: DeploymentRecord | undefined, settleMs: number, now = Date.now()): DeploymentRecord {
  const deployment: DeploymentRecord = { apiProxy, revision, deployStartTime: String(now), errors };
  const serving = current ? servedRevision(current, settleMs, now) : undefined;
  if (serving !== undefined) deployment.previousRevision = serving;
  return deployment;
}
