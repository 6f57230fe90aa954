// Shared by the stand-in's own tests (tests/apigee-local-*.test.ts, tests/hostile/): a stand-in
// in this process on ephemeral ports, its management API and gateway as small typed calls, and
// the bundles and multipart bodies those tests upload.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { zipSync, strToU8 } from 'fflate';
import { Agent, request } from 'undici';
import * as assert from 'uvu/assert';
import { startApigeeLocal, type ApigeeLocal, type ApigeeLocalOptions } from '../../apigee-local/server.ts';
import { pkiFixture, type PkiFixture } from './fixtures.ts';
import { tempDir } from './temp.ts';

export const E = '/environments/eval';

export interface Answer { status: number; json: any; text: string; headers: Record<string, unknown> }

export interface StandIn {
  fx: PkiFixture;
  local: ApigeeLocal;
  options: ApigeeLocalOptions;
  /** A management call; bodies that are strings are sent as JSON unless `type` says otherwise. */
  api(method: string, path: string, body?: BodyInit | Buffer, type?: string): Promise<Answer>;
  /** Like `api` but throws unless the answer is 200; returns the JSON. */
  ok(method: string, path: string, body?: BodyInit | Buffer, type?: string): Promise<any>;
  /** A gateway call over a keep-alive client that trusts the project CA. */
  call(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Answer>;
  /** Stops the stand-in and starts it again on the same state folder (new ports). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startStandIn(extra: Partial<ApigeeLocalOptions> = {}): Promise<StandIn> {
  const fx = await pkiFixture();
  const options: ApigeeLocalOptions = {
    org: 'demo-org', env: 'eval', dir: tempDir('apigee-local-'),
    caCertFile: join(fx.pki, 'ca-cert.pem'), caKeyFile: join(fx.pki, 'ca-key.pem'),
    apiPort: 0, runtimePort: 0, deploySettleMs: 0, ...extra,
  };
  const client = new Agent({ connect: { ca: readFileSync(join(fx.pki, 'ca-cert.pem'), 'utf8') } });
  const self: StandIn = {
    fx, options,
    local: await startApigeeLocal(options),
    async api(method, path, input, type = 'application/json') {
      const body = Buffer.isBuffer(input) ? new Uint8Array(input) : input;
      const headers: Record<string, string> = { authorization: 'Bearer t' };
      if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = type;
      const res = await fetch(self.local.apiUrl + path, { method, body, headers });
      return answer(res.status, await res.text(), Object.fromEntries(res.headers));
    },
    async ok(method, path, body, type) {
      const a = await self.api(method, path, body, type);
      if (a.status !== 200) throw new Error(`${method} ${path} → ${a.status} ${a.text}`);
      return a.json;
    },
    async call(path, init = {}) {
      const res = await request(`https://127.0.0.1:${self.local.runtimePort}${path}`, {
        dispatcher: client, method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body,
      });
      return answer(res.statusCode, await res.body.text(), res.headers);
    },
    async restart() {
      await self.local.close();
      self.local = await startApigeeLocal({ ...options, apiPort: 0, runtimePort: 0 });
    },
    async close() {
      await client.close();
      await self.local.close();
    },
  };
  return self;
}

function answer(status: number, text: string, headers: Record<string, unknown>): Answer {
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status, json, text, headers };
}

/** Asserts a runtime fault: status, errorcode, a string faultstring (this one, or matching, when given). */
export function assertFault(a: Answer, status: number, errorcode: string, faultstring?: string | RegExp): void {
  assert.is(a.status, status, a.text);
  assert.is(a.json?.fault?.detail?.errorcode, errorcode, a.text);
  assert.type(a.json.fault.faultstring, 'string');
  if (typeof faultstring === 'string') assert.is(a.json.fault.faultstring, faultstring);
  else if (faultstring) assert.match(a.json.fault.faultstring, faultstring);
}

/** Asserts Google's error envelope with a RequestInfo detail. */
export function assertError(a: Answer, code: number, status: string, message?: RegExp): void {
  assert.is(a.status, code, a.text);
  assert.is(a.json?.error?.code, code, a.text);
  assert.is(a.json.error.status, status, a.text);
  assert.type(a.json.error.message, 'string');
  assert.ok(a.json.error.details.some((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.RequestInfo' && /^\d+$/.test(d.requestId)), a.text);
  if (message) assert.match(a.json.error.message, message);
}

/** A multipart body: strings named `password` are plain fields, everything else a file part. */
export function form(parts: Record<string, string | Buffer>): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (typeof value === 'string' && name === 'password') data.append(name, value);
    else data.append(name, new Blob([typeof value === 'string' ? value : new Uint8Array(value)]), `${name}.bin`);
  }
  return data;
}

export const zip = (files: Record<string, string>): Buffer =>
  Buffer.from(zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))));

/** A one-proxy bundle: `basePath` routed to one TargetEndpoint whose HTTPTargetConnection is `connection`. */
export function bundle(basePath: string, connection: string): Buffer {
  return zip({
    'apiproxy/p.xml': '<APIProxy name="p"/>',
    'apiproxy/proxies/default.xml': `<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>${basePath}</BasePath></HTTPProxyConnection><RouteRule name="r"><TargetEndpoint>default</TargetEndpoint></RouteRule></ProxyEndpoint>`,
    'apiproxy/targets/default.xml': `<TargetEndpoint name="default"><HTTPTargetConnection>${connection}</HTTPTargetConnection></TargetEndpoint>`,
  });
}

/** Imports a bundle and deploys it; returns the revision (does not wait for READY). */
export async function importAndDeploy(s: StandIn, name: string, basePath: string, connection: string): Promise<string> {
  const rev = await s.ok('POST', `/apis?name=${encodeURIComponent(name)}&action=import`, bundle(basePath, connection), 'application/octet-stream');
  await s.ok('POST', `${E}/apis/${encodeURIComponent(name)}/revisions/${rev.revision}/deployments?override=true`);
  return rev.revision as string;
}

/** Polls `probe` every 20 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const pem = (dir: string, name: string): string => readFileSync(join(dir, name), 'utf8');

/** Rejects when `work` takes longer than `ms`: every hostile case is bounded in time. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Deploys `/alive`: a proxy to a plain HTTPS server answering "alive", for timing the gateway while
 * something hostile happens. Returns a function that stops that server.
 */
export async function deployAlive(s: StandIn): Promise<() => void> {
  const server = await startTextServer(s, 'alive');
  await importAndDeploy(s, 'alive', '/alive', `<URL>https://127.0.0.1:${server.port}</URL>`);
  return server.close;
}

/** A plain HTTPS server (the project's server certificate) answering every request with `text`. */
export async function startTextServer(s: StandIn, text: string): Promise<{ port: number; close: () => void }> {
  const server = createServer({ cert: pem(s.fx.pki, 'server-cert.pem'), key: pem(s.fx.pki, 'server-key.pem') }, (_req, res) => res.end(text));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

export interface Measured<T> {
  result: T;
  /** How long `work` took (ms). */
  ms: number;
  /** Gateway calls to /alive made one after another while `work` ran, and the slowest of them (ms). */
  calls: number;
  slowestCall: number;
  /** The longest the event loop of this process (and so of the in-process stand-in) was blocked (ms). */
  loopBlockedMs: number;
}

/** Runs `work` while timing gateway calls to /alive (see deployAlive) and the event loop. */
export async function whileCallingGateway<T>(s: StandIn, work: () => Promise<T>): Promise<Measured<T>> {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let done = false;
  let calls = 0;
  let slowestCall = 0;
  const caller = (async () => {
    while (!done) {
      const started = performance.now();
      const a = await s.call('/alive');
      slowestCall = Math.max(slowestCall, performance.now() - started);
      calls += 1;
      assert.is(a.status, 200, a.text);
    }
  })();
  const started = performance.now();
  let result: T;
  let ms: number;
  try {
    result = await work();
    ms = performance.now() - started;
  } finally {
    done = true;
    await caller; // the call in flight counts too
    loop.disable();
  }
  return { result, ms, calls, slowestCall, loopBlockedMs: loop.max / 1e6 };
}
