// How the benchmark runs a process on one core: `taskset -c CORE`, and with BENCH_NICE (e.g. -10,
// needs root) at a higher priority than the rest of a busy machine. Both exec the command, so the
// pid stays the command's.
export const niceness = Number(process.env.BENCH_NICE ?? 0);

export function pinned(core: number, argv: string[]): string[] {
  const nice = niceness !== 0 ? ['nice', '-n', String(niceness)] : [];
  return ['taskset', '-c', String(core), ...nice, ...argv];
}
