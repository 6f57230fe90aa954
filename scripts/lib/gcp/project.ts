// The project every cloud command names with --project: GCP_PROJECT, or else the one gcloud is
// configured with (read once per step and printed, so the reader sees which project is used).
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { $, outputOf } from '../shell.ts';

/** The project id; in a dry run without GCP_PROJECT, "$GCP_PROJECT" (printed as its lookup). */
export async function projectOf(config: Config): Promise<string> {
  if (config.gcp.project) return config.gcp.project;
  const project = await outputOf('GCP_PROJECT', () => $`gcloud config get-value project`.nothrow());
  if (!project) throw new StepError(`no project: set GCP_PROJECT in ${config.localEnv} or run \`gcloud config set project PROJECT_ID\``);
  return project;
}
