// The three servers under test, each pinned to one core, all with the same certificates and
// client-certificate policy (required, trusted = the demo CA):
//  - nginx from Debian, one worker process, ssl_verify_client on;
//  - the JDK HttpsServer of tests/java/MtlsServer.java with need-client-auth;
//  - our backend, compiled as in the container image and run with plain node;
//  - for reference, the least a node:https server does (no logging, no identity): what Node
//    itself costs, so the report can tell Node's share of a gap from the backend's.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../../core/config.ts';
import { GREETING } from '../../backend/routes.ts';
import { pinned } from './pin.ts';

export interface Pki {
  dir: string;
  password: string;
}

export interface RunningServer {
  name: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** The greeting every server under test answers with (the backend's own). */
export const MESSAGE = GREETING;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Resolves when something accepts TCP connections on the port (for servers that print nothing). */
async function whenListening(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

interface StartOptions {
  env?: NodeJS.ProcessEnv;
  logFile: string;
  /** Finds the port in the server's stdout; or `port` when the server prints nothing. */
  ready?: (output: string) => number | undefined;
  port?: number;
}

/** Every server process started and not yet exited, for killServers(). */
const children = new Set<ChildProcess>();

/** Sends SIGTERM to every server still running, without waiting (a run cut short by a signal, harness.ts). */
export function killServers(): void {
  for (const child of children) child.kill('SIGTERM');
}

/** Spawns `taskset -c CORE command…` (taskset execs, so the pid is the server's) and waits until it serves. */
async function startPinned(name: string, core: number, argv: string[], opts: StartOptions): Promise<RunningServer> {
  const log = openSync(opts.logFile, 'w');
  // stdout goes to the log file too unless the port must be read from it.
  const [command, ...args] = pinned(core, argv);
  const child: ChildProcess = spawn(command!, args, {
    cwd: repoRoot,
    env: opts.env ?? process.env,
    stdio: ['pipe', opts.ready ? 'pipe' : log, log],
  });
  closeSync(log);
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready (see ${opts.logFile})`))));
  exited.catch(() => {});
  const port = opts.ready
    ? await Promise.race([exited, new Promise<number>((resolve) => {
        child.stdout!.on('data', (chunk) => {
          output += chunk;
          const found = opts.ready!(output);
          if (found !== undefined) resolve(found);
        });
      })])
    : await Promise.race([exited, whenListening(opts.port!, child).then(() => opts.port!)]);
  // Keep draining stdout so the server never blocks on a full pipe.
  child.stdout?.resume();
  return {
    name,
    pid: child.pid!,
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exit = once(child, 'exit');
      child.stdin!.end();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

export async function startNginx(pki: Pki, work: string, core: number): Promise<RunningServer> {
  const dir = join(work, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const file = (name: string) => join(pki.dir, name);
  // One process (no master) so its CPU time is the server's. Each request is logged, as our
  // backend logs each request.
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${file('server-cert.pem')};
    ssl_certificate_key ${file('server-key.pem')};
    ssl_client_certificate ${file('ca-cert.pem')};
    ssl_verify_client on;
    ssl_session_cache shared:bench:10m;
    location / {
      default_type application/json;
      return 200 '{"message":"${MESSAGE}"}\\n';
    }
  }
}
`);
  return startPinned('nginx', core, ['nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    logFile: join(dir, 'stderr.log'),
    port,
  });
}

export function startJdk(pki: Pki, work: string, core: number): Promise<RunningServer> {
  const file = (name: string) => join(pki.dir, name);
  // nodelay: without it the JDK server waits ~40 ms (Nagle + delayed ACK) on every small response.
  return startPinned('jdk', core, ['java', '-Dsun.net.httpserver.nodelay=true', join('tests', 'java', 'MtlsServer.java'), '0',
    file('server-keystore.p12'), pki.password, 'server', file('server-truststore.p12'), pki.password], {
    logFile: join(work, 'jdk.log'),
    ready: (out) => {
      const m = /listening (\d+)/.exec(out);
      return m ? Number(m[1]) : undefined;
    },
  });
}

/**
 * Our backend as the container runs it: compiled JavaScript (see backend/Dockerfile) under plain
 * node, its JSON request log going to a file (as `scripts/20-backend.ts --detach` does, and as
 * nginx writes its access log). `nodeFlags` e.g. --cpu-prof for the profile runs.
 */
export async function startBackend(pki: Pki, compiled: string, work: string, core: number, nodeFlags: string[] = [], copy = 0): Promise<RunningServer> {
  const file = (name: string) => join(pki.dir, name);
  const port = await freePort();
  return startPinned('backend', core, [process.execPath, ...nodeFlags, join(compiled, 'backend', 'main.js')], {
    logFile: join(work, `backend${nodeFlags.length ? '-profiled' : `-${copy}`}.log`),
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HEALTH_PORT: '0',
      SERVER_ADDRESS: '127.0.0.1',
      SERVER_SSL_KEYSTORE: file('server-keystore.p12'),
      SERVER_SSL_KEYSTOREPASSWORD: pki.password,
      SERVER_SSL_KEYALIAS: 'server',
      SERVER_SSL_TRUSTSTORE: file('server-truststore.p12'),
      SERVER_SSL_TRUSTSTOREPASSWORD: pki.password,
    },
    port,
  });
}

// The reference server: one handler, PEM files, client certificate required.
const PLAIN_NODE = `
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
const read = (name) => readFileSync(process.env.PKI + '/' + name);
const body = Buffer.from(JSON.stringify({ message: process.env.MESSAGE }));
const server = createServer({ key: read('server-key.pem'), cert: read('server-cert.pem'), ca: read('ca-cert.pem'), requestCert: true, rejectUnauthorized: true },
  (req, res) => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }); res.end(body); });
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

export function startPlainNode(pki: Pki, work: string, core: number, nodeFlags: string[] = [], copy = 0): Promise<RunningServer> {
  return startPinned('plain-node', core, [process.execPath, ...nodeFlags, '--input-type=module', '-e', PLAIN_NODE], {
    logFile: join(work, `plain-node-${copy}.log`),
    env: { PATH: process.env.PATH, PKI: pki.dir, MESSAGE },
    ready: (out) => {
      const m = /listening (\d+)/.exec(out);
      return m ? Number(m[1]) : undefined;
    },
  });
}
