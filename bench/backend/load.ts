// Load generators, pinned to the core the servers do not use: openssl s_time for handshakes
// (a client certificate on every connection) and ApacheBench for keep-alive requests (`ab -E`
// presents a client certificate; wrk and h2load cannot).
import { execa } from 'execa';
import { cpuSecondsBetween, cpuSnapshot } from './proc.ts';
import { pinned } from './pin.ts';

export interface HandshakeResult {
  connections: number;
  /** Connections per wall-clock second as this one client achieved them. */
  observedPerSecond: number;
  /** Connections per second of server CPU time: what one fully used server core would do. */
  perCoreCapacity: number;
  /** Share of connections that resumed a session ("r" in s_time's progress line). */
  resumedShare: number;
  cpuSeconds: number;
  wallSeconds: number;
}

export interface KeepAliveResult {
  connections: number;
  requests: number;
  failed: number;
  requestsPerSecond: number;
  /** Requests per second of server CPU time. */
  perCoreCapacity: number;
  /** Server CPU seconds per wall second: near 1 when the server core was saturated. */
  serverLoad: number;
  p99ms: number;
  cpuSeconds: number;
  wallSeconds: number;
}

export interface Target {
  pid: number;
  port: number;
}

export interface Pem {
  cert: string;
  key: string;
  ca: string;
  /** Certificate followed by key, the form ab's -E wants. */
  combined: string;
}


export function sTimeCommand(target: Target, pem: Pem, mode: 'new' | 'reuse', seconds: number, core: number): string[] {
  return pinned(core, ['openssl', 's_time', '-connect', `127.0.0.1:${target.port}`, `-${mode}`, '-www', '/',
    '-cert', pem.cert, '-key', pem.key, '-CAfile', pem.ca, '-verify', '1', '-time', String(seconds)]);
}

export async function handshakes(target: Target, pem: Pem, mode: 'new' | 'reuse', seconds: number, core: number): Promise<HandshakeResult> {
  const [file, ...args] = sTimeCommand(target, pem, mode, seconds, core);
  const cpu0 = cpuSnapshot(target.pid);
  const t0 = performance.now();
  const r = await execa(file!, args, { reject: false, all: true });
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSecondsBetween(cpu0, cpuSnapshot(target.pid));
  const connections = Number(/(\d+) connections in [\d.]+s/.exec(r.stdout)?.[1] ?? 0);
  if (connections === 0) throw new Error(`s_time made no connection to port ${target.port}: ${r.all?.split('\n').slice(-3).join(' ')}`);
  // The progress line holds one character per connection: "*" full handshake, "r" resumed.
  const marks = (r.stdout.match(/^[*r]+$/gm) ?? []).join('');
  const resumed = [...marks].filter((c) => c === 'r').length;
  return {
    connections,
    observedPerSecond: connections / wall,
    perCoreCapacity: cpu > 0 ? connections / cpu : NaN,
    resumedShare: marks.length > 0 ? resumed / marks.length : 0,
    cpuSeconds: cpu,
    wallSeconds: wall,
  };
}

export function abCommand(target: Target, pem: Pem, connections: number, seconds: number, core: number): string[] {
  // -t before -n: -t alone caps the run at 50000 requests.
  return pinned(core, ['ab', '-q', '-k', '-c', String(connections), '-t', String(seconds), '-n', '100000000',
    '-E', pem.combined, `https://127.0.0.1:${target.port}/`]);
}

export async function keepAlive(target: Target, pem: Pem, connections: number, seconds: number, core: number): Promise<KeepAliveResult> {
  const [file, ...args] = abCommand(target, pem, connections, seconds, core);
  const cpu0 = cpuSnapshot(target.pid);
  const t0 = performance.now();
  const r = await execa(file!, args, { reject: false, all: true });
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSecondsBetween(cpu0, cpuSnapshot(target.pid));
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  const requests = num(/Complete requests:\s+(\d+)/);
  if (!(requests > 0)) throw new Error(`ab completed no request on port ${target.port}: ${r.all?.trim().split('\n').slice(-2).join(' ')}`);
  const failed = (num(/Failed requests:\s+(\d+)/) || 0) + (num(/Non-2xx responses:\s+(\d+)/) || 0);
  return {
    connections,
    requests,
    failed,
    requestsPerSecond: num(/Requests per second:\s+([\d.]+)/),
    perCoreCapacity: cpu > 0 ? requests / cpu : NaN,
    serverLoad: cpu / wall,
    p99ms: num(/^\s+99%\s+(\d+)/m),
    cpuSeconds: cpu,
    wallSeconds: wall,
  };
}
