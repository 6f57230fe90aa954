// The API on the TLS port: GET / (the tutorial's greeting), GET /whoami, GET /openapi.json.
// Bodies and headers are built once at start; a request only picks one.
import { prepareJson, type Prepared, type RequestInfo } from './http1.ts';
import type { ClientIdentity, Identifier } from './identity.ts';
import { openapi } from './openapi.ts';

export const GREETING = 'Hello, secure world with mTLS!';

const ALLOW = 'GET, HEAD';
const prepared = {
  hello: prepareJson(200, { message: GREETING }),
  openapi: prepareJson(200, openapi),
  notFound: prepareJson(404, { error: 'not found' }),
  methodNotAllowed: prepareJson(405, { error: 'method not allowed', allow: ALLOW }, { allow: ALLOW }),
};

const ROUTES = new Set(['/', '/whoami', '/openapi.json']);

/** Picks the answer for one request. */
export function answer(request: RequestInfo, who: ClientIdentity, identifier: Identifier): Prepared {
  if (!who.verdict.ok) {
    const { status, error, reason } = who.verdict;
    return prepareJson(status, reason ? { error, reason } : { error });
  }
  const url = request.target;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!ROUTES.has(path)) return prepared.notFound;
  if (request.method !== 'GET' && request.method !== 'HEAD') return prepared.methodNotAllowed;
  if (path === '/') return prepared.hello;
  if (path === '/openapi.json') return prepared.openapi;
  return whoami(identifier, who);
}

function whoami(identifier: Identifier, who: ClientIdentity): Prepared {
  // Built once per certificate, like the body it wraps.
  const body = identifier.whoami(who);
  let p = whoamiAnswers.get(body);
  if (!p) {
    p = { status: 200, body, head: `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` };
    whoamiAnswers.set(body, p);
  }
  return p;
}

const whoamiAnswers = new WeakMap<Buffer, Prepared>();
