// The API on the TLS port: GET / (the tutorial's greeting), GET /whoami, GET /openapi.json.
// Bodies and headers are built once at start; a request only picks one and writes it.
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import type { ClientIdentity, Identifier } from './identity.ts';
import { openapi } from './openapi.ts';

export const GREETING = 'Hello, secure world with mTLS!';

interface Prepared {
  status: number;
  body: Buffer;
  headers: OutgoingHttpHeaders;
}

function json(status: number, value: unknown, extra: OutgoingHttpHeaders = {}): Prepared {
  const body = Buffer.from(JSON.stringify(value));
  return { status, body, headers: { 'content-type': 'application/json', 'content-length': body.length, ...extra } };
}

const ALLOW = 'GET, HEAD';
const prepared = {
  hello: json(200, { message: GREETING }),
  openapi: json(200, openapi),
  notFound: json(404, { error: 'not found' }),
  methodNotAllowed: json(405, { error: 'method not allowed', allow: ALLOW }, { allow: ALLOW }),
};

const ROUTES = new Set(['/', '/whoami', '/openapi.json']);

/** The same response with "connection: close", for answers sent while the server drains. */
function closing(p: Prepared): Prepared {
  return { ...p, headers: { ...p.headers, connection: 'close' } };
}

/** Picks and sends the response for one request; returns the status for the log line. */
export function answer(req: IncomingMessage, res: ServerResponse, who: ClientIdentity, identifier: Identifier, draining: boolean): number {
  let p: Prepared;
  if (!who.verdict.ok) {
    const { status, error, reason } = who.verdict;
    p = json(status, reason ? { error, reason } : { error });
  } else {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!ROUTES.has(path)) p = prepared.notFound;
    else if (req.method !== 'GET' && req.method !== 'HEAD') p = prepared.methodNotAllowed;
    else if (path === '/') p = prepared.hello;
    else if (path === '/openapi.json') p = prepared.openapi;
    else p = whoami(identifier.whoami(who));
  }
  if (draining) p = closing(p);
  res.writeHead(p.status, p.headers);
  res.end(p.body);
  return p.status;
}

function whoami(body: Buffer): Prepared {
  return { status: 200, body, headers: { 'content-type': 'application/json', 'content-length': body.length } };
}
