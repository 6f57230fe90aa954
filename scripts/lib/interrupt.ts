// Ctrl-C and SIGTERM in a step that waits or works part way (make rotate, the deploy's READY poll).
import { constants } from 'node:os';
import { log } from '../../core/log.ts';

export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/**
 * Ctrl-C or SIGTERM while a step waits or works part way: one line on stderr saying what is left
 * and what to re-run (`left` gets the signal's name), then exit 130 or 143 as a shell reports it.
 * Returns the function that removes the listeners, for a step that is past that part.
 */
export function onInterrupt(left: (signal: InterruptSignal) => string): () => void {
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const listener = () => {
      log.error(`${signal}: ${left(signal)}`);
      process.exit(128 + constants.signals[signal]);
    };
    process.once(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
