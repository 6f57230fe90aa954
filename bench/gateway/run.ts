// Benchmark: requests/s and added latency through the local Apigee stand-in vs. calling the
// backend directly vs. nginx as an mTLS reverse proxy, at 8 and 32 keep-alive connections (ab -k),
// plus backend TLS handshakes per 10 000 proxied requests. Writes results.json and results.md here.
//
//   node --import tsx bench/gateway/run.ts [--seconds 3] [--rounds 3]
//
// ab cannot present a client certificate, so the "direct" baseline calls a second backend
// instance with client auth off (same code, same certificate; with keep-alive the handshake is
// paid once per connection, so per-request cost is the same).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { startBackend, settingsFromEnv, type Backend } from '../../backend/server.ts';
import { repoRoot } from '../../core/config.ts';
import { pkiFixture } from '../../tests/helpers/fixtures.ts';

const argSeconds = process.argv.indexOf('--seconds');
const SECONDS = argSeconds > 0 ? Number(process.argv[argSeconds + 1]) : 3;
const argRounds = process.argv.indexOf('--rounds');
const ROUNDS = argRounds > 0 ? Number(process.argv[argRounds + 1]) : 3;
const CONCURRENCY = [8, 32];
const PORTS = { api: 0, runtime: 0, nginx: 0 };

interface Run { target: string; concurrency: number; rps: number; p50: number; p99: number; requests: number; failed: number; handshakes?: number; cpuUsPerRequest?: number }

/** CPU time (user + system, ms) of a process and its direct children, from /proc (Linux). */
function cpuMs(pid: number): number {
  const ticks = (p: number) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime
  };
  let total = ticks(pid);
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      if (Number(fields[1]) === pid) total += ticks(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return total * 10; // USER_HZ = 100
}

const work = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
const children: ChildProcess[] = [];
const backends: Backend[] = [];

function freePort(): Promise<number> {
  return import('node:net').then(({ createServer }) => new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  }));
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Asynchronous on purpose: the backends live in this process and must keep serving while ab runs.
async function ab(url: string, concurrency: number, seconds: number): Promise<Run> {
  const csv = join(work, `ab-${Date.now()}.csv`);
  const { stdout: out } = await promisify(execFile)('ab', ['-q', '-k', '-s', '10', '-c', String(concurrency), '-t', String(seconds), '-n', '2000000', '-e', csv, url], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const percent = new Map(readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number) as [number, number]));
  return {
    target: '', concurrency,
    rps: num(/Requests per second:\s+([\d.]+)/),
    requests: num(/Complete requests:\s+(\d+)/),
    failed: num(/Failed requests:\s+(\d+)/) + num(/Non-2xx responses:\s+(\d+)/) || 0,
    p50: percent.get(50) ?? NaN,
    p99: percent.get(99) ?? NaN,
  };
}

async function api(base: string, method: string, path: string, body?: BodyInit, type?: string): Promise<void> {
  const headers: Record<string, string> = { authorization: 'Bearer bench' };
  if (type) headers['content-type'] = type;
  const res = await fetch(base + path, { method, headers, body });
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

async function main(): Promise<void> {
  const fx = await pkiFixture();
  const pki = (name: string) => join(fx.pki, name);

  // Two backends in this process: mTLS (behind the gateways) and client-auth off (direct baseline).
  const common = { CERTS_DIR: fx.pki, SERVER_SSL_KEYSTOREPASSWORD: fx.password, SERVER_SSL_TRUSTSTOREPASSWORD: fx.password,
    PORT: '0', HEALTH_PORT: '0', SERVER_ADDRESS: '127.0.0.1', RELOAD_STORES: '0' };
  const mtls = await startBackend(settingsFromEnv({ ...common, SERVER_SSL_CLIENTAUTH: 'need' }), { log: () => undefined });
  const plain = await startBackend(settingsFromEnv({ ...common, SERVER_SSL_CLIENTAUTH: 'none' }), { log: () => undefined });
  backends.push(mtls, plain);
  let handshakes = 0;
  mtls.server.on('secureConnection', () => handshakes++);

  // The stand-in in its own process, configured through its management API like the tutorial.
  PORTS.api = await freePort();
  PORTS.runtime = await freePort();
  const standIn = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'apigee-local', 'main.ts')], {
    cwd: repoRoot, stdio: 'ignore',
    env: { ...process.env, CERTS_DIR: fx.pki, APIGEE_LOCAL_DIR: join(work, 'apigee'), APIGEE_LOCAL_API_PORT: String(PORTS.api), APIGEE_LOCAL_RUNTIME_PORT: String(PORTS.runtime), APIGEE_LOCAL_TOKEN: '' },
  });
  children.push(standIn);
  const base = `http://127.0.0.1:${PORTS.api}/v1/organizations/demo-org`;
  await waitFor(async () => (await fetch(base + '/envgroups', { headers: { authorization: 'Bearer x' } })).ok, 'apigee-local');
  const E = '/environments/eval';
  const p12 = new FormData();
  p12.append('file', new Blob([new Uint8Array(readFileSync(pki('client-apigee-keystore.p12')))]), 'client.p12');
  p12.append('password', fx.password);
  const ca = new FormData();
  ca.append('certFile', new Blob([readFileSync(pki('ca-cert.pem'), 'utf8')]), 'ca.pem');
  await api(base, 'POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }), 'application/json');
  await api(base, 'POST', `${E}/keystores/ks/aliases?alias=client&format=pkcs12`, p12);
  await api(base, 'POST', `${E}/keystores`, JSON.stringify({ name: 'ts' }), 'application/json');
  await api(base, 'POST', `${E}/keystores/ts/aliases?alias=ca&format=keycertfile`, ca);
  await api(base, 'POST', `${E}/targetservers`, JSON.stringify({ name: 'backend', host: '127.0.0.1', port: mtls.port,
    sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ks', keyAlias: 'client', trustStore: 'ts', enforce: true } }), 'application/json');
  const bundle = zipSync({
    'apiproxy/bench.xml': strToU8('<APIProxy name="bench"/>'),
    'apiproxy/proxies/default.xml': strToU8('<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>/bench</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>default</TargetEndpoint></RouteRule></ProxyEndpoint>'),
    'apiproxy/targets/default.xml': strToU8('<TargetEndpoint name="default"><HTTPTargetConnection><LoadBalancer><Server name="backend"/></LoadBalancer></HTTPTargetConnection></TargetEndpoint>'),
  });
  await api(base, 'POST', '/apis?name=bench&action=import', new Uint8Array(bundle), 'application/octet-stream');
  await api(base, 'POST', `${E}/apis/bench/revisions/1/deployments`);
  await new Promise((r) => setTimeout(r, 700)); // PROGRESSING → READY

  // nginx as the mTLS reverse proxy (one worker, upstream keepalive ≥ client concurrency).
  PORTS.nginx = await freePort();
  const ngx = join(work, 'nginx');
  mkdirSync(ngx);
  writeFileSync(join(ngx, 'nginx.conf'), `worker_processes 1;
daemon off;
pid ${ngx}/nginx.pid;
error_log ${ngx}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${ngx}/body; proxy_temp_path ${ngx}/proxy; fastcgi_temp_path ${ngx}/fcgi; uwsgi_temp_path ${ngx}/uwsgi; scgi_temp_path ${ngx}/scgi;
  upstream backend { server 127.0.0.1:${mtls.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${PORTS.nginx} ssl;
    ssl_certificate ${pki('server-cert.pem')};
    ssl_certificate_key ${pki('server-key.pem')};
    location / {
      proxy_pass https://backend/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate ${pki('apigee-client-cert.pem')};
      proxy_ssl_certificate_key ${pki('apigee-client-key.pem')};
      proxy_ssl_trusted_certificate ${pki('ca-cert.pem')};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
  }
}
`);
  const nginx = spawn('nginx', ['-p', ngx, '-c', join(ngx, 'nginx.conf')], { stdio: 'ignore' });
  children.push(nginx);
  await waitFor(() => probe(PORTS.nginx), 'nginx');

  const targets: Array<[string, string, number | undefined]> = [
    ['direct', `https://127.0.0.1:${plain.port}/`, undefined],
    ['apigee-local', `https://127.0.0.1:${PORTS.runtime}/bench`, standIn.pid],
    ['nginx', `https://127.0.0.1:${PORTS.nginx}/`, nginx.pid],
  ];
  const runs: Run[] = [];
  // The machine is shared: rounds alternate the targets so load swings hit them alike; the median
  // round (by req/s) is reported. Handshakes are counted from the first warm-up on, so they show
  // how many backend connections each proxy opened for the whole concurrency level.
  for (const c of CONCURRENCY) {
    const perTarget = new Map<string, { runs: Run[]; handshakes: number }>();
    for (const [name, url] of targets) {
      const before = handshakes;
      await ab(url, c, 1); // warm-up: connections, JIT, pools
      perTarget.set(name, { runs: [], handshakes: handshakes - before });
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, url, pid] of targets) {
        const before = handshakes;
        const cpuBefore = pid ? cpuMs(pid) : 0;
        const run: Run = { ...(await ab(url, c, SECONDS)), target: name };
        if (pid) run.cpuUsPerRequest = Math.round(((cpuMs(pid) - cpuBefore) * 1000) / run.requests);
        const entry = perTarget.get(name)!;
        entry.handshakes += handshakes - before;
        entry.runs.push(run);
        process.stdout.write(`${name.padEnd(13)} c=${String(c).padEnd(3)} ${run.rps.toFixed(0).padStart(7)} req/s  p50 ${run.p50.toFixed(2)} ms  p99 ${run.p99.toFixed(2)} ms  failed ${run.failed}${pid ? `  proxy CPU ${run.cpuUsPerRequest} µs/request` : ''}\n`);
      }
    }
    for (const [name, , pid] of targets) {
      const entry = perTarget.get(name)!;
      const sorted = [...entry.runs].sort((a, b) => a.rps - b.rps);
      const median = { ...sorted[Math.floor(sorted.length / 2)]! };
      median.requests = entry.runs.reduce((n, r) => n + r.requests, 0);
      median.failed = entry.runs.reduce((n, r) => n + r.failed, 0);
      if (pid) median.handshakes = entry.handshakes;
      runs.push(median);
    }
  }
  report(runs);
}

async function probe(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function report(runs: Run[]): void {
  const find = (t: string, c: number) => runs.find((r) => r.target === t && r.concurrency === c)!;
  const rows = CONCURRENCY.map((c) => {
    const d = find('direct', c);
    const g = find('apigee-local', c);
    const n = find('nginx', c);
    return {
      concurrency: c,
      directRps: Math.round(d.rps), gatewayRps: Math.round(g.rps), nginxRps: Math.round(n.rps),
      gatewayVsNginx: +(g.rps / n.rps).toFixed(2),
      gatewayVsDirect: +(g.rps / d.rps).toFixed(2),
      nginxVsDirect: +(n.rps / d.rps).toFixed(2),
      gatewayAddedP50Ms: +(g.p50 - d.p50).toFixed(2), gatewayAddedP99Ms: +(g.p99 - d.p99).toFixed(2),
      nginxAddedP50Ms: +(n.p50 - d.p50).toFixed(2), nginxAddedP99Ms: +(n.p99 - d.p99).toFixed(2),
      gatewayHandshakesPer10k: +((g.handshakes! / g.requests) * 10_000).toFixed(2),
      nginxHandshakesPer10k: +((n.handshakes! / n.requests) * 10_000).toFixed(2),
      gatewayHandshakesPerConnection: +(g.handshakes! / c).toFixed(2),
      gatewayHandshakes: g.handshakes, nginxHandshakes: n.handshakes, failed: d.failed + g.failed + n.failed,
      gatewayCpuUsPerRequest: g.cpuUsPerRequest, nginxCpuUsPerRequest: n.cpuUsPerRequest,
    };
  });
  const meta = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, seconds: SECONDS,
    command: `node --import tsx bench/gateway/run.ts --seconds ${SECONDS} --rounds ${ROUNDS}`, load: 'ab -k (keep-alive), GET, closed loop' };
  const here = join(repoRoot, 'bench', 'gateway');
  writeFileSync(join(here, 'results.json'), JSON.stringify({ meta, rows, runs }, null, 2) + '\n');
  const lines = [
    '# Gateway benchmark: latest results',
    '',
    `Command: \`${meta.command}\` (${meta.date}, Node ${meta.node}, ${meta.cpus} CPUs shared with other work; per concurrency a 1 s warm-up per target, then ${ROUNDS} rounds of ${SECONDS} s alternating the targets; the median round is shown).`,
    '',
    'Backend handshakes are counted from the warm-up on: with a working pool they stay at or below the number of client connections (one per pooled connection), so handshakes per 10k requests fall as runs get longer.',
    '',
    '| connections | direct req/s | apigee-local req/s | nginx req/s | apigee-local / nginx | apigee-local / direct | nginx / direct | added p50 apigee-local / nginx (ms) | added p99 apigee-local / nginx (ms) | backend handshakes, total (per 10k requests): apigee-local / nginx | proxy CPU µs per request (apigee-local / nginx) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.concurrency} | ${r.directRps} | ${r.gatewayRps} | ${r.nginxRps} | **${r.gatewayVsNginx}** | ${r.gatewayVsDirect} | ${r.nginxVsDirect} | ${r.gatewayAddedP50Ms} / ${r.nginxAddedP50Ms} | ${r.gatewayAddedP99Ms} / ${r.nginxAddedP99Ms} | ${r.gatewayHandshakes} (${r.gatewayHandshakesPer10k}) / ${r.nginxHandshakes} (${r.nginxHandshakesPer10k}) | ${r.gatewayCpuUsPerRequest} / ${r.nginxCpuUsPerRequest} |`),
    '',
    'Targets (issue 4): apigee-local ≥ 0.6× nginx throughput, ≤ 1 backend handshake per pooled connection, < 1 ms added p50 at 8 connections.',
    `Failed or non-2xx responses across all runs: ${rows.reduce((n, r) => n + r.failed, 0)}.`,
    '',
  ];
  writeFileSync(join(here, 'results.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n') + '\n');
}

async function cleanup(): Promise<void> {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(backends.map((b) => b.close()));
  rmSync(work, { recursive: true, force: true });
}

try {
  await main();
} finally {
  await cleanup();
}
