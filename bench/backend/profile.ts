// Where a server's CPU time goes under load: V8's sampling profiler (`node --cpu-prof`) on the
// server's main thread, summed by self time into a few groups (our backend's code, node:http,
// Node's TLS/net/streams, native calls made from JavaScript, GC) and the functions costing most.
// Run for our backend and for the bare node:https server under the same load, the difference
// between the two columns is the backend's own cost. V8 only sees the thread while it runs
// JavaScript (and the native functions JavaScript calls): native work that libuv runs straight
// from the event loop, such as OpenSSL's handshakes and decryption on incoming data, falls in
// V8's "(idle)" and is left out here (the benchmark's per-core figures include it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time the thread was not idle, in ms. */
  busyMs: number;
  /** Share of busy time per group, in percent. */
  groups: Record<string, number>;
  /** The functions with the most self time: [label, percent of busy time]. */
  top: Array<[string, number]>;
}

export const GROUPS = [
  'our backend (backend/, lib/)',
  'node:http (parser callbacks, request/response objects)',
  'Node TLS, net and streams (JavaScript)',
  'native calls from JavaScript (TLS write = encrypt + send, fs writes)',
  'other native work V8 sees ("(program)")',
  'garbage collection',
  'other',
] as const;

function groupOf(frame: ProfileNode['callFrame']): (typeof GROUPS)[number] | undefined {
  const { functionName: name, url } = frame;
  if (name === '(idle)' || name === '(root)') return undefined;
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)') return 'other native work V8 sees ("(program)")';
  if (/\/(backend|lib)\/[^/]+\.js$/.test(url)) return 'our backend (backend/, lib/)';
  if (url === '') return 'native calls from JavaScript (TLS write = encrypt + send, fs writes)';
  if (/^node:_http_/.test(url)) return 'node:http (parser callbacks, request/response objects)';
  if (/^node:(net|_tls_|tls|internal\/streams\/|internal\/stream_base_commons|events|internal\/tls)/.test(url)) return 'Node TLS, net and streams (JavaScript)';
  return 'other';
}

function label(frame: ProfileNode['callFrame']): string {
  const where = frame.url.replace(/^file:\/\/.*\/((?:backend|lib)\/)/, '$1');
  return where ? `${frame.functionName || '(anonymous)'} (${where}:${frame.lineNumber + 1})` : frame.functionName;
}

/** Summarises the main thread's profile (the first one Node wrote for the process) in `dir`. */
export function summariseProfile(dir: string, topN = 8): ProfileSummary {
  // Node names profiles CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main one.
  const file = readdirSync(dir).filter((f) => /\.0\.\d+\.cpuprofile$/.test(f)).sort()[0];
  if (!file) throw new Error(`no main-thread CPU profile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, number>();
  const self = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const group = groupOf(frame);
    if (!group) return;
    const us = profile.timeDeltas[i] ?? 0;
    busy += us;
    groups.set(group, (groups.get(group) ?? 0) + us);
    self.set(label(frame), (self.get(label(frame)) ?? 0) + us);
  });
  const percent = (us: number) => (busy > 0 ? (100 * us) / busy : 0);
  return {
    busyMs: busy / 1000,
    groups: Object.fromEntries(GROUPS.map((g) => [g, percent(groups.get(g) ?? 0)])),
    top: [...self].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([name, us]) => [name, percent(us)]),
  };
}
