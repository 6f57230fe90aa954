#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// The end of `make all`: every scenario recorded by the direct and gateway steps, expected vs got.
// Exits non-zero unless every one matched (DRY_RUN with nothing recorded: nothing to judge). --clear forgets the recorded scenarios (start of make all; DRY_RUN keeps them).
import { log } from '../core/log.ts';
import { runStep } from './lib/main.ts';
import { StepError } from '../core/errors.ts';
import { clearScenarios, printScenarioTable, readScenarios } from './lib/scenarios.ts';
import { followUp } from './lib/follow-up.ts';

await runStep(async (config, args) => {
  if (args.clear) {
    if (config.dryRun) return log.dryRun('DRY_RUN: the recorded scenarios are kept');
    clearScenarios(config.runDir);
    log.info('recorded scenarios cleared');
    return;
  }
  log.banner('Summary');
  const results = readScenarios(config.runDir);
  if (results.length === 0 && config.dryRun) return log.dryRun('DRY_RUN: no scenario ran, so none is recorded');
  if (results.length === 0) throw new StepError(`no scenarios recorded yet; run ${followUp('make all')} (or the 21, 47 and 48 steps) first`);
  const allOk = printScenarioTable(results);
  const failed = results.filter((r) => !r.ok).length;
  if (!allOk) throw new StepError(`${failed} of ${results.length} scenarios did not match`);
  log.created(`all ${results.length} scenarios matched`);
}, { clear: { type: 'boolean' } });
