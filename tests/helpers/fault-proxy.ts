// A small HTTP proxy in front of the stand-in's management API that breaks chosen requests, to show
// what the client does when the network or Apigee misbehaves:
// - '503-before': answers 503 UNAVAILABLE, the request never reaches the stand-in;
// - '429-before': answers 429 RESOURCE_EXHAUSTED (quota), the request never reaches the stand-in;
// - 'drop-before': closes the connection without forwarding (the client cannot tell whether it arrived);
// - '503-after': forwards, lets the stand-in act, then answers 503 instead of its answer;
// - 'drop-after': forwards, lets the stand-in act, then closes the connection without an answer.
// Faults are queued per rule and used up in order; every request that passes is counted.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = '503-before' | '429-before' | 'drop-before' | '503-after' | 'drop-after';

interface Rule { method: string; path: RegExp; faults: Fault[] }

export interface FaultProxy {
  /** Base URL to give the client instead of the stand-in's, e.g. http://127.0.0.1:5555/v1 */
  baseUrl: string;
  /** Queue faults for the next requests matching method and path. */
  inject(method: string, path: RegExp, ...faults: Fault[]): void;
  /** Requests seen, with the fault applied (if any). */
  log: Array<{ method: string; url: string; fault?: Fault }>;
  close(): Promise<void>;
}

const EXHAUSTED = JSON.stringify({ error: { code: 429, message: 'Quota exceeded.', status: 'RESOURCE_EXHAUSTED' } });
const UNAVAILABLE = JSON.stringify({ error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } });

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const rules: Rule[] = [];
  const log: FaultProxy['log'] = [];

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: { ...req.headers, connection: 'close' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const rule = rules.find((r) => r.method === req.method && r.path.test(req.url ?? '') && r.faults.length > 0);
    const fault = rule?.faults.shift();
    log.push({ method: req.method ?? '', url: req.url ?? '', fault });
    if (fault === '503-before') return void res.writeHead(503, { 'content-type': 'application/json' }).end(UNAVAILABLE);
    if (fault === '429-before') return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' }).end(EXHAUSTED);
    if (fault === 'drop-before') return void res.socket?.destroy();
    const answer = await forward(req, body);
    if (fault === '503-after') return void res.writeHead(503, { 'content-type': 'application/json' }).end(UNAVAILABLE);
    if (fault === 'drop-after') return void res.socket?.destroy();
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    res.writeHead(answer.status, { ...headers, 'content-length': answer.body.length }).end(answer.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.socket?.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    inject(method, path, ...faults) {
      rules.push({ method, path, faults });
    },
    log,
    close: () => new Promise((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
