// Create-or-reuse and delete-if-present around one gcloud command each: gcloud is slow to start,
// so instead of describing first we run the create/delete and read "already exists"/"not found"
// from its error. Anything else is a real failure and stops the step (one line, see shell.ts).
import type { ProcessPromise } from 'zx';
import { log, mask } from '../../../core/log.ts';
import { StepError } from '../../../core/errors.ts';
import { gcloudReason } from '../cli-errors.ts';
import { commandFailure } from '../shell.ts';
import { onInterrupt } from '../interrupt.ts';
import { followUp } from '../follow-up.ts';

/**
 * Ctrl-C or SIGTERM in a step that creates cloud resources: gcloud may have finished a create
 * already, and that stays (billed). One line says so and that a rerun reuses it; `cleanup` removes
 * local files first (it must be synchronous: the process exits right after).
 */
export function onCloudInterrupt(step: string, cleanup?: () => void): void {
  onInterrupt(() => {
    cleanup?.();
    return `${step} stopped part way; what it created so far stays (billed until make teardown): run ${followUp(`./scripts/${step}.ts`)} again, it reuses what exists`;
  });
}

/**
 * Waits for a create command; 'created', 'exists' or, when nothing ran (DRY_RUN), 'dry-run'.
 * `reuseNote` follows "using existing …" (a step that compares the existing resource says so).
 */
export async function createOrReuse(command: ProcessPromise, what: string, dryRun: boolean,
  reuseNote = `(left unchanged; run \`${followUp('make teardown')}\` to recreate it with new settings)`): Promise<'created' | 'exists' | 'dry-run'> {
  const result = await command.nothrow();
  if (dryRun) return 'dry-run';
  if (result.ok) {
    log.created(what);
    return 'created';
  }
  if (/already exists/i.test(result.stderr)) {
    log.reused(what, reuseNote);
    return 'exists';
  }
  // What the earlier steps created (the address is billed) stays; say how to go on from here.
  const failure = (await commandFailure(result))!;
  throw new StepError(`${failure.message} — what earlier steps created stays: run this step again after the fix (it reuses what exists), or \`${followUp('make teardown')}\``, failure.exitCode);
}

/** Waits for a delete command; a resource that is already gone is fine. */
export async function deleteIfPresent(command: ProcessPromise, what: string, dryRun: boolean): Promise<'deleted' | 'absent' | 'dry-run'> {
  const result = await command.nothrow();
  if (dryRun) return 'dry-run';
  if (result.ok) {
    log.created(`deleted ${what}`);
    return 'deleted';
  }
  if (/not found|was not found|does not exist/i.test(result.stderr)) {
    log.info(`${what}: already gone`);
    return 'absent';
  }
  if (/in use|being used|resourceInUseByAnotherResource/i.test(result.stderr)) {
    // E.g. a load balancer that Kubernetes is still tearing down holds the address.
    throw new StepError(`${what} is still in use (${mask(gcloudReason(result.stderr))}); wait a minute and run the teardown again`);
  }
  throw (await commandFailure(result))!;
}
