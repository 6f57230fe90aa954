// Create-or-reuse and delete-if-present around one gcloud call each: gcloud is slow to start, so
// instead of describing first we run the create/delete and read "already exists"/"not found" from
// its error. Anything else is a real failure and stops the step.
import { log, mask, formatCommand } from '../../../core/log.ts';
import { run } from '../run.ts';
import { StepError } from '../../../core/errors.ts';

const lastLine = (text: string) => text.trim().split('\n').filter(Boolean).pop() ?? '';

/** Runs a create command; returns 'created', 'exists' or 'dry-run'. */
export async function createOrReuse(argv: string[], what: string, dryRun: boolean, note?: string): Promise<'created' | 'exists' | 'dry-run'> {
  const result = await run(argv, { dryRun, note, allowExitCodes: [1] });
  if (result.skipped) return 'dry-run';
  if (result.exitCode === 0) {
    log.created(what);
    return 'created';
  }
  if (/already exists/i.test(result.stderr)) {
    log.reused(what, '(left unchanged; run `make teardown` to recreate it with new settings)');
    return 'exists';
  }
  throw new StepError(`${mask(formatCommand(argv)).slice(0, 120)} failed: ${mask(lastLine(result.stderr))}`);
}

/** Runs a delete command; a resource that is already gone is fine. */
export async function deleteIfPresent(argv: string[], what: string, dryRun: boolean): Promise<'deleted' | 'absent' | 'dry-run'> {
  const result = await run(argv, { dryRun, allowExitCodes: [1] });
  if (result.skipped) return 'dry-run';
  if (result.exitCode === 0) {
    log.created(`deleted ${what}`);
    return 'deleted';
  }
  if (/not found|was not found|does not exist/i.test(result.stderr)) {
    log.info(`${what}: already gone`);
    return 'absent';
  }
  if (/in use|being used|resourceInUseByAnotherResource/i.test(result.stderr)) {
    // E.g. a load balancer that Kubernetes is still tearing down holds the address.
    throw new StepError(`${what} is still in use (${mask(lastLine(result.stderr))}); wait a minute and run the teardown again`);
  }
  throw new StepError(`${mask(formatCommand(argv)).slice(0, 120)} failed: ${mask(lastLine(result.stderr))}`);
}
