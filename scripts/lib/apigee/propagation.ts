// Waiting, boundedly, for the runtime to serve a configuration change. The management API saves a
// change to a target server, keystore, alias or reference at once, but Apigee X's message
// processors pick it up asynchronously (minutes, undocumented), and so does the stand-in after
// APIGEE_LOCAL_PROPAGATION_MS. A call that judges the gateway right after a change may see the
// previous configuration, so it is repeated with backoff until it answers as expected or
// APIGEE_PROPAGATION_TIMEOUT runs out. Each wait is printed with how long it took.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../../core/config.ts';
import { log } from '../../../core/log.ts';
import { $ } from '../shell.ts';

/** zx's `$` as the call receives it: printing on the first call, silent on the repeats. */
export type Shell = typeof $;

export interface Waited<T> {
  answer: T;
  ok: boolean;
  /** Calls made, the first included. */
  calls: number;
  /** From the first call to the last answer. */
  waitedMs: number;
}

const silent = () => undefined;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Pauses between calls: short at first, longer later, both scaled to the timeout. */
function backoffMs(attempt: number, timeoutMs: number): number {
  const first = Math.min(2000, Math.max(200, timeoutMs / 100));
  const max = Math.min(20_000, Math.max(1000, timeoutMs / 10));
  return Math.min(max, first * 1.6 ** (attempt - 1));
}

/**
 * Calls until `ok(answer)` or the timeout. The first call prints its command; the repeats run the
 * same command without printing it again. DRY_RUN and a timeout of 0 make exactly one call.
 */
export async function untilRuntime<T>(
  config: Config,
  expected: string,
  call: (sh: Shell) => Promise<T>,
  ok: (answer: T) => boolean,
  describe: (answer: T) => string,
): Promise<Waited<T>> {
  const timeoutMs = config.apigee.propagationTimeoutMs;
  const started = Date.now();
  let answer = await call($({ nothrow: true }));
  let calls = 1;
  if (config.dryRun || ok(answer)) return { answer, ok: config.dryRun || ok(answer), calls, waitedMs: Date.now() - started };
  if (timeoutMs === 0) {
    log.warn(`${describe(answer)}, not ${expected}; not waiting (APIGEE_PROPAGATION_TIMEOUT=0)`);
    return { answer, ok: false, calls, waitedMs: Date.now() - started };
  }
  log.info(`${describe(answer)}: the runtime may still serve the previous configuration; calling again until ${expected}, for up to ${seconds(timeoutMs)}`);
  for (;;) {
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      log.warn(`still ${describe(answer)} after waiting ${seconds(elapsed)} (${calls} calls); APIGEE_PROPAGATION_TIMEOUT=${Math.round(timeoutMs / 1000)} s ran out`);
      return { answer, ok: false, calls, waitedMs: elapsed };
    }
    const pause = Math.min(backoffMs(calls, timeoutMs), timeoutMs - elapsed);
    log.info(`  waited ${seconds(elapsed)}: ${describe(answer)}; next call in ${seconds(pause)}`);
    await sleep(pause);
    answer = await call($({ nothrow: true, log: silent }));
    calls++;
    if (ok(answer)) {
      const waitedMs = Date.now() - started;
      log.created(`the runtime serves the change: ${expected} after waiting ${seconds(waitedMs)} (${calls} calls)`);
      return { answer, ok: true, calls, waitedMs };
    }
  }
}
