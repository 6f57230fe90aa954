// A small local stand-in for the Compute Engine v1 API, enough for the real gcloud to create,
// describe and delete addresses, firewall rules and instances, and to update firewall rules
// (PATCH: the fields sent replace the stored ones, the real API's patch semantics for them).
// Point gcloud at it with CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=<endpoint>. Every request is recorded (method, path,
// parsed JSON body) so tests can assert what gcloud sent. Response shapes follow the real API:
// inserts and deletes return a finished Operation; a missing resource is a 404 error object.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface FakeCompute {
  /** Base URL for CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE (ends with /compute/v1/). */
  endpoint: string;
  requests: RecordedRequest[];
  /** Stored resources by their path below /compute/v1/ (e.g. projects/p/global/firewalls/x). */
  resources: Map<string, Record<string, unknown>>;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const PREFIX = '/compute/v1/';
// Collections an insert may target, with the scope segment that precedes them.
const COLLECTIONS = /^projects\/([^/]+)\/(zones\/[^/]+|regions\/[^/]+|global)\/(addresses|firewalls|instances)$/;

export async function startFakeCompute(options: { address?: string } = {}): Promise<FakeCompute> {
  const staticAddress = options.address ?? '203.0.113.10';
  const requests: RecordedRequest[] = [];
  const resources = new Map<string, Json>();
  let operationCounter = 0;
  let base = '';

  const link = (path: string) => `${base}${path}`;
  const notFound = (res: ServerResponse, path: string) =>
    send(res, 404, {
      error: {
        code: 404,
        message: `The resource '${path}' was not found`,
        errors: [{ message: `The resource '${path}' was not found`, domain: 'global', reason: 'notFound' }],
      },
    });

  function operation(scopePath: string, type: string, targetPath: string): Json {
    operationCounter += 1;
    const name = `operation-${operationCounter}`;
    const opPath = `${scopePath}/operations/${name}`;
    const op: Json = {
      kind: 'compute#operation',
      id: String(1000 + operationCounter),
      name,
      operationType: type,
      targetLink: link(targetPath),
      targetId: String(5000 + operationCounter),
      status: 'DONE',
      progress: 100,
      insertTime: new Date().toISOString(),
      startTime: new Date().toISOString(),
      endTime: new Date().toISOString(),
      selfLink: link(opPath),
    };
    const scope = scopePath.split('/').slice(2);
    if (scope[0] === 'zones') op.zone = link(scopePath.split('/').slice(0, 4).join('/'));
    if (scope[0] === 'regions') op.region = link(scopePath.split('/').slice(0, 4).join('/'));
    resources.set(opPath, op);
    return op;
  }

  function created(collection: string, scopePath: string, body: Json, path: string): Json {
    const name = String(body.name);
    const common = { ...body, id: String(7000 + resources.size), creationTimestamp: new Date().toISOString(), selfLink: link(path) };
    if (collection === 'addresses') {
      return { kind: 'compute#address', ...common, address: body.address ?? staticAddress, status: 'RESERVED',
        addressType: body.addressType ?? 'EXTERNAL', networkTier: body.networkTier ?? 'PREMIUM', region: link(scopePath) };
    }
    if (collection === 'firewalls') {
      return { kind: 'compute#firewall', ...common, network: body.network ?? link(`${scopePath.split('/').slice(0, 2).join('/')}/global/networks/default`),
        direction: body.direction ?? 'INGRESS', priority: body.priority ?? 1000, disabled: false };
    }
    // Instances: echo the request with the fields the API fills in.
    const interfaces = (body.networkInterfaces as Json[] | undefined) ?? [];
    return {
      kind: 'compute#instance', ...common, status: 'RUNNING', zone: link(scopePath),
      networkInterfaces: interfaces.map((nic, i) => ({ ...nic, name: `nic${i}`, networkIP: `10.128.0.${2 + i}`,
        accessConfigs: ((nic.accessConfigs as Json[] | undefined) ?? []).map((ac) => ({ ...ac, natIP: ac.natIP ?? staticAddress })) })),
      name,
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname, body });
    if (!url.pathname.startsWith(PREFIX)) return notFound(res, url.pathname);
    const path = url.pathname.slice(PREFIX.length);

    // Operation wait/get: every operation is already DONE.
    const opWait = path.match(/^(.*\/operations\/[^/]+?)(\/wait)?$/);
    if (opWait?.[1] && (method === 'GET' || (method === 'POST' && opWait[2]))) {
      const op = resources.get(opWait[1]);
      return op ? send(res, 200, op) : notFound(res, opWait[1]);
    }

    const insert = path.match(COLLECTIONS);
    if (insert && method === 'POST') {
      const [, , scope, collection] = insert;
      const json = (body ?? {}) as Json;
      if (typeof json.name !== 'string') return send(res, 400, { error: { code: 400, message: 'Invalid value for field name' } });
      const target = `${path}/${json.name}`;
      if (resources.has(target)) {
        return send(res, 409, { error: { code: 409, message: `The resource '${target}' already exists`, errors: [{ reason: 'alreadyExists' }] } });
      }
      const scopePath = scope === 'global' ? `projects/${insert[1]}/global` : `projects/${insert[1]}/${scope}`;
      resources.set(target, created(collection!, scopePath, json, target));
      return send(res, 200, operation(scopePath, 'insert', target));
    }

    const item = path.match(/^(projects\/[^/]+\/(?:zones\/[^/]+|regions\/[^/]+|global))\/(addresses|firewalls|instances)\/([^/]+)$/);
    if (item && method === 'DELETE') {
      if (!resources.delete(path)) return notFound(res, path);
      return send(res, 200, operation(item[1]!, 'delete', path));
    }
    if (item && method === 'PATCH' && item[2] === 'firewalls') {
      const stored = resources.get(path);
      if (!stored) return notFound(res, path);
      resources.set(path, { ...stored, ...((body ?? {}) as Json) });
      return send(res, 200, operation(item[1]!, 'patch', path));
    }
    if (method === 'GET') {
      const stored = resources.get(path);
      if (stored) return send(res, 200, stored);
      const zone = path.match(/^projects\/([^/]+)\/zones\/(([a-z]+-[a-z]+\d+)-[a-z])$/);
      if (zone) {
        return send(res, 200, { kind: 'compute#zone', name: zone[2], status: 'UP', region: link(`projects/${zone[1]}/regions/${zone[3]}`), selfLink: link(path) });
      }
      const region = path.match(/^projects\/([^/]+)\/regions\/([a-z]+-[a-z]+\d+)$/);
      if (region) return send(res, 200, { kind: 'compute#region', name: region[2], status: 'UP', selfLink: link(path) });
      const project = path.match(/^projects\/([^/]+)$/);
      if (project) {
        return send(res, 200, { kind: 'compute#project', name: project[1], id: '123456789', commonInstanceMetadata: { kind: 'compute#metadata', items: [] }, selfLink: link(path) });
      }
    }
    return notFound(res, path);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: { code: 500, message: String(error) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}${PREFIX}`;
  return {
    endpoint: base,
    requests,
    resources,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
