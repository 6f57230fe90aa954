// bench/backend/RESULTS.md: the figures of one run as ratios against nginx, the targets, and the
// commands that produced them (temp paths shown as $WORK).
import type { HandshakeResult, KeepAliveResult, Pem } from './load.ts';
import { abCommand, sTimeCommand } from './load.ts';
import { niceness } from './pin.ts';

export interface ServerFigures {
  name: string;
  full: HandshakeResult;
  resumed: HandshakeResult;
  keepAlive: KeepAliveResult[];
  memory: { rss: number; peak: number };
}

export interface RunInfo {
  seconds: number;
  rounds: number;
  durationS: number;
  versions: Record<string, string>;
  cpu: string;
  load: string;
  pem: Pem;
  work: string;
}

const LABEL: Record<string, string> = { nginx: 'nginx', backend: 'our backend', jdk: 'JDK HttpsServer', 'plain-node': 'bare node:https' };
const fmt = (n: number) => (Number.isFinite(n) ? (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2)) : 'n/a');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) + '×' : 'n/a');

interface Row { figure: string; value: (f: ServerFigures) => number; lowerIsBetter?: boolean; unit?: string }

export function renderResults(figures: ServerFigures[], info: RunInfo): string {
  const get = (name: string) => figures.find((f) => f.name === name)!;
  const nginx = get('nginx');
  const ours = get('backend');
  const jdk = get('jdk');
  const plain = get('plain-node');
  const ka = (f: ServerFigures, c: number) => f.keepAlive.find((k) => k.connections === c)!;

  const rows: Row[] = [
    { figure: 'full mTLS handshakes/s per core (server CPU time)', value: (f) => f.full.perCoreCapacity },
    { figure: 'full handshakes/s seen by one s_time client', value: (f) => f.full.observedPerSecond },
    { figure: 'resumed handshakes/s per core', value: (f) => f.resumed.perCoreCapacity },
    { figure: 'resumed share of s_time -reuse connections', value: (f) => f.resumed.resumedShare * 100, unit: '%' },
    ...[1, 8, 32].flatMap((c): Row[] => [
      { figure: `keep-alive req/s, ${c} connection${c > 1 ? 's' : ''}`, value: (f) => ka(f, c).requestsPerSecond },
      { figure: `  p99 latency ms, ${c} connection${c > 1 ? 's' : ''}`, value: (f) => ka(f, c).p99ms, lowerIsBetter: true },
    ]),
    ...[1, 8, 32].map((c): Row => ({ figure: `keep-alive req per server-CPU-second, ${c} connection${c > 1 ? 's' : ''}`, value: (f) => ka(f, c).perCoreCapacity })),
    { figure: 'server core busy during 32-connection run', value: (f) => ka(f, 32).serverLoad * 100, unit: '%' },
    { figure: 'peak RSS MiB', value: (f) => f.memory.peak, lowerIsBetter: true },
  ];

  const table = [
    `| figure | ${figures.map((f) => LABEL[f.name] ?? f.name).join(' | ')} | ours ÷ nginx | JDK ÷ nginx | bare node ÷ nginx | ours ÷ bare node |`,
    `|---|${figures.map(() => '--:').join('|')}|--:|--:|--:|--:|`,
    ...rows.map((r) => `| ${r.figure}${r.lowerIsBetter ? ' (lower is better)' : ''} | ${figures.map((f) => fmt(r.value(f)) + (r.unit ?? '')).join(' | ')} | ${ratio(r.value(ours), r.value(nginx))} | ${ratio(r.value(jdk), r.value(nginx))} | ${ratio(r.value(plain), r.value(nginx))} | ${ratio(r.value(ours), r.value(plain))} |`),
  ];

  const failedRequests = figures.flatMap((f) => f.keepAlive.filter((k) => k.failed > 0).map((k) => `${f.name} at ${k.connections}: ${k.failed}`));
  const fullRatio = ours.full.perCoreCapacity / nginx.full.perCoreCapacity;
  const kaRatios = [1, 8, 32].map((c) => ka(ours, c).requestsPerSecond / ka(nginx, c).requestsPerSecond);
  const kaCpuRatios = [1, 8, 32].map((c) => ka(ours, c).perCoreCapacity / ka(nginx, c).perCoreCapacity);
  const aheadOfJdk = rows.filter((r) => !r.unit).map((r) => ({ r, ok: r.lowerIsBetter ? r.value(ours) <= r.value(jdk) : r.value(ours) > r.value(jdk) }));
  const behindJdk = aheadOfJdk.filter((x) => !x.ok).map((x) => x.r.figure.trim());
  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  const targets = [
    `- ≥ 0.9× nginx full handshakes/s per core: ${fullRatio.toFixed(2)}× — ${mark(fullRatio >= 0.9)}`,
    `- ≥ 0.7× nginx keep-alive req/s (1/8/32 connections): ${kaRatios.map((x) => x.toFixed(2) + '×').join(' / ')} — ${mark(kaRatios.every((x) => x >= 0.7))}`,
    `  - per server-CPU-second (fairer when "server core busy" is far below 100 %): ${kaCpuRatios.map((x) => x.toFixed(2) + '×').join(' / ')} — ${mark(kaCpuRatios.every((x) => x >= 0.7))}`,
    `- ahead of the JDK server on every figure: ${behindJdk.length === 0 ? 'met' : `**missed** on ${behindJdk.join('; ')}`}`,
    `- resumption working: ${(ours.resumed.resumedShare * 100).toFixed(0)}% of s_time -reuse connections resumed — ${mark(ours.resumed.resumedShare >= 0.9)}`,
  ];

  const notResumed = figures.filter((f) => f.resumed.resumedShare < 0.9).map((f) => LABEL[f.name] ?? f.name);
  const hide = (argv: string[]) => argv.join(' ').split(info.work).join('$WORK').replace('127.0.0.1:0', '127.0.0.1:$PORT');
  const sample = { pid: 0, port: 0 };
  return `# Backend benchmark: ratios against nginx

Produced by \`${niceness !== 0 ? `BENCH_NICE=${niceness} ` : ''}node --import tsx bench/backend/run.ts\` (about ${Math.round(info.durationS)} s; ${info.rounds} rounds of
${info.seconds} s per measurement, best round kept). Absolute numbers depend on the machine and on
whatever else runs on it (load average at the end: ${info.load}); **read the ratios**, which come from
the same run.

${table.join('\n')}

## Targets
${targets.join('\n')}
${notResumed.length > 0 ? `\nNot resuming sessions under \`s_time -reuse\`: ${notResumed.join(', ')} (its resumed figure is then full handshakes).\n` : ''}${failedRequests.length > 0 ? `\nFailed or non-2xx requests: ${failedRequests.join(', ')}\n` : ''}
## How it was measured
- Same certificates for all three, made by scripts 10–13 with the defaults (RSA 2048, server SAN
  127.0.0.1/localhost); every connection presents the client certificate \`apigee-client\`; each
  server requires it and trusts only the demo CA.
- nginx ${info.versions.nginx} (Debian): one process, \`ssl_verify_client on\`, session cache on, one
  access-log line per request (our backend also logs one JSON line per request).
- JDK ${info.versions.java}: \`tests/java/MtlsServer.java\` (com.sun.net.httpserver.HttpsServer,
  need-client-auth, \`-Dsun.net.httpserver.nodelay=true\`).
- Our backend on Node ${info.versions.node}: compiled as in \`backend/Dockerfile\` and started with
  plain \`node backend/main.js\`.
- Bare node:https (same Node): PEM key/cert/CA, \`requestCert\` + \`rejectUnauthorized\`, one handler,
  no logging. It shows what Node itself costs: "ours ÷ bare node" is the backend's own overhead
  (identity, JSON log line, routing, timeouts, store watching).
- Each server pinned with \`taskset -c 0\`; load generators with \`taskset -c 1\`${niceness !== 0 ? `; all of them at \`nice -n ${niceness}\`` : ''}. CPU: ${info.cpu}.
- Handshakes: \`openssl s_time -www /\` (OpenSSL ${info.versions.openssl}): every connection is a
  TLS 1.3 handshake with the client certificate plus one GET (reading the answer is also what lets
  the client receive the TLS 1.3 session ticket that \`-reuse\` needs). One client cannot saturate
  a server (it pays the same RSA cost), so the per-core figure is connections ÷ the server's CPU
  seconds (utime + stime of all its threads from /proc/PID/stat) over the run.
- "server core busy" below 100 % means the load generator, not the server, set the pace (core 1
  is shared with whatever else runs on the machine); the per-CPU-second rows are the fairer
  comparison then.
- Keep-alive: ApacheBench ${info.versions.ab} (\`ab -k -E\`), its "Requests per second" and 99th
  percentile.
- Commands (port and temp paths vary):
  - \`${hide(sTimeCommand(sample, info.pem, 'new', info.seconds, 1))}\`
  - \`${hide(sTimeCommand(sample, info.pem, 'reuse', info.seconds, 1))}\`
  - \`${hide(abCommand(sample, info.pem, 32, info.seconds, 1))}\`
`;
}
