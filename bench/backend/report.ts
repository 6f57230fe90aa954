// bench/backend/RESULTS.md: one run's figures, the targets of issue 10 (our backend against the
// bare node:https server it is built on, and against the JDK server), where the CPU time goes,
// and exactly how it was measured (temp paths shown as $WORK), so the file explains itself.
import type { HandshakeResult, KeepAliveResult, Pem } from './load.ts';
import { abCommand, sTimeCommand } from './load.ts';
import { niceness } from './pin.ts';
import { GROUPS, type ProfileSummary } from './profile.ts';

/** Every round's result of one server. */
export interface Samples {
  full: HandshakeResult[];
  resumed: HandshakeResult[];
  keepAlive: Map<number, KeepAliveResult[]>;
}

/** One server's figures: its best round of each measurement, and all rounds. */
export interface ServerFigures {
  name: string;
  full: HandshakeResult;
  resumed: HandshakeResult;
  keepAlive: KeepAliveResult[];
  /** The largest peak of the copies (processes) measured under this name. */
  memory: { rss: number; peak: number };
  samples: Samples;
}

/** The middle value (the mean of the two middle ones for an even count). */
export const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The median over rounds of ours ÷ bare, each round's pair measured back to back. */
function pairedRatio<T>(ours: T[], bare: T[], value: (x: T) => number): number {
  return median(ours.map((o, i) => value(o) / value(bare[i]!)));
}

/** A server's profiles: each summary and how many requests (or handshakes) it covered. */
export interface Profiled {
  keepAlive: { summary: ProfileSummary; units: number };
  handshakes: { summary: ProfileSummary; units: number };
}

export interface RunInfo {
  seconds: number;
  keepAliveSeconds: number;
  profileSeconds: number;
  rounds: number;
  copies: number;
  durationS: number;
  versions: Record<string, string>;
  cpu: string;
  load: { before: string; afterMeasuring: string; atEnd: string };
  date: string;
  pem: Pem;
  work: string;
}

const LABEL: Record<string, string> = { nginx: 'nginx', backend: 'our backend', jdk: 'JDK HttpsServer', 'plain-node': 'bare node:https' };
const fmt = (n: number) => (Number.isFinite(n) ? (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2)) : 'n/a');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) + '×' : 'n/a');
const plural = (c: number) => `${c} connection${c > 1 ? 's' : ''}`;

interface Row {
  figure: string;
  value: (f: ServerFigures) => number;
  lowerIsBetter?: boolean;
  unit?: string;
  /** ours ÷ bare as the median of per-round ratios (rows measured in every round). */
  paired?: (ours: ServerFigures, bare: ServerFigures) => number;
}

export function renderResults(figures: ServerFigures[], profiles: Record<string, Profiled>, info: RunInfo): string {
  const get = (name: string) => figures.find((f) => f.name === name)!;
  const nginx = get('nginx');
  const ours = get('backend');
  const jdk = get('jdk');
  const bare = get('plain-node');
  const ka = (f: ServerFigures, c: number) => f.keepAlive.find((k) => k.connections === c)!;

  const kaSamples = (f: ServerFigures, c: number) => f.samples.keepAlive.get(c)!;
  const rows: Row[] = [
    { figure: 'full mTLS handshakes/s per core (server CPU time)', value: (f) => f.full.perCoreCapacity, paired: (o, b) => pairedRatio(o.samples.full, b.samples.full, (x) => x.perCoreCapacity) },
    { figure: 'full handshakes/s seen by one s_time client', value: (f) => f.full.observedPerSecond, paired: (o, b) => pairedRatio(o.samples.full, b.samples.full, (x) => x.observedPerSecond) },
    { figure: 'resumed handshakes/s per core', value: (f) => f.resumed.perCoreCapacity, paired: (o, b) => pairedRatio(o.samples.resumed, b.samples.resumed, (x) => x.perCoreCapacity) },
    { figure: 'resumed share of s_time -reuse connections', value: (f) => f.resumed.resumedShare * 100, unit: '%' },
    ...[1, 8, 32].map((c): Row => ({
      figure: `keep-alive requests per server-CPU-second, ${plural(c)}`,
      value: (f) => ka(f, c).perCoreCapacity,
      paired: (o, b) => pairedRatio(kaSamples(o, c), kaSamples(b, c), (x) => x.perCoreCapacity),
    })),
    ...[1, 8, 32].flatMap((c): Row[] => [
      { figure: `keep-alive req/s seen by ab, ${plural(c)}`, value: (f) => ka(f, c).requestsPerSecond, paired: (o, b) => pairedRatio(kaSamples(o, c), kaSamples(b, c), (x) => x.requestsPerSecond) },
      { figure: `  p99 latency ms, ${plural(c)}`, value: (f) => ka(f, c).p99ms, lowerIsBetter: true },
    ]),
    { figure: 'server core busy during the 32-connection run', value: (f) => ka(f, 32).serverLoad * 100, unit: '%' },
    { figure: 'peak RSS MiB', value: (f) => f.memory.peak, lowerIsBetter: true },
  ];

  const table = [
    `| figure | ${figures.map((f) => LABEL[f.name] ?? f.name).join(' | ')} | ours ÷ bare node | ours ÷ JDK | ours ÷ nginx |`,
    `|---|${figures.map(() => '--:').join('|')}|--:|--:|--:|`,
    ...rows.map((r) => `| ${r.figure}${r.lowerIsBetter ? ' (lower is better)' : ''} | ${figures.map((f) => fmt(r.value(f)) + (r.unit ?? '')).join(' | ')} | ${r.paired ? `**${r.paired(ours, bare).toFixed(2)}×**` : ratio(r.value(ours), r.value(bare))} | ${ratio(r.value(ours), r.value(jdk))} | ${ratio(r.value(ours), r.value(nginx))} |`),
  ];

  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  const handshakeRatio = pairedRatio(ours.samples.full, bare.samples.full, (x) => x.perCoreCapacity);
  const kaRatios = [1, 8, 32].map((c) => pairedRatio(kaSamples(ours, c), kaSamples(bare, c), (x) => x.perCoreCapacity));
  const rssRatio = ours.memory.peak / bare.memory.peak;
  const vsJdk = rows.filter((r) => !r.unit).map((r) => ({ r, ok: r.lowerIsBetter ? r.value(ours) <= r.value(jdk) : r.value(ours) > r.value(jdk) }));
  const behindJdk = vsJdk.filter((x) => !x.ok).map((x) => x.r.figure.trim());
  const targets = [
    `- ours ÷ bare node:https ≥ 0.95× on full mTLS handshakes per core: **${handshakeRatio.toFixed(2)}×** — ${mark(handshakeRatio >= 0.95)}`,
    `- ours ÷ bare node:https ≥ 0.95× on keep-alive requests per core at 1 / 8 / 32 connections: **${kaRatios.map((x) => x.toFixed(2) + '×').join(' / ')}** — ${mark(kaRatios.every((x) => x >= 0.95))}`,
    `- ahead of the JDK server on every figure: ${behindJdk.length === 0 ? 'met' : `**missed** on ${behindJdk.join('; ')}`}`,
    `- peak RSS ≤ 1.2× bare node:https: **${rssRatio.toFixed(2)}×** (${fmt(ours.memory.peak)} vs ${fmt(bare.memory.peak)} MiB) — ${mark(rssRatio <= 1.2)}`,
  ];

  // Each round's ratio, so the spread (the machine's noise) is visible next to the median.
  const perRound = (o: number[], b: number[]) => o.map((x, i) => (x / b[i]!).toFixed(2)).join(' · ');
  const roundRows = [
    `| ours ÷ bare node:https, round by round (${info.rounds} rounds; copy pairs 1–${info.copies} in turn) | ratios | median |`,
    '|---|---|--:|',
    `| full handshakes per core | ${perRound(ours.samples.full.map((x) => x.perCoreCapacity), bare.samples.full.map((x) => x.perCoreCapacity))} | ${handshakeRatio.toFixed(2)}× |`,
    `| resumed handshakes per core | ${perRound(ours.samples.resumed.map((x) => x.perCoreCapacity), bare.samples.resumed.map((x) => x.perCoreCapacity))} | ${pairedRatio(ours.samples.resumed, bare.samples.resumed, (x) => x.perCoreCapacity).toFixed(2)}× |`,
    ...[1, 8, 32].map((c, i) => `| keep-alive requests per core, ${plural(c)} | ${perRound(kaSamples(ours, c).map((x) => x.perCoreCapacity), kaSamples(bare, c).map((x) => x.perCoreCapacity))} | ${kaRatios[i]!.toFixed(2)}× |`),
  ];

  const failedRequests = figures.flatMap((f) => f.keepAlive.filter((k) => k.failed > 0).map((k) => `${f.name} at ${k.connections}: ${k.failed}`));
  const notResumed = figures.filter((f) => f.resumed.resumedShare < 0.9).map((f) => LABEL[f.name] ?? f.name);
  const hide = (argv: string[]) => argv.join(' ').split(info.work).join('$WORK').replace('127.0.0.1:0', '127.0.0.1:$PORT');
  const sample = { pid: 0, port: 0 };
  const nice = niceness !== 0 ? `BENCH_NICE=${niceness} ` : '';

  return `# Backend benchmark: our backend against bare node:https, the JDK and nginx

Produced by \`${nice}make bench-backend\` (\`node --import tsx bench/backend/run.ts\`) on ${info.date}, in about
${Math.round(info.durationS)} s: ${info.rounds} rounds, servers taking turns, of ${info.seconds} s per handshake measurement and
${info.keepAliveSeconds} s per keep-alive one. Each server's figures are its best round; "ours ÷ bare node" (in bold) is
the median over the rounds of the ratio within a round. In a round the two were each measured
twice, mirrored (ours, bare, bare, ours, or the other way round every other round) and their two
runs added up, so a change in the machine's speed during the round weighs on both alike; the
round's two processes are warmed up again first (1 s of keep-alive and 1 s of handshakes each),
since a Node server's first second after minutes of rest runs ~10 % slower. Our
backend and the bare server each ran as ${info.copies} processes, one pair per round in turn: two
processes of the same server measure up to 20 % apart here for as long as they live, and one
pair alone would compare that luck. CPU: ${info.cpu}; each server pinned to core 0, the load
generators to core 1.

The machine was shared with other work. Load average (1, 5, 15 min) when the run began:
**${info.load.before}**; after the measurements: **${info.load.afterMeasuring}**; at the end: **${info.load.atEnd}**.
Absolute figures move with that load; the ratios compare servers measured in the same run, turn
by turn, and the per-core figures count each server's own CPU time, so they are what to read. To
re-run on a quiet machine: \`make bench-backend\` (installs nginx and ab from Debian when missing).

## Targets (issue 10)
${targets.join('\n')}

"Per core" = work done ÷ the server's CPU seconds (all its threads, in nanoseconds from
/proc/PID/task/*/schedstat), which does not depend on how fast the single load generator was.
The bare server is the least a node:https server can do for the same mTLS policy (no log, no
identity, one fixed answer); "ours ÷ bare" is the price of everything the backend adds: the
client's identity per connection, the routes, one JSON log line per request (written to a
file), the idle sweep, the pipelining limit and the store watcher.

## Figures

${table.join('\n')}

${roundRows.join('\n')}
${notResumed.length > 0 ? `\nNot resuming sessions under \`s_time -reuse\`: ${notResumed.join(', ')} (its resumed figure is then full handshakes).\n` : ''}${failedRequests.length > 0 ? `\nFailed or non-2xx requests: ${failedRequests.join(', ')}\n` : ''}
## Where the time goes

${profileSection(profiles, info)}

## How it was measured
- Same certificates for all four, made by scripts 10–13 with the defaults (RSA 2048, server SAN
  127.0.0.1/localhost); every connection presents the client certificate \`apigee-client\`; each
  server requires it and trusts only the demo CA.
- Our backend on Node ${info.versions.node}: compiled as in \`backend/Dockerfile\`, started with plain
  \`node backend/main.js\`, its JSON log (one line per request) to a file.
- Bare node:https (same Node): PEM key/cert/CA, \`requestCert\` + \`rejectUnauthorized\`, one handler,
  no logging (bench/backend/servers.ts).
- JDK ${info.versions.java}: \`tests/java/MtlsServer.java\` (com.sun.net.httpserver.HttpsServer,
  need-client-auth, \`-Dsun.net.httpserver.nodelay=true\`).
- nginx ${info.versions.nginx} (Debian): one process, \`ssl_verify_client on\`, session cache on, an
  access-log line per request.
- Handshakes: \`openssl s_time -www /\` (OpenSSL ${info.versions.openssl}): every connection is a
  TLS 1.3 handshake with the client certificate plus one GET (reading the answer also lets the
  client receive the session ticket that \`-reuse\` needs). One client cannot saturate a server, so
  the per-core figure is connections ÷ the server's CPU seconds over the run.
- Keep-alive: ApacheBench ${info.versions.ab} (\`ab -k -E\`): its completed requests ÷ the server's CPU
  seconds, its "Requests per second" and 99th percentile. "server core busy" below 100 % means ab,
  not the server, set the pace (core 1 is shared with whatever else runs on the machine).
- Commands (port and temp paths vary):
  - \`${hide(sTimeCommand(sample, info.pem, 'new', info.seconds, 1))}\`
  - \`${hide(sTimeCommand(sample, info.pem, 'reuse', info.seconds, 1))}\`
  - \`${hide(abCommand(sample, info.pem, 32, info.keepAliveSeconds, 1))}\` (and \`-c 1\`, \`-c 8\`)
`;
}

function profileSection(profiles: Record<string, Profiled>, info: RunInfo): string {
  const ours = profiles.backend!;
  const bare = profiles['plain-node']!;
  const perThousand = (p: { summary: ProfileSummary; units: number }) => (p.units > 0 ? (1000 * p.summary.busyMs) / p.units : NaN);
  const groupTable = (load: 'keepAlive' | 'handshakes') => [
    '| share of the main thread\'s busy time | our backend | bare node:https |',
    '|---|--:|--:|',
    ...GROUPS.map((g) => `| ${g} | ${ours[load].summary.groups[g]!.toFixed(1)} % | ${bare[load].summary.groups[g]!.toFixed(1)} % |`),
    `| **busy ms per 1,000 ${load === 'keepAlive' ? 'requests' : 'handshakes'}** (sampled wall time, so it includes time the machine's other load took) | **${fmt(perThousand(ours[load]))}** | **${fmt(perThousand(bare[load]))}** |`,
  ].join('\n');
  const top = (load: 'keepAlive' | 'handshakes') => ours[load].summary.top.map(([name, pct]) => `\`${name}\` ${pct.toFixed(1)} %`).join(', ');
  const ourCode = ours.keepAlive.summary.groups[GROUPS[0]]!;
  return `Both Node servers were run once more under V8's sampling profiler, pinned as above, with
\`node --cpu-prof --cpu-prof-dir=$WORK/profile-… $WORK/backend-js/backend/main.js\` (and the bare
server's script), warmed up with 1 s of \`ab -k -c 8\`, then loaded for ${info.profileSeconds} s with
\`ab -k -c 8\` (keep-alive) or \`openssl s_time -new\` (handshakes), then stopped with SIGTERM so Node
wrote the profile. Summed by self time (bench/backend/profile.ts); the JavaScript of our backend
is the first group, everything else is Node's and OpenSSL's work that the bare server does too.
V8 only sees the main thread while it runs JavaScript or a native function called from it:
OpenSSL's handshake and decryption work, run by libuv straight from the event loop, counts as
V8's "idle" and is not in these shares ("busy" below), while the per-core figures above include
it. So these tables show what the JavaScript side costs per request or handshake.

Keep-alive requests, 8 connections:

${groupTable('keepAlive')}

Most self time in our backend (keep-alive): ${top('keepAlive')}.

Full handshakes:

${groupTable('handshakes')}

Most self time in our backend (handshakes): ${top('handshakes')}.

Reading it: the TLS write of each answer (encrypting it and sending it, "native calls from
JavaScript") and node:http's own work dominate both servers; the backend's own JavaScript is
${ourCode.toFixed(1)} % of its busy time under keep-alive load and ${ours.handshakes.summary.groups[GROUPS[0]]!.toFixed(1)} % under handshakes. Three choices keep it there,
each found in such a profile: the request log line is written as bytes straight into the log
buffer from parts encoded once (the time once per millisecond, method/path/status once per
distinct request, the client's fields once per connection; a request adds only its latency
digits: no string, no allocation), and lines are written in batches (every 20 ms or 64 KiB, one
write system call each) — handing each batch to libuv's thread pool instead cost about 6 % of
the busy time;
the client certificate is read from the TLS session's bytes, because Node's
\`getPeerX509Certificate()\` decodes it again on each new connection (~0.2 ms against ~50 µs,
timed in the server on full handshakes), found by reading only the session's field lengths and
compared with the last certificate seen before any lookup; and what depends only on the
certificate (CN, fingerprint, allow-list answer, log fields, \`/whoami\`, the identity itself)
is worked out once per certificate. Found by counting instructions instead (callgrind): the
answers' bodies are strings, so node:http writes head and body at once (~4 % of a keep-alive
request's instructions).`;
}
