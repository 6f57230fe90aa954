// What the kernel knows about a server process: CPU time (all threads) and memory.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The CPU time a process has used so far: per live thread (nanoseconds), and in total (ticks). */
export interface CpuSnapshot {
  perThread: Map<string, number>;
  tickSeconds: number;
}

export function cpuSnapshot(pid: number): CpuSnapshot {
  const perThread = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      perThread.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended between the listing and the read, or the kernel keeps no schedstat
    }
  }
  return { perThread, tickSeconds: tickSeconds(pid) };
}

/**
 * CPU seconds the process used between two snapshots, all threads. Counted in nanoseconds from
 * each thread's /proc/PID/task/TID/schedstat: /proc/PID/stat counts in ticks of 10 ms, ±1–2 % of a
 * 1 s measurement. When a thread ended in between (its time is gone from the task list; the JDK
 * starts and stops compiler threads) or there is no schedstat, the tick count is used.
 */
export function cpuSecondsBetween(a: CpuSnapshot, b: CpuSnapshot): number {
  let ns = 0;
  for (const [tid, before] of a.perThread) {
    const after = b.perThread.get(tid);
    if (after === undefined) return b.tickSeconds - a.tickSeconds;
    ns += after - before;
  }
  for (const [tid, after] of b.perThread) if (!a.perThread.has(tid)) ns += after;
  return a.perThread.size > 0 ? ns / 1e9 : b.tickSeconds - a.tickSeconds;
}

/** User + system CPU seconds from /proc/PID/stat (in clock ticks). */
function tickSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Resident and peak resident memory in MiB, from /proc/PID/status. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}
