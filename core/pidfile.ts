// Pid files of the services the steps run in the background (the backend, the Apigee stand-in).
// A pid file can outlive its process and the pid can be reused, so a pid only counts while that
// process is alive and still runs the service's entry file.
import { existsSync, readFileSync } from 'node:fs';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in `pidFile` when that process is alive and its command line names `entry`. */
export function runningPid(pidFile: string, entry: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(entry)) return undefined;
  } catch {
    // no /proc (not Linux): trust the pid file
  }
  return pid;
}
